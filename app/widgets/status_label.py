"""A one-line (or few-line) message under a view: muted for progress and results, a banner for errors."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


class StatusLabel(QLabel):
    """``is_error`` tells tests and styling apart without reading colours."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.is_error = False
        self.setVisible(False)

    def show_info(self, message: str) -> None:
        self._show(message, error=False)

    def show_error(self, message: str) -> None:
        self._show(message, error=True)

    def clear_message(self) -> None:
        self.clear()
        self.setVisible(False)

    def _show(self, message: str, *, error: bool) -> None:
        self.is_error = error
        self.setObjectName("banner" if error else "muted")
        self.style().unpolish(self)
        self.style().polish(self)
        self.setText(message)
        self.setVisible(True)
