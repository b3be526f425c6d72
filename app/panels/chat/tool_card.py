"""One tool call in the conversation: a one-line header (tool, arguments, status), details when opened.

Open while it runs, so the user sees what is being done; closed once it finished, because results can
be long and the answer matters most. What the user opens or closes by hand is remembered (per call id,
shared by the view) so the card keeps that state when the view rebuilds it from the store.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.panels.chat import tool_format
from app.panels.chat.code_text import CodeText
from app.panels.chat.tool_run import OK, RUNNING, ToolRun


class ToolCard(QFrame):
    def __init__(self, run: ToolRun, choices: dict[str, bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolCard")
        self.run = run
        self._choices = choices  # call id → opened (True) or closed (False) by the user
        self._show_all = False
        self.toggle_button = QToolButton()
        self.toggle_button.setObjectName("toolToggle")
        self.toggle_button.setAutoRaise(True)
        self.toggle_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle_button.clicked.connect(self._toggled)
        self.status_label = QLabel()
        self.status_label.setObjectName("toolStatus")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.toggle_button, 1)
        header.addWidget(self.status_label)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 6)
        self._layout.setSpacing(4)
        self._layout.addLayout(header)
        self._body: QWidget | None = None  # built when first opened: most cards never are
        self.update_run(run)

    # ---- reading -----------------------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.run.call_id

    @property
    def state(self) -> str:
        return self.run.state

    @property
    def expanded(self) -> bool:
        return self._body is not None and not self._body.isHidden()

    def header_text(self) -> str:
        return f"{self.toggle_button.text()}  {self.status_label.text()}"

    def status_text(self) -> str:
        return self.status_label.text()

    def arguments_text(self) -> str:
        return self.arguments_view.toPlainText() if self._body is not None else ""

    def result_text(self) -> str:
        """The result as shown (cut short until "Show more"); empty while running or when it failed."""
        return self.result_view.toPlainText() if self._body is not None and not self.result_view.isHidden() else ""

    def error_text(self) -> str:
        return self.error_label.text() if self._body is not None and not self.error_label.isHidden() else ""

    # ---- changes -----------------------------------------------------------------------------------

    def update_run(self, run: ToolRun) -> None:
        self.run = run
        summary = tool_format.summary(run.arguments)
        self.toggle_button.setText(f"{run.name}  {summary}" if summary else run.name)
        self.toggle_button.setToolTip(f"{run.name}({run.arguments})")
        self.status_label.setText(tool_format.status(run))
        self.status_label.setToolTip(run.error_message)
        self.status_label.setProperty("state", run.state)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)
        self.set_expanded(self._choices.get(run.call_id, run.state == RUNNING))

    def set_expanded(self, expanded: bool) -> None:
        self.toggle_button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        if expanded:
            if self._body is None:
                self._body = self._build_body()
            self._fill_body()
            self._body.show()
        elif self._body is not None:
            self._body.hide()

    def _toggled(self) -> None:
        opened = not self.expanded
        self._choices[self.run.call_id] = opened
        self.set_expanded(opened)

    def _toggle_more(self) -> None:
        self._show_all = not self._show_all
        self._fill_body()

    # ---- the details -------------------------------------------------------------------------------

    def _build_body(self) -> QWidget:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(18, 0, 0, 0)
        layout.setSpacing(2)
        self.arguments_view = CodeText()
        self.result_caption = _caption("Result")
        self.result_view = CodeText()
        self.more_button = QToolButton()
        self.more_button.setAutoRaise(True)
        self.more_button.setToolTip("Show the tool's whole result, or only its start again")
        self.more_button.clicked.connect(self._toggle_more)
        self.error_label = QLabel()
        self.error_label.setObjectName("chatError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.approval_label = _caption("")
        for widget in (_caption("Arguments"), self.arguments_view, self.result_caption, self.result_view):
            layout.addWidget(widget)
        layout.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.error_label)
        layout.addWidget(self.approval_label)
        self._layout.addWidget(body)
        return body

    def _fill_body(self) -> None:
        run = self.run
        self.arguments_view.set_text(tool_format.pretty(run.arguments) if run.arguments.strip() else "(none)")
        result = tool_format.pretty(run.content) if run.state == OK else ""
        shown, left_out = tool_format.preview(result)
        if self._show_all:
            shown = result
        self.result_caption.setVisible(run.state == OK)
        self.result_view.setVisible(run.state == OK)
        self.result_view.set_text(shown if result else "(empty)")
        self.more_button.setVisible(left_out > 0)
        self.more_button.setText("Show less" if self._show_all else f"Show more ({left_out:,} more characters)")
        self.error_label.setText(run.error_message)
        self.error_label.setVisible(bool(run.error_message))
        approval = tool_format.APPROVAL_LABELS.get(run.approval or "", "")
        self.approval_label.setText(approval)
        self.approval_label.setVisible(bool(approval))


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("toolCaption")
    return label
