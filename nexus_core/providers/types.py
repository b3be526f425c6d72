"""The one vocabulary every provider speaks: messages in, a stream of small events out.

OpenAI-compatible servers, Anthropic and the in-process transformers backend all translate their wire
formats into these events, so the router, the chat service, the agent loop and the GUI never care
which kind of model answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass
class ToolCall:
    """A complete tool call requested by the model; ``arguments`` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str = ""

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; raises ``ValueError`` naming the tool when the model sent bad JSON."""
        if not self.arguments.strip():
            return {}
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool {self.name!r}: arguments are not valid JSON ({exc.msg} at {exc.pos})") from exc
        if not isinstance(value, dict):
            raise ValueError(f"tool {self.name!r}: arguments must be a JSON object, got {type(value).__name__}")
        return value

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class ChatMessage:
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # for role == "tool": which call this result answers
    name: str | None = None  # for role == "tool": the tool's name
    attachments: list[str] = field(default_factory=list)  # files (pictures, sound, video) sent with the message


@dataclass
class ToolSpec:
    """A tool offered to the model: ``parameters`` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)


# ---- stream events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call. ``index`` identifies the call; id and name arrive once, arguments in parts."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Finish:
    """The last event of a healthy stream. ``reason`` is normalised: stop, length, tool_calls, cancelled."""

    reason: str
    response_model: str | None = None


StreamEvent = TextDelta | ToolCallDelta | Usage | Finish


@dataclass
class ChatResult:
    """Everything a stream said, assembled. Feed it events in order with :meth:`add`."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    response_model: str | None = None
    _by_index: dict[int, ToolCall] = field(default_factory=dict, repr=False)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, ToolCallDelta):
            call = self._by_index.get(event.index)
            if call is None:
                call = ToolCall(id=event.id or f"call_{event.index}", name=event.name or "")
                self._by_index[event.index] = call
                self.tool_calls.append(call)
            else:
                if event.id:
                    call.id = event.id
                if event.name:
                    call.name = event.name
            call.arguments += event.arguments
        elif isinstance(event, Usage):
            if event.input_tokens is not None:
                self.input_tokens = event.input_tokens
            if event.output_tokens is not None:
                self.output_tokens = event.output_tokens
        elif isinstance(event, Finish):
            self.finish_reason = event.reason
            if event.response_model:
                self.response_model = event.response_model

    def message(self) -> ChatMessage:
        return ChatMessage(role="assistant", content=self.text, tool_calls=list(self.tool_calls))
