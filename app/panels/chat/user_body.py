"""A message the user wrote: shown as typed (plain text), editable in place for "Edit and resend"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class UserBody(QWidget):
    resend_requested = Signal(str)  # the edited text

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.label = QLabel(text)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.editor = QPlainTextEdit()
        self.editor.setMaximumHeight(160)
        self.resend_button = QPushButton("Send edited message")
        self.resend_button.setToolTip("Replace this message and everything after it, and answer it again")
        self.resend_button.setDefault(True)
        self.resend_button.clicked.connect(self._resend)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_edit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resend_button)
        self.edit_area = QWidget()
        edit_layout = QVBoxLayout(self.edit_area)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(self.editor)
        edit_layout.addLayout(buttons)
        self.edit_area.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.edit_area)

    @property
    def editing(self) -> bool:
        return not self.edit_area.isHidden()

    def start_edit(self) -> None:
        self.editor.setPlainText(self.text)
        self.label.hide()
        self.edit_area.show()
        self.editor.setFocus()

    def cancel_edit(self) -> None:
        self.edit_area.hide()
        self.label.show()

    def _resend(self) -> None:
        text = self.editor.toPlainText()
        if text.strip():
            self.resend_requested.emit(text)
