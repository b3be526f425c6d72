"""The Chat pane: a thin view over ``core.chat`` (turns, routing, storage all happen in the core).

Every answer streams on the core's async loop; ``TurnEvent``s arrive here on the GUI thread and only
fill the live buffer of their conversation. Drawing is coalesced by the view's render pump, so a fast
model costs a few renders a second, not one per token. Switching conversations while one answers is
safe: the store plus the live buffer rebuild the view.

Tool calls show as cards: live from the turn events while a round runs, then (once the core stored the
round ahead of the open answer) rebuilt from the stored rows. Risky calls ask through ``approvals``.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from app.context import AppContext
from app.panels.chat.approval_dialog import ApprovalDialog
from app.panels.chat.approvals import ApprovalQueue
from app.panels.chat.commands import CommandRunner
from app.panels.chat.composer import Composer
from app.panels.chat.conversation_list import ConversationList
from app.panels.chat.live_turn import LiveTurn
from app.panels.chat.markdown_render import MarkdownRenderer
from app.panels.chat.message_view import MessageView
from app.panels.chat.message_widget import MessageWidget
from app.panels.chat.model_picker import ModelPicker, model_refs
from app.panels.chat.notice_bar import NoticeBar
from app.panels.chat.style import stylesheet
from app.panels.chat.tool_card import ToolCard
from app.panels.chat.turn_tracker import TurnTracker
from app.panels.chat.warmup import warm_up
from app.panels.chat.workspace_button import WorkspaceButton
from app.panels.registry import Panel
from app.speech_playback import SpeechPlayback
from nexus_core.chat.conversations import ConversationChange
from nexus_core.chat.service import TurnEvent
from nexus_core.errors import NexusError
from nexus_core.media.service import SpeechRequest
from nexus_core.media.speech import speakable

LIST_REFRESH_MS = 50  # several store changes per send become one list reload

NO_PROVIDER_TEXT = ("No model provider is set up yet. Add a provider and assign its models to the tiers, "
                    "then type a message below.")
START_TEXT = ("Type a message below to start. “Auto (router)” lets the router pick a model for each message; "
              "choose a model above to use one model for this whole conversation.")


class ChatPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.chat = ctx.core.chat
        self.conversations = self.chat.conversations
        self._current: str | None = None
        self._speech: SpeechPlayback | None = None  # made the first time an answer is read aloud
        self._speaking: str | None = None  # the message being read
        self.turns = TurnTracker(self)
        self.build_review: QDialog | None = None  # the review of the last module the agent built

        self.conversation_list = ConversationList(ctx)
        self.search_box = self.conversation_list.search_box
        self.title_label = QLabel("New chat")
        self.title_label.setObjectName("chatTitle")
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.model_combo = ModelPicker()
        self.workspace_button = WorkspaceButton(ctx.core)
        header = QHBoxLayout()
        header.setContentsMargins(16, 12, 16, 4)
        header.addWidget(self.title_label, 1)
        header.addWidget(self.workspace_button)
        header.addWidget(QLabel("Model"))
        header.addWidget(self.model_combo)
        self.view = MessageView(MarkdownRenderer(ctx.effective_theme))
        warm_up(self.view.renderer)
        self.notice_bar = NoticeBar()
        self.composer_box = Composer()
        self.composer_box.paste_dir = ctx.core.paths.root / "attachments" / "pasted"
        self.composer = self.composer_box.edit
        self.send_button = self.composer_box.send_button
        self.commands = CommandRunner(self, self.notice_bar)
        self.approvals = ApprovalQueue(self.chat, self)

        conversation = QWidget()
        right = QVBoxLayout(conversation)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(4)
        right.addLayout(header)
        right.addWidget(self.view, 1)
        right.addWidget(self.notice_bar)
        right.addWidget(self.composer_box)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.conversation_list)
        self.splitter.addWidget(conversation)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._list_timer = QTimer(self)
        self._list_timer.setSingleShot(True)
        self._list_timer.setInterval(LIST_REFRESH_MS)
        self._list_timer.timeout.connect(self.conversation_list.refresh)

        self.conversation_list.selected.connect(self.show_conversation)
        self.conversation_list.new_requested.connect(self.new_chat)
        self.conversation_list.problem.connect(self.notice_bar.show_problem)
        self.conversation_list.info.connect(self.notice_bar.show_info)
        self.model_combo.chosen.connect(self._set_model)
        self.workspace_button.problem.connect(self.notice_bar.show_problem)
        self.view.regenerate_requested.connect(self.regenerate)
        self.view.resend_requested.connect(self.edit_and_resend)
        self.view.speak_requested.connect(self.read_aloud)
        self.composer_box.send_requested.connect(self.send)
        self.composer_box.stop_requested.connect(self.stop)
        self.turns.started.connect(self._turn_started)
        self.turns.changed.connect(self._live_changed)
        self.turns.grew.connect(self._live_grew)
        self.turns.round_done.connect(self._round_done)
        self.turns.finished.connect(self._turn_finished)
        ctx.chat_events.fired.connect(self.turns.handle)
        ctx.conversations_changed.fired.connect(self._on_conversations_changed)
        ctx.providers_changed.fired.connect(self._refresh_models)
        ctx.theme_changed.connect(self._apply_theme)

        self.setStyleSheet(stylesheet(ctx.effective_theme))
        self._refresh_models()
        self.conversation_list.refresh()
        self.new_chat()

    # ---- reading -----------------------------------------------------------------------------------

    @property
    def current_conversation_id(self) -> str | None:
        return self._current

    def message_widgets(self) -> list[MessageWidget]:
        return self.view.message_widgets()

    def tool_cards(self) -> list[ToolCard]:
        return self.view.tool_cards()

    @property
    def approval_dialog(self) -> ApprovalDialog | None:
        """The open "allow this tool?" question, if any (more may wait behind it)."""
        return self.approvals.dialog

    def is_answering(self) -> bool:
        """Whether the shown conversation has an answer being written."""
        cid = self._current
        return cid is not None and (self.turns.get(cid) is not None or self.chat.active_turn(cid) is not None)

    # ---- panel life --------------------------------------------------------------------------------

    def panel_shown(self) -> None:
        self.view.pump.resume()
        self.workspace_button.refresh()
        self.composer.setFocus()

    def panel_hidden(self) -> None:
        self.view.pump.pause()

    def shutdown(self) -> None:
        if self._speech is not None:
            self._speech.close()
        self.approvals.close()
        self.view.pump.clear()
        self._list_timer.stop()

    # ---- showing a conversation ----------------------------------------------------------------------

    def new_chat(self) -> None:
        """An empty view; the conversation is created (with the chosen model) when the first message is sent."""
        self._current = None
        self.title_label.setText("New chat")
        self.model_combo.show_ref(None)
        self.view.clear()
        self.view.set_empty_text(START_TEXT if self.ctx.core.providers.configs() else NO_PROVIDER_TEXT)
        self.conversation_list.select(None)
        self._update_busy()
        self.composer.setFocus()

    def show_conversation(self, conversation_id: str | None, *, reload: bool = False) -> None:
        if conversation_id is None:
            self.new_chat()
            return
        if conversation_id == self._current and not reload:
            return
        conv = self.commands.run(lambda: self.conversations.get(conversation_id))
        if conv is None:
            self.new_chat()
            return
        self._current = conversation_id
        self.title_label.setText(conv.title)
        self.model_combo.show_ref(conv.model_override)
        self.view.show_messages(self.conversations.messages(conversation_id))
        self.view.set_empty_text("No messages yet.")
        live = self.turns.get(conversation_id)
        widget = self.view.widget_for(live.message_id) if live is not None else None
        if live is not None and widget is not None:
            widget.bind_live(live)
        self.conversation_list.select(conversation_id)
        self._update_busy()

    def _update_busy(self) -> None:
        live = self.turns.get(self._current)
        busy = self.is_answering()
        self.composer_box.set_busy(busy, stopping=live is not None and live.stopping)
        self.view.update_actions(idle=not busy)

    # ---- commands ----------------------------------------------------------------------------------

    def send(self, text: str) -> None:
        cid = self._current
        override = None if cid is not None else self.model_combo.current_ref()
        attachments = list(self.composer_box.attachments)
        turn = self.commands.run(lambda: self.chat.send(cid, text, model_override=override,
                                                        attachments=attachments or None))
        if turn is None:
            return
        self.composer_box.clear()
        self.notice_bar.dismiss()
        if cid is None:
            self.conversation_list.refresh()
            self.show_conversation(turn.conversation_id)

    def stop(self) -> None:
        cid = self._current
        if cid is None:
            return
        self.turns.mark_stopping(cid)
        self.chat.stop(cid)
        self.approvals.cancel(cid)  # after the stop: a "deny" must not let the turn go on to another round
        self._update_busy()

    def regenerate(self) -> None:
        cid = self._current
        if cid is not None:
            self.commands.run(lambda: self.chat.regenerate(cid))

    def read_aloud(self, message_id: str) -> None:
        """Speak an answer with the configured voice, playing each sentence as it is made; again to stop."""
        if self._speech is None:
            self._speech = SpeechPlayback(self.ctx, parent=self)
        if self._speaking == message_id:
            self._speech.stop()
            self._speaking = None
            return
        widget = self.view.widget_for(message_id)
        if widget is None:
            return
        if not self._speech.available:
            self.notice_bar.show_problem("No audio output was found, so answers cannot be read aloud here. "
                                         "The Media panel can save speech to a file.")
            return
        try:
            handle = self.ctx.core.media.speak(SpeechRequest(speakable(widget.plain_text()),
                                                             voice=self.ctx.core.settings.voice))
        except NexusError as exc:
            self.notice_bar.show_problem(exc.user_message())
            return
        self._speech.follow(handle)
        self._speaking = message_id

    def edit_and_resend(self, message_id: str, text: str) -> None:
        self.commands.run(lambda: self.chat.edit_and_resend(message_id, text))

    def _set_model(self, model_ref: str | None) -> None:
        cid = self._current
        if cid is not None:  # a new chat keeps the choice until its first message creates it
            self.commands.run(lambda: self.conversations.set_model_override(cid, model_ref))

    # ---- core events -------------------------------------------------------------------------------

    def _turn_started(self, live: LiveTurn, event: TurnEvent) -> None:
        if event.conversation_id != self._current or event.message is None:
            return
        if event.user_message is not None:
            self.view.remove_from(event.user_message.seq)  # regenerate / edit replace from here on
            self.view.add_message(event.user_message)
        self.view.add_message(event.message).bind_live(live)
        self.view.set_empty_text("")
        self.view.scroll_to_bottom()
        self._update_busy()

    def _live_changed(self, live: LiveTurn) -> None:
        widget = self.view.widget_for(live.message_id) if live.conversation_id == self._current else None
        if widget is not None:
            widget.live_changed()
        if live.conversation_id == self._current:
            self._update_busy()

    def _live_grew(self, live: LiveTurn) -> None:
        widget = self.view.widget_for(live.message_id) if live.conversation_id == self._current else None
        if widget is not None:
            widget.request_render()

    def _round_done(self, live: LiveTurn, call_ids: list[str]) -> None:
        """The round's text and tool results are stored above the open answer, whose text starts again."""
        cid = live.conversation_id
        widget = self.view.widget_for(live.message_id) if cid == self._current else None
        if widget is None:
            return
        try:
            messages = self.conversations.messages(cid)
        except NexusError as exc:
            self.notice_bar.show_problem(exc.user_message())
            messages = []
        self.view.insert_round(messages, live.message_id, call_ids)
        widget.live_changed()

    def _turn_finished(self, live: LiveTurn | None, event: TurnEvent) -> None:
        self.approvals.cancel(event.conversation_id)
        self._offer_build(event)
        if event.conversation_id != self._current:
            return
        message_id = event.message.id if event.message is not None else live.message_id if live else None
        widget = self.view.widget_for(message_id) if message_id else None
        if widget is not None:
            if event.message is not None:
                widget.finish(event.message)
            else:  # the store could not keep it (e.g. the conversation was deleted): show what arrived
                text = live.text if live is not None else widget.plain_text()
                widget.finish(dataclasses.replace(widget.message, content=text, error=event.error,
                                                  status="partial" if text else "error"))
        self._update_busy()

    def _offer_build(self, event: TurnEvent) -> None:
        """A module the agent built waits for approval: show the review dialog (Install / Reject)."""
        build = (event.message.meta or {}).get("build") if event.message is not None else None
        if not build or build.get("status") != "ready" or build.get("id") is None:
            return
        result = self.ctx.core.builder.result(int(build["id"]))
        if result is None:
            return
        from app.panels.modules.build_review import BuildReviewDialog

        self.build_review = BuildReviewDialog(self.ctx, result, self)
        self.build_review.open()

    def _on_conversations_changed(self, change: ConversationChange) -> None:
        self._list_timer.start()
        if change.conversation_id != self._current:
            return
        if change.kind == "deleted":
            self.new_chat()
            return
        try:
            conv = self.conversations.get(change.conversation_id)
        except NexusError:
            return
        self.title_label.setText(conv.title)
        if change.kind == "updated" and conv.model_override != self.model_combo.current_ref():
            self.model_combo.show_ref(conv.model_override)

    def _refresh_models(self, _change: object = None) -> None:
        self.model_combo.set_models(model_refs(self.ctx.core.providers.configs()), self.model_combo.current_ref())
        if self._current is None and not self.view.message_widgets():
            self.view.set_empty_text(START_TEXT if self.ctx.core.providers.configs() else NO_PROVIDER_TEXT)

    def _apply_theme(self, theme: str) -> None:
        self.setStyleSheet(stylesheet(theme))
        self.view.renderer = MarkdownRenderer(theme)
        if self._current is not None:
            self.show_conversation(self._current, reload=True)
