"""Where the user types: Enter sends, Shift+Enter starts a new line; Send turns into Stop while answering."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

MAX_LINES = 8


class ComposerEdit(QPlainTextEdit):
    """Enter is taken here (not by a shortcut) so Shift+Enter can still start a new line."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Message…  (Enter sends, Shift+Enter starts a new line)")
        self.setTabChangesFocus(True)
        self.setAccessibleName("Message")
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        plain_enter = (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                       and not event.modifiers() & (Qt.KeyboardModifier.ShiftModifier
                                                    | Qt.KeyboardModifier.ControlModifier
                                                    | Qt.KeyboardModifier.AltModifier))
        if plain_enter:
            event.accept()
            self.submitted.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.insertPlainText("\n")  # Shift+Enter (and Ctrl/Alt+Enter): a line break, never a send
            event.accept()
            return
        super().keyPressEvent(event)

    def _fit_height(self) -> None:
        """Grow with the text up to MAX_LINES lines, then scroll."""
        line = self.fontMetrics().lineSpacing()
        lines = max(2, min(MAX_LINES, self.document().blockCount()))
        margins = self.contentsMargins()
        frame = int(self.document().documentMargin() * 2) + margins.top() + margins.bottom()
        self.setFixedHeight(lines * line + frame + 4)


class Composer(QWidget):
    """The input and its Send/Stop button; it never talks to the core itself (the pane does)."""

    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = ComposerEdit()
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send the message (Enter)")
        self.send_button.clicked.connect(self._on_button)
        self.edit.submitted.connect(self._on_submitted)
        self.busy = False
        buttons = QVBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 6, 16, 12)
        layout.addWidget(self.edit, 1)
        layout.addLayout(buttons)

    def set_busy(self, busy: bool, *, stopping: bool = False) -> None:
        """While the shown conversation is answering the button stops it; sending waits for the end."""
        self.busy = busy
        self.send_button.setText("Stop" if busy else "Send")
        self.send_button.setToolTip("Stop the answer; what was written so far is kept" if busy
                                    else "Send the message (Enter)")
        self.send_button.setEnabled(not (busy and stopping))

    def clear(self) -> None:
        self.edit.clear()

    def _on_button(self) -> None:
        if self.busy:
            self.stop_requested.emit()
        else:
            self._on_submitted()

    def _on_submitted(self) -> None:
        text = self.edit.toPlainText()
        if self.busy or not text.strip():
            return
        self.send_requested.emit(text)
