"""Follows the chat service's turn events and keeps one live buffer per conversation that is answering.

Events of every conversation are followed, shown or not, so that switching back to a conversation
shows its answer as far as it has got.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.panels.chat.live_turn import LiveTurn
from nexus_core.chat.service import TurnEvent


class TurnTracker(QObject):
    started = Signal(object, object)  # LiveTurn, its "started" TurnEvent (the user message and the empty answer)
    changed = Signal(object)  # LiveTurn: routed, a model tried, a notice, stopping, a tool started or finished
    grew = Signal(object)  # LiveTurn: more text (per token; receivers only schedule a render)
    round_done = Signal(object, object)  # LiveTurn (its text restarted), the stored round's call ids
    finished = Signal(object, object)  # LiveTurn or None (not seen starting), the "finished" TurnEvent

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live: dict[str, LiveTurn] = {}  # conversation id → its answer being written

    def get(self, conversation_id: str | None) -> LiveTurn | None:
        return self._live.get(conversation_id) if conversation_id else None

    def mark_stopping(self, conversation_id: str) -> None:
        live = self._live.get(conversation_id)
        if live is not None:
            live.stopping = True
            self.changed.emit(live)

    def handle(self, event: TurnEvent) -> None:
        if event.kind == "started":
            if event.message is not None:
                live = self._live[event.conversation_id] = LiveTurn(event.turn_id, event.conversation_id,
                                                                    event.message.id)
                self.started.emit(live, event)
            return
        live = self._live.get(event.conversation_id)
        if live is not None and live.turn_id != event.turn_id:
            live = None  # an event of an earlier turn of this conversation
        if event.kind == "finished":
            if live is not None:
                del self._live[event.conversation_id]
            self.finished.emit(live, event)
        elif live is None:
            return
        elif event.kind == "delta":
            live.append(event.text)
            self.grew.emit(live)
        elif event.kind == "routed" and event.decision is not None:
            live.route(event.decision)
            self.changed.emit(live)
        elif event.kind == "attempt":
            live.model_ref = event.text
            self.changed.emit(live)
        elif event.kind == "notice":
            live.notices.append(event.text)
            self.changed.emit(live)
        elif event.kind == "tool_started" and event.tool_call is not None:
            live.tool_started(event.tool_call)
            self.changed.emit(live)
        elif event.kind == "tool_finished" and event.tool_result is not None:
            live.tool_finished(event.tool_result)
            self.changed.emit(live)
        elif event.kind == "round_done":
            self.round_done.emit(live, live.new_round())
