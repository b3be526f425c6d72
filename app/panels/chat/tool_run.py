"""One tool call as its card shows it, built from live turn events or read back from the store.

Both sources end in the same shape, so a card looks the same while it runs, after the round is stored,
and when the conversation is opened again later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from nexus_core.agent.loop import ToolFinished
from nexus_core.chat.conversations import StoredMessage
from nexus_core.providers.types import ToolCall

RUNNING, OK, FAILED, DENIED, STOPPED = "running", "ok", "failed", "denied", "stopped"


@dataclass(frozen=True)
class ToolRun:
    call_id: str
    name: str
    arguments: str  # the JSON text the model sent
    state: str = RUNNING  # running | ok | failed | denied | stopped (the answer ended before it finished)
    content: str = ""  # exactly what the model was given back
    duration_ms: float | None = None
    error_kind: str | None = None
    approval: str | None = None  # once | always | deny, for risky tools

    @classmethod
    def started(cls, call: ToolCall) -> ToolRun:
        return cls(call.id, call.name, call.arguments)

    @classmethod
    def finished(cls, result: ToolFinished) -> ToolRun:
        call = result.call
        return cls(call.id, call.name, call.arguments, _state(result.ok, result.error_kind), result.content,
                   result.duration_ms, result.error_kind, result.approval)

    @classmethod
    def stored(cls, call: ToolCall, row: StoredMessage | None) -> ToolRun:
        """From the tool row that answered ``call``; no row means the answer stopped before the tool finished."""
        if row is None:
            return cls(call.id, call.name, call.arguments, STOPPED)
        meta = row.meta
        ok = bool(meta.get("ok", row.status != "error"))
        kind = meta.get("error_kind") or (None if ok else _error(row.content).get("kind"))
        duration = meta.get("duration_ms")
        return cls(call.id, call.name, call.arguments, _state(ok, kind), row.content,
                   float(duration) if isinstance(duration, int | float) else None, kind, meta.get("approval"))

    def stopped(self) -> ToolRun:
        """A run the answer ended under: still running means it never finished."""
        return replace(self, state=STOPPED) if self.state == RUNNING else self

    @property
    def error_message(self) -> str:
        """For a failed or denied call: the reason the model was told."""
        if self.state == STOPPED:
            return "Not finished: the answer was stopped before this tool returned."
        if self.state not in (FAILED, DENIED):
            return ""
        message = _error(self.content).get("message")
        return str(message) if message else self.content


def results_by_message(messages: Iterable[StoredMessage]) -> dict[str, dict[str, StoredMessage]]:
    """The tool rows of each assistant message, by call id: each follows the message that asked for it.

    Matched by position as well as id because some models reuse call ids ("call_0") in every round.
    """
    grouped: dict[str, dict[str, StoredMessage]] = {}
    asking: str | None = None
    for message in messages:
        if message.role == "assistant":
            asking = message.id if message.tool_calls else None
        elif message.role == "tool" and asking is not None and message.tool_call_id:
            grouped.setdefault(asking, {})[message.tool_call_id] = message
        elif message.role != "tool":
            asking = None
    return grouped


def _state(ok: bool, error_kind: str | None) -> str:
    if ok:
        return OK
    return DENIED if error_kind == "denied" else FAILED


def _error(content: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except (ValueError, TypeError):
        return {}
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, dict) else {}
