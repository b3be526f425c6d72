"""An editable model picker: offers every saved "provider/model" and accepts any typed reference."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget


class ModelCombo(QComboBox):
    """The first item is the "unset" choice (``value()`` None); typed text that matches no item is kept as typed."""

    value_changed = Signal()

    def __init__(self, unset_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.unset_label = unset_label
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(22)
        self.lineEdit().setPlaceholderText("provider/model")
        self.addItem(unset_label)
        self.currentTextChanged.connect(lambda _text: self.value_changed.emit())

    def value(self) -> str | None:
        text = self.currentText().strip()
        return None if not text or text == self.unset_label else text

    def set_value(self, ref: str | None) -> None:
        index = self.findText(ref or self.unset_label)
        if index >= 0:
            self.setCurrentIndex(index)
        self.setEditText(ref or self.unset_label)

    def set_choices(self, refs: list[str]) -> None:
        """Replace the offered refs, keeping the current value (a typed one too) and emitting nothing."""
        text = self.currentText()
        self.blockSignals(True)
        try:
            self.clear()
            self.addItem(self.unset_label)
            self.addItems(refs)
            index = self.findText(text)
            if index >= 0:
                self.setCurrentIndex(index)
            self.setEditText(text)
        finally:
            self.blockSignals(False)

    def choices(self) -> list[str]:
        return [self.itemText(i) for i in range(1, self.count())]
