"""One message in the conversation view: who wrote it, its text, its actions, and for answers their facts.

An answer that asked for tools shows one card per call under its text; the tool rows that answered
them are shown inside those cards, never as messages of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.panels.chat import message_format
from app.panels.chat.answer_body import AnswerBody
from app.panels.chat.live_turn import LiveTurn
from app.panels.chat.markdown_render import MarkdownRenderer
from app.panels.chat.tool_card import ToolCard
from app.panels.chat.tool_cards import ToolCardList
from app.panels.chat.tool_run import ToolRun
from app.panels.chat.user_body import UserBody
from nexus_core.chat.conversations import StoredMessage
from nexus_core.providers.types import ToolCall

if TYPE_CHECKING:
    from app.panels.chat.render_pump import RenderPump

ROLE_NAMES = {"user": "You", "assistant": "Assistant", "tool": "Tool result", "system": "System"}


# The lines under a message, in display order, with their style names; each is made when first needed.
INFO_LINES = {"status": "chatIncomplete", "error": "chatError", "notices": "muted",
              "footer": "chatFooter"}


class MessageWidget(QFrame):
    """Answers draw through the view's render pump, so a streaming one costs a few renders a second."""

    regenerate_requested = Signal()
    resend_requested = Signal(str, str)  # message id, edited text
    speak_requested = Signal(str)  # message id: read this answer aloud (or stop reading it)

    def __init__(self, message: StoredMessage, renderer: MarkdownRenderer, parent: QWidget | None = None, *,
                 results: dict[str, StoredMessage] | None = None, choices: dict[str, bool] | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self._results = results if results is not None else {}  # call id → the tool row that answered it
        self._unsaved: dict[str, ToolRun] = {}  # runs seen live whose results the store never got (stopped)
        self.message_id = message.id
        self.role = message.role
        self.pump: RenderPump | None = None  # set by the view that shows it
        self._live: LiveTurn | None = None
        self.setObjectName("chatUser" if self.role == "user" else "chatAnswer")

        self.role_label = QLabel(ROLE_NAMES.get(self.role, self.role))
        self.role_label.setObjectName("chatRole")
        self.edit_button = self._tool_button("Edit", "Change this message and answer it again")
        self.copy_button = self._tool_button("Copy", "Copy the whole message (as Markdown)")
        self.regenerate_button = self._tool_button("Regenerate", "Answer the last message again")
        self.speak_button = self._tool_button("Read aloud", "Read this answer aloud (again to stop)")
        self.speak_button.clicked.connect(lambda: self.speak_requested.emit(self.message_id))
        self.speak_button.setVisible(self.role == "assistant")
        self.copy_button.clicked.connect(self.copy_message)
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        self.edit_button.setVisible(self.role == "user")
        self.regenerate_button.hide()
        header = QHBoxLayout()
        header.addWidget(self.role_label)
        header.addStretch(1)
        for button in (self.edit_button, self.regenerate_button, self.speak_button, self.copy_button):
            header.addWidget(button)

        self.user_body: UserBody | None = None
        self.answer_body: AnswerBody | None = None
        self.tool_cards: ToolCardList | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(12, 8, 12, 8)
        self._layout.setSpacing(4)
        self._layout.addLayout(header)
        if self.role == "assistant":
            self.answer_body = AnswerBody(renderer, self._render_source)
            self._layout.addWidget(self.answer_body)
            self.tool_cards = ToolCardList(choices if choices is not None else {})
            self._layout.addWidget(self.tool_cards)
        else:
            self.user_body = UserBody(message.content, attachments=message.meta.get("attachments"))
            self.user_body.resend_requested.connect(lambda text: self.resend_requested.emit(self.message_id, text))
            self.edit_button.clicked.connect(self.user_body.start_edit)
            self._layout.addWidget(self.user_body)
        self._info: dict[str, QLabel] = {}
        self._show_facts()
        self._show_tools()

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    # ---- reading (what the tests and the copy actions use) -----------------------------------------

    @property
    def seq(self) -> int:
        return self.message.seq

    @property
    def is_live(self) -> bool:
        return self._live is not None

    @property
    def status(self) -> str:
        return "streaming" if self._live is not None else self.message.status

    def plain_text(self) -> str:
        """The message as written (Markdown source for answers), including what has streamed so far."""
        return self._live.text if self._live is not None else self.message.content

    def rendered_text(self) -> str:
        if self.answer_body is not None:
            return self.answer_body.rendered_text()
        return self.message.content

    def code_blocks(self) -> list[str]:
        return self.answer_body.code_blocks() if self.answer_body is not None else []

    def copy_code(self, index: int) -> None:
        if self.answer_body is not None:
            self.answer_body.copy_code(index)

    def cards(self) -> list[ToolCard]:
        return self.tool_cards.cards() if self.tool_cards is not None else []

    def copy_message(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())

    def info_text(self, line: str) -> str:
        """The text of one line under the message (see INFO_LINES); empty when it is not shown."""
        label = self._info.get(line)
        return label.text() if label is not None and not label.isHidden() else ""

    def footer_text(self) -> str:
        return self.info_text("footer")

    def status_text(self) -> str:
        return self.info_text("status")

    def error_text(self) -> str:
        return self.info_text("error")

    def notices_text(self) -> str:
        return self.info_text("notices")

    # ---- changes -----------------------------------------------------------------------------------

    def bind_live(self, live: LiveTurn) -> None:
        """Show the streaming answer from the live buffer (the store lags behind it)."""
        self._live = live
        self.live_changed()

    def live_changed(self) -> None:
        self._show_facts()
        self._show_tools()
        self.request_render()

    def finish(self, message: StoredMessage) -> None:
        """The answer ended: show what the store kept, with its facts and status."""
        if self._live is not None:  # stopped mid-round: these calls' results were never stored
            self._unsaved = {call_id: run.stopped() for call_id, run in self._live.tools.items()}
        self.message = message
        self._live = None
        self._show_facts()
        self._show_tools()
        self.request_render(soon=True)

    def request_render(self, *, soon: bool = False) -> None:
        if self.pump is not None and self.answer_body is not None:
            self.pump.request(self.answer_body, soon=soon)

    def set_actions(self, *, last_answer: bool, idle: bool) -> None:
        self.regenerate_button.setVisible(self.role == "assistant" and last_answer and idle)
        self.edit_button.setEnabled(idle)
        if self.user_body is not None:
            self.user_body.resend_button.setEnabled(idle)

    def _render_source(self) -> tuple[str, bool]:
        final = self._live is None and self.message.status != "streaming"
        return self.plain_text(), final

    def _show_facts(self) -> None:
        message, live = self.message, self._live
        if self.role != "assistant":
            return
        notices = live.notices if live is not None else message.meta.get("notices") or []
        if live is not None:
            footer = message_format.live_footer(live)
        elif message.status == "streaming":
            footer = "Being written…"
        else:
            footer = message_format.footer(message.meta)
        status = "" if live is not None else message.status
        self.copy_button.setVisible(live is not None or bool(message.content))
        self.speak_button.setVisible(live is None and bool(message.content))
        self._set_info("status", message_format.incomplete(message.error) if status == "partial" else "")
        self._set_info("error", (message.error or "No answer.") if status == "error" else "")
        self._set_info("notices", "\n".join(str(n) for n in notices))
        self._set_info("footer", footer)

    def _set_info(self, line: str, text: str) -> None:
        label = self._info.get(line)
        if label is None:
            if not text:
                return
            label = self._info[line] = QLabel()
            label.setObjectName(INFO_LINES[line])
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            before = [name for name in INFO_LINES if name in self._info and name != line]
            position = list(INFO_LINES).index(line)
            first = self._layout.indexOf(self.tool_cards) + 1  # the lines go under the text and the tool cards
            index = first + sum(1 for name in before if list(INFO_LINES).index(name) < position)
            self._layout.insertWidget(index, label)
        label.setText(text)
        label.setVisible(bool(text))

    def _show_tools(self) -> None:
        if self.tool_cards is None:
            return
        if self._live is not None:
            self.tool_cards.show_runs(list(self._live.tools.values()))
        else:
            # Calls that never ran (the turn was stopped) are kept in the answer's meta; they show as "stopped".
            unrun = [ToolCall(**c) for c in self.message.meta.get("unrun_tool_calls", [])]
            self.tool_cards.show_runs([self._stored_run(call) for call in [*self.message.tool_calls, *unrun]])

    def _stored_run(self, call: ToolCall) -> ToolRun:
        row = self._results.get(call.id)
        if row is None and call.id in self._unsaved:
            return self._unsaved[call.id]
        return ToolRun.stored(call, row)
