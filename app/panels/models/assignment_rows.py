"""One assignment table (tiers, or task types): a label, an editable model picker and a fallbacks list per row."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableWidget, QTableWidgetItem, QWidget

from app.panels.models.model_combo import ModelCombo
from app.panels.models.table_form import RowInput
from nexus_core.routing.table import Assignment


def fit_height(table: QTableWidget) -> None:
    """Show every row without an inner scroll bar (the tab scrolls as a whole)."""
    height = table.horizontalHeader().height() + 2 * table.frameWidth()
    height += sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(height + 2)


class AssignmentRows(QTableWidget):
    """Rows keyed by a Tier or TaskType value; ``edited`` fires on any change the person makes."""

    edited = Signal()

    def __init__(self, rows: list[tuple[str, str, str]], first_header: str, unset_label: str,
                 parent: QWidget | None = None) -> None:
        """``rows``: (key, label shown, label used in error messages)."""
        super().__init__(len(rows), 3, parent)
        self.setHorizontalHeaderLabels([first_header, "Model", "Fallbacks (tried in order, comma-separated)"])
        self.verticalHeader().setVisible(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.combos: dict[str, ModelCombo] = {}
        self.fallback_edits: dict[str, QLineEdit] = {}
        self._error_labels: dict[str, str] = {}
        for row, (key, label, error_label) in enumerate(rows):
            item = QTableWidgetItem(label)
            item.setToolTip(key)
            self.setItem(row, 0, item)
            combo = ModelCombo(unset_label)
            combo.setToolTip(f"The model for the {first_header.lower()} “{label}”: pick a saved one or type "
                             "provider/model")
            combo.value_changed.connect(self.edited)
            edit = QLineEdit()
            edit.setPlaceholderText("provider/model, provider/model")
            edit.setToolTip(f"Models tried in order when the {first_header.lower()} “{label}” model fails "
                            "(comma-separated)")
            edit.textChanged.connect(self.edited)
            self.setCellWidget(row, 1, combo)
            self.setCellWidget(row, 2, edit)
            self.combos[key] = combo
            self.fallback_edits[key] = edit
            self._error_labels[key] = error_label
        self.resizeRowsToContents()
        self.setColumnWidth(1, 280)
        fit_height(self)

    def set_assignments(self, assignments: Mapping[str, Assignment]) -> None:
        for key, combo in self.combos.items():
            assignment = assignments.get(key, Assignment())
            combo.set_value(assignment.model)
            self.fallback_edits[key].setText(", ".join(assignment.fallbacks))

    def set_choices(self, refs: list[str]) -> None:
        for combo in self.combos.values():
            combo.set_choices(refs)

    def inputs(self) -> list[RowInput]:
        return [RowInput(key, self._error_labels[key], combo.value(), self.fallback_edits[key].text())
                for key, combo in self.combos.items()]
