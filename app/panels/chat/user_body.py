"""A message the user wrote: shown as typed (plain text), editable in place for "Edit and resend"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class UserBody(QWidget):
    resend_requested = Signal(str)  # the edited text

    def __init__(self, text: str, parent: QWidget | None = None, attachments: list[str] | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.label = QLabel(text)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.label)
        names = ", ".join(Path(a).name.split("-", 1)[-1] for a in attachments or [])
        self.attachments_label = QLabel(f"Attached: {names}")
        self.attachments_label.setObjectName("muted")
        self.attachments_label.setVisible(bool(attachments))
        self._layout.addWidget(self.attachments_label)
        self.edit_area: QWidget | None = None  # built on first edit: most messages are never edited
        self.editor = QPlainTextEdit()
        self.resend_button = QPushButton("Send edited message")
        self.cancel_button = QPushButton("Cancel")

    @property
    def editing(self) -> bool:
        return self.edit_area is not None and not self.edit_area.isHidden()

    def start_edit(self) -> None:
        if self.edit_area is None:
            self.edit_area = self._build_edit_area()
        self.editor.setPlainText(self.text)
        self.label.hide()
        self.edit_area.show()
        self.editor.setFocus()

    def cancel_edit(self) -> None:
        if self.edit_area is not None:
            self.edit_area.hide()
        self.label.show()

    def _build_edit_area(self) -> QWidget:
        self.editor.setMaximumHeight(160)
        self.editor.setToolTip("Change the message, then send it again: the answers after it are replaced")
        self.resend_button.setToolTip("Replace this message and everything after it, and answer it again")
        self.resend_button.setDefault(True)
        self.resend_button.clicked.connect(self._resend)
        self.cancel_button.setToolTip("Leave the message as it was")
        self.cancel_button.clicked.connect(self.cancel_edit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resend_button)
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor)
        layout.addLayout(buttons)
        self._layout.addWidget(area)
        return area

    def _resend(self) -> None:
        text = self.editor.toPlainText()
        if text.strip():
            self.resend_requested.emit(text)
