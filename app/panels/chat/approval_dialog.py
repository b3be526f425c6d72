"""Asks the user before a risky tool runs: what it is, what it will do, with which arguments.

Non-blocking (shown with ``open()``): the answer keeps streaming in other conversations meanwhile.
Closing the dialog any way but the two allow buttons means no.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.panels.chat import tool_format
from nexus_core.chat.service import PendingApproval

ARGUMENTS_MAX_HEIGHT = 260


class ApprovalDialog(QDialog):
    decided = Signal(object, str)  # the PendingApproval, "once" | "always" | "deny"

    def __init__(self, pending: PendingApproval, conversation_title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pending = pending
        self.decision: str | None = None
        request = pending.request
        self.setWindowTitle(f"Allow {request.tool}?")
        self.setMinimumWidth(480)
        heading = _label(f"The assistant wants to run the tool “{request.tool}”.")
        heading.setObjectName("approvalHeading")
        where = _label(f"In the conversation “{conversation_title}”." if conversation_title else "")
        where.setObjectName("muted")
        where.setVisible(bool(conversation_title))
        self.description_label = _label(request.description)
        self.isolation_label = _label(request.isolation)
        self.isolation_label.setObjectName("approvalIsolation")
        self.isolation_label.setVisible(bool(request.isolation))
        self.command_label = _label(tool_format.prominent(request.arguments))
        self.command_label.setObjectName("approvalCommand")
        self.command_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.command_label.setVisible(bool(self.command_label.text()))
        self.arguments_view = QPlainTextEdit(tool_format.pretty_value(request.arguments))
        self.arguments_view.setReadOnly(True)
        self.arguments_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        lines = self.arguments_view.toPlainText().count("\n") + 2
        self.arguments_view.setFixedHeight(min(ARGUMENTS_MAX_HEIGHT,
                                               lines * self.arguments_view.fontMetrics().lineSpacing() + 12))

        self.allow_once_button = QPushButton("Allow once")
        self.always_button = QPushButton(f"Always allow {request.tool} in this conversation")
        self.deny_button = QPushButton("Deny")
        self.allow_once_button.setToolTip("Run it this time; ask again next time")
        self.always_button.setToolTip(f"Run {request.tool} without asking for the rest of this conversation")
        self.deny_button.setToolTip("Do not run it; the assistant is told you said no")
        self.deny_button.setDefault(True)  # Enter never runs something by accident
        self.allow_once_button.clicked.connect(lambda: self._choose("once"))
        self.always_button.clicked.connect(lambda: self._choose("always"))
        self.deny_button.clicked.connect(lambda: self._choose("deny"))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.allow_once_button, self.always_button, self.deny_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        for widget in (heading, where, self.description_label, self.isolation_label, self.command_label,
                       _label("Arguments:"),
                       self.arguments_view):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.finished.connect(self._closed)

    @property
    def conversation_id(self) -> str | None:
        return self.pending.request.conversation_id

    def arguments_text(self) -> str:
        return self.arguments_view.toPlainText()

    def _choose(self, decision: str) -> None:
        self.decision = decision
        if decision == "deny":
            self.reject()
        else:
            self.accept()

    def _closed(self, _result: int) -> None:
        self.decision = self.decision or "deny"
        self.decided.emit(self.pending, self.decision)


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
