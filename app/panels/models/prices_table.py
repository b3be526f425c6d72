"""Prices ($ per million tokens, input and output) for the model refs the assignment uses."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableWidget, QTableWidgetItem, QWidget

from app.panels.models.assignment_rows import fit_height
from nexus_core.routing.table import Price


class PricesTable(QTableWidget):
    """One row per ref; rows follow the refs in use while keeping whatever was typed for each ref."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["Model", "$ / M input tokens", "$ / M output tokens"])
        self.verticalHeader().setVisible(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.refs: list[str] = []
        self._edits: dict[str, tuple[QLineEdit, QLineEdit]] = {}
        fit_height(self)

    def set_prices(self, prices: Mapping[str, Price], refs: list[str]) -> None:
        """Show ``refs`` plus every priced ref, filled from ``prices``."""
        texts = {ref: (f"{p.input_per_mtok:g}", f"{p.output_per_mtok:g}") for ref, p in prices.items()}
        self._rebuild([*refs, *(r for r in prices if r not in refs)], texts)

    def follow_refs(self, refs: list[str]) -> None:
        """Rows for ``refs``, keeping rows that already have a price typed in."""
        current = self.texts()
        wanted = [*refs, *(r for r, t in current.items() if any(t) and r not in refs)]
        if wanted != self.refs:
            self._rebuild(wanted, current)

    def texts(self) -> dict[str, tuple[str, str]]:
        return {ref: (inp.text(), out.text()) for ref, (inp, out) in self._edits.items()}

    def edits(self, ref: str) -> tuple[QLineEdit, QLineEdit]:
        return self._edits[ref]

    def _rebuild(self, refs: list[str], texts: Mapping[str, tuple[str, str]]) -> None:
        self.refs = list(refs)
        self._edits = {}
        self.setRowCount(len(refs))
        for row, ref in enumerate(refs):
            self.setItem(row, 0, QTableWidgetItem(ref))
            pair = []
            for column, text in enumerate(texts.get(ref, ("", "")), start=1):
                edit = QLineEdit(text)
                edit.setPlaceholderText("not priced")
                edit.setToolTip(f"US dollars per million {'input' if column == 1 else 'output'} tokens of {ref}, "
                                "for cost estimates (empty: not priced)")
                edit.textChanged.connect(self.edited)
                self.setCellWidget(row, column, edit)
                pair.append(edit)
            self._edits[ref] = (pair[0], pair[1])
        self.resizeRowsToContents()
        fit_height(self)
