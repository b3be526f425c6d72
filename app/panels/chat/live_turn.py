"""What the pane knows about an answer while it streams (the store is written only about once a second)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.panels.chat.tool_run import ToolRun
from nexus_core.agent.loop import ToolFinished
from nexus_core.providers.types import ToolCall
from nexus_core.routing.router import RouteDecision


@dataclass
class LiveTurn:
    turn_id: str
    conversation_id: str
    message_id: str  # the assistant message being written
    model_ref: str = ""
    tier: str = ""
    task_type: str = ""
    notices: list[str] = field(default_factory=list)
    stopping: bool = False
    tools: dict[str, ToolRun] = field(default_factory=dict)  # this round's tool calls, by call id, in order
    _chunks: list[str] = field(default_factory=list)
    _text: str = ""

    def append(self, text: str) -> None:
        """Called per token: only collects; the text is joined when a render asks for it."""
        self._chunks.append(text)

    @property
    def text(self) -> str:
        if self._chunks:
            self._text += "".join(self._chunks)
            self._chunks.clear()
        return self._text

    def route(self, decision: RouteDecision) -> None:
        self.tier = decision.tier
        self.task_type = decision.task_type.value
        if decision.source == "override" and decision.candidates:
            self.model_ref = decision.candidates[0]

    def tool_started(self, call: ToolCall) -> None:
        self.tools[call.id] = ToolRun.started(call)

    def tool_finished(self, result: ToolFinished) -> None:
        self.tools[result.call.id] = ToolRun.finished(result)

    def new_round(self) -> list[str]:
        """The round was stored: its text and calls now belong to a message above; returns the call ids."""
        done = list(self.tools)
        self.tools.clear()
        self._chunks.clear()
        self._text = ""
        return done
