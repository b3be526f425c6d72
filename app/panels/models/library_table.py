"""The table of models found on disk: one row per folder, sortable, filtered by text and category."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTableWidgetItem, QWidget

from app.widgets.keyed_table import KEY_ROLE, KeyedTable
from nexus_core.models.library import LibraryEntry
from nexus_core.models.loader import LoadedModel
from nexus_core.units import human_count, human_size

COLUMNS = ["Name", "Category", "Architecture", "Parameters", "Size", "Dtype", "Supported", "Loaded"]
NAME, CATEGORY, ARCH, PARAMS, SIZE, DTYPE, SUPPORTED, LOADED = range(len(COLUMNS))
PATH_ROLE = KEY_ROLE
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class _Item(QTableWidgetItem):
    """Sorts by the number stored under SORT_ROLE when there is one (so 900M sorts before 7B)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is not None and theirs is not None:
            return mine < theirs
        return self.text().lower() < other.text().lower()  # super().__lt__ recurses into this method in PySide6


class LibraryTable(KeyedTable):
    """Rows keyed by folder path (as text), so a refresh keeps the selection."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(COLUMNS, NAME, parent)
        self.setSortingEnabled(True)
        self.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.setAlternatingRowColors(True)

    def show_entries(self, entries: list[LibraryEntry], loaded: dict[Path, LoadedModel],
                     loading: dict[Path, str]) -> None:
        """Redraw; ``loaded`` and ``loading`` are keyed by resolved folder path."""
        selected = self.selected_path()
        self.setSortingEnabled(False)
        self.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            info, support = entry.info, entry.support
            key = info.path.resolve()
            model = loaded.get(key)
            state = f"{model.device} · {human_size(model.memory_bytes)}" if model else loading.get(key, "")
            cells = [
                (info.name, str(info.path), None), (info.category, "", None),
                (info.architecture or "—", info.model_type or "", None),
                (human_count(info.parameters) if info.parameters else "—", f"{info.parameters:,}", info.parameters),
                (human_size(info.size_bytes), f"{info.size_bytes:,} bytes", info.size_bytes),
                (info.dtype or "—", "", None),
                ("Yes" if support.supported else "No", support.reason, None),
                (state, "\n".join(model.notes) if model else "", None),
            ]
            for column, (text, tip, sort_key) in enumerate(cells):
                item = _Item(text)
                item.setToolTip(tip)
                if sort_key is not None:
                    item.setData(SORT_ROLE, sort_key)
                if column == NAME:
                    item.setData(PATH_ROLE, str(info.path))
                if column == SUPPORTED and not support.supported:
                    item.setForeground(QColor("#c0392b"))
                self.setItem(row, column, item)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        self.setColumnWidth(NAME, min(max(self.columnWidth(NAME), 180), 360))
        self.horizontalHeader().setStretchLastSection(True)
        self.reselect(str(selected) if selected is not None else None)

    def apply_filter(self, text: str, category: str | None) -> None:
        needle = text.strip().lower()
        for row in range(self.rowCount()):
            name = self.item(row, NAME).text().lower()
            arch = self.item(row, ARCH).text().lower()
            matches = (not needle or needle in name or needle in arch) and (
                category is None or self.item(row, CATEGORY).text() == category)
            self.setRowHidden(row, not matches)

    def visible_rows(self) -> int:
        return sum(not self.isRowHidden(r) for r in range(self.rowCount()))

    def selected_path(self) -> Path | None:
        key = self.selected_key()
        return Path(key) if key is not None else None

    def select(self, key: Path | str) -> bool:  # type: ignore[override]
        return super().select(str(key))
