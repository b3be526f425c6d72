"""A dismissible line above the composer for what a command could not do (or a short confirmation)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

INFO_SHOWN_MS = 8000  # a confirmation goes away by itself; a problem stays until dismissed


class NoticeBar(QFrame):
    """In the pane rather than a dialog: a refused command should not interrupt typing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatNotice")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self._info_timer = QTimer(self)
        self._info_timer.setSingleShot(True)
        self._info_timer.setInterval(INFO_SHOWN_MS)
        self._info_timer.timeout.connect(self._expire_info)
        self.hide()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""

    def show_problem(self, message: str) -> None:
        self._show(message, "problem")

    def show_info(self, message: str) -> None:
        self._show(message, "info")
        self._info_timer.start()

    def dismiss(self) -> None:
        self.kind = ""
        self.hide()

    def _expire_info(self) -> None:
        if self.kind == "info":
            self.dismiss()

    def _show(self, message: str, kind: str) -> None:
        self._info_timer.stop()
        self.kind = kind
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(message)
        self.show()
