"""A read-only table whose rows are found by a key (stored in one column's UserRole), so a redraw keeps the
selection: the shape of every list in the app (providers, models, modules)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QWidget

KEY_ROLE = Qt.ItemDataRole.UserRole


class KeyedTable(QTableWidget):
    def __init__(self, columns: list[str], key_column: int, parent: QWidget | None = None) -> None:
        super().__init__(0, len(columns), parent)
        self.key_column = key_column
        self.setHorizontalHeaderLabels(columns)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)

    def key_of(self, row: int) -> Any:
        item = self.item(row, self.key_column)
        return item.data(KEY_ROLE) if item is not None else None

    def row_of(self, key: Any) -> int | None:
        return next((row for row in range(self.rowCount()) if self.key_of(row) == key), None)

    def selected_key(self) -> Any:
        rows = self.selectionModel().selectedRows()
        return self.key_of(rows[0].row()) if rows else None

    def select(self, key: Any) -> bool:
        row = self.row_of(key)
        if row is not None:
            self.selectRow(row)
        return row is not None

    def reselect(self, key: Any) -> None:
        """After a redraw: the previous selection if it is still there, else the first row."""
        if (key is None or not self.select(key)) and self.rowCount():
            self.selectRow(0)
