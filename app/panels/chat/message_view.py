"""The scrolling list of messages of one conversation; it follows a streaming answer only from the bottom.

A long conversation is built newest first: the last messages at once, older ones above them a few at a
time between other events, so opening it never freezes the window. Tool rows are not messages here:
each is shown in the card of the call it answered.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from app.panels.chat.markdown_render import MarkdownRenderer
from app.panels.chat.message_widget import MessageWidget
from app.panels.chat.render_pump import RenderPump
from app.panels.chat.tool_card import ToolCard
from app.panels.chat.tool_run import results_by_message
from nexus_core.chat.conversations import StoredMessage

BOTTOM_SLACK_PX = 24  # this close to the end counts as "at the bottom"
FIRST_BATCH = 12  # messages built at once when a conversation opens (more than a screenful)
OLDER_BUDGET_S = 0.010  # time per event-loop turn spent building older messages


class MessageView(QScrollArea):
    """Owns the message widgets of the shown conversation and the pump that draws them."""

    regenerate_requested = Signal()
    resend_requested = Signal(str, str)  # message id, edited text
    speak_requested = Signal(str)  # message id

    def __init__(self, renderer: MarkdownRenderer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer = renderer
        self.pump = RenderPump(self)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = QWidget()
        self._content.setObjectName("chatMessages")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(16, 12, 16, 12)
        self._layout.setSpacing(10)
        self.empty_label = QLabel()
        self.empty_label.setObjectName("muted")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self.empty_label)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self._widgets: list[MessageWidget] = []
        self._by_id: dict[str, MessageWidget] = {}  # looked up for every streamed token
        self._stick_to_bottom = True
        self._idle = True
        self._older: list[StoredMessage] = []  # not built yet, oldest first
        self._results: dict[str, dict[str, StoredMessage]] = {}  # message id → its calls' tool rows
        self.card_choices: dict[str, bool] = {}  # call id → opened or closed by the user (kept across rebuilds)
        self._older_timer = QTimer(self)
        self._older_timer.setSingleShot(True)
        self._older_timer.timeout.connect(self._build_older)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    # ---- reading -----------------------------------------------------------------------------------

    def message_widgets(self) -> list[MessageWidget]:
        return list(self._widgets)

    @property
    def loading(self) -> bool:
        """Whether older messages of the shown conversation are still being built."""
        return bool(self._older)

    def widget_for(self, message_id: str) -> MessageWidget | None:
        return self._by_id.get(message_id)

    def tool_cards(self) -> list[ToolCard]:
        """Every tool card shown, top to bottom."""
        return [card for widget in self._widgets for card in widget.cards()]

    @property
    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK_PX

    # ---- changes -----------------------------------------------------------------------------------

    def set_empty_text(self, text: str) -> None:
        self.empty_label.setText(text)
        self.empty_label.setVisible(not self._widgets and bool(text))

    def show_messages(self, messages: Iterable[StoredMessage]) -> None:
        """Replace the view's contents; the view then sits at the bottom (the latest message)."""
        self.clear()
        messages = list(messages)
        self._results = results_by_message(messages)
        shown = [m for m in messages if m.role not in ("system", "tool")]
        self._older = shown[:-FIRST_BATCH]
        for message in shown[-FIRST_BATCH:]:
            self.add_message(message)
        if self._older:
            self._older_timer.start(0)

    def add_message(self, message: StoredMessage) -> MessageWidget:
        """Append ``message`` at the end."""
        return self._place(message, self._layout.count() - 1)

    def insert_round(self, messages: list[StoredMessage], before: str, call_ids: list[str]) -> None:
        """Show the stored tool round (its text and cards) above the open answer ``before``.

        ``messages`` is the whole stored conversation; the rows not shown yet that precede the answer are
        added, up to the round that made ``call_ids`` (a later round is added when its own event comes).
        """
        anchor = self._by_id.get(before)
        if anchor is None:
            return
        known = set(self._by_id) | {m.id for m in self._older}
        results = results_by_message(messages)
        wanted = set(call_ids)
        for message in messages:
            if message.id == before:
                break
            if message.role in ("system", "tool") or message.id in known:
                continue
            self._results[message.id] = results.get(message.id, {})
            self._place(message, self._layout.indexOf(anchor)).set_actions(last_answer=False, idle=self._idle)
            if wanted & {call.id for call in message.tool_calls}:
                break

    def _build_older(self) -> None:
        started = time.perf_counter()
        while self._older and time.perf_counter() - started < OLDER_BUDGET_S:
            widget = self._place(self._older.pop(), 1)  # at the top, below the (hidden) empty-state line
            widget.set_actions(last_answer=False, idle=self._idle)
        if self._older:
            self._older_timer.start(0)

    def _place(self, message: StoredMessage, layout_index: int) -> MessageWidget:
        widget = MessageWidget(message, self.renderer, results=self._results.get(message.id),
                               choices=self.card_choices)
        widget.pump = self.pump
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.resend_requested.connect(self.resend_requested)
        widget.speak_requested.connect(self.speak_requested)
        self._layout.insertWidget(layout_index, widget)
        self._widgets.insert(layout_index - 1, widget)
        self._by_id[widget.message_id] = widget
        self.empty_label.hide()
        widget.request_render(soon=True)
        return widget

    def remove_from(self, seq: int) -> None:
        """Drop the messages at ``seq`` and after (regenerate and edit-and-resend replace them)."""
        for widget in [w for w in self._widgets if w.seq >= seq]:
            self._remove(widget)

    def clear(self) -> None:
        self._older = []
        self._results = {}
        self._older_timer.stop()
        for widget in list(self._widgets):
            self._remove(widget)
        self.pump.clear()
        self._stick_to_bottom = True

    def _remove(self, widget: MessageWidget) -> None:
        self._widgets.remove(widget)
        self._by_id.pop(widget.message_id, None)
        if widget.answer_body is not None:
            self.pump.discard(widget.answer_body)
        self._layout.removeWidget(widget)
        widget.deleteLater()

    def update_actions(self, *, idle: bool) -> None:
        """Regenerate only on the last answer; no editing while an answer is being written."""
        self._idle = idle
        last_answer = next((w for w in reversed(self._widgets) if w.role == "assistant"), None)
        for widget in self._widgets:
            widget.set_actions(last_answer=widget is last_answer, idle=idle)

    def scroll_to_bottom(self) -> None:
        self._stick_to_bottom = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    # ---- following the end -------------------------------------------------------------------------

    def _on_scrolled(self, _value: int) -> None:
        self._stick_to_bottom = self.at_bottom

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)
