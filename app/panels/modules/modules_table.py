"""The module list: one row per module with its health light, state, version and source."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem, QWidget

from app.widgets.keyed_table import KEY_ROLE, KeyedTable
from nexus_core.modules.service import ModuleStatus

COLUMNS = ["", "Module", "Version", "Source", "State", "Circuit", "Operations"]
LIGHT, NAME, VERSION, SOURCE, STATE, BREAKER, OPERATIONS = range(len(COLUMNS))
HEALTH_COLOURS = {"green": "#2e9d4f", "yellow": "#d4a017", "red": "#c0392b", "grey": "#8a939e"}
STATE_TEXT = {"running": "Running", "stopped": "Stopped", "disabled": "Disabled",
              "needs_credentials": "Needs credentials", "error": "Error"}
HEALTH_TIPS = {"green": "Healthy", "yellow": "Needs attention (credentials, a recent failure, or retrying)",
               "red": "Failing (load error, failed health check, or circuit open)", "grey": "Not running"}


class ModulesTable(KeyedTable):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(COLUMNS, NAME, parent)
        self.setAlternatingRowColors(True)

    def show_statuses(self, statuses: list[ModuleStatus]) -> None:
        selected = self.selected_key()
        self.setRowCount(len(statuses))
        for row, s in enumerate(statuses):
            light = QTableWidgetItem("●")
            light.setForeground(QColor(HEALTH_COLOURS[s.health]))
            light.setToolTip(HEALTH_TIPS[s.health])
            light.setData(Qt.ItemDataRole.UserRole, s.health)
            light.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.setItem(row, LIGHT, light)
            cells = [(s.display_name, s.description), (s.version, ""), (s.source, ""),
                     (STATE_TEXT.get(s.state, s.state), s.last_error or ""), (s.breaker.replace("_", "-"), ""),
                     (str(len(s.operations)) if s.operations else "—", ", ".join(s.operations))]
            for column, (text, tip) in enumerate(cells, start=NAME):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if column == NAME:
                    item.setData(KEY_ROLE, s.name)
                self.setItem(row, column, item)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.reselect(selected)

    def selected_name(self) -> str | None:
        return self.selected_key()

    def health_of(self, name: str) -> str | None:
        row = self.row_of(name)
        return self.item(row, LIGHT).data(Qt.ItemDataRole.UserRole) if row is not None else None
