"""The agent's tool loop: stream an answer; when the model asks for tools, run them (in parallel, each with
its timeout, risky ones only after approval), feed the results back, and go round again — at most
``max_rounds`` times.

Every failure a model can cause (bad JSON, unknown tool, wrong argument types, a tool that raises or
hangs, a denied approval) becomes a structured error result the model can read and act on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from nexus_core.providers.types import ChatMessage, ChatResult, Finish, TextDelta, ToolCall, ToolCallDelta, Usage
from nexus_core.routing.router import Notice, RouteDecision, Router, RouterEvent
from nexus_core.tools.base import Tool, ToolContext, ToolFailure
from nexus_core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)
MAX_RESULT_CHARS = 50_000
Approval = Literal["once", "always", "deny"]


@dataclass(frozen=True)
class ApprovalRequest:
    conversation_id: str | None
    tool: str
    description: str
    arguments: dict[str, Any]
    call_id: str
    isolation: str = ""  # where it runs, and how strongly that is isolated (the dialog shows it)


Approver = Callable[[ApprovalRequest], Awaitable[Approval]]


@dataclass(frozen=True)
class ToolStarted:
    call: ToolCall
    risk: str


@dataclass(frozen=True)
class ToolFinished:
    call: ToolCall
    ok: bool
    content: str  # exactly what the model is given
    duration_ms: float
    error_kind: str | None = None
    approval: str | None = None  # "once", "always", "deny" for risky tools


@dataclass(frozen=True)
class RoundDone:
    """A round that ended in tool calls: the assistant's message and one tool message per call."""

    assistant: ChatMessage
    results: list[ChatMessage]
    finished: list[ToolFinished]


AgentEvent = RouterEvent | ToolStarted | ToolFinished | RoundDone


@dataclass
class AgentLoop:
    router: Router
    registry: ToolRegistry
    max_rounds: int = 8
    always_allowed: dict[str | None, set[str]] = field(default_factory=dict)  # conversation → tools approved

    async def run(self, target: RouteDecision | str, messages: list[ChatMessage], *, ctx: ToolContext,
                  approver: Approver | None, use_tools: bool = True, tool_names: list[str] | None = None,
                  **route: Any) -> AsyncIterator[AgentEvent]:
        """Yield router events for every round plus tool events; ``messages`` is extended as rounds finish.

        ``tool_names`` limits the tools offered (the pipeline's Tool Picker); None offers all of them.
        """
        specs = self.registry.specs(tool_names) if use_tools else []
        use_tools = use_tools and bool(specs)
        for round_number in range(1, self.max_rounds + 1):
            result = ChatResult()
            async with aclosing(self.router.stream(target, messages, tools=specs, **route)) as events:
                async for event in events:
                    if isinstance(event, TextDelta | ToolCallDelta | Usage | Finish):
                        result.add(event)
                    yield event
            if not result.tool_calls or not use_tools:
                return
            assistant = result.message()
            for call in result.tool_calls:
                known = self.registry.get(call.name)
                yield ToolStarted(call, known.risk if known else "unknown")
            tasks = [asyncio.ensure_future(self._run_one(c, ctx, approver)) for c in result.tool_calls]
            try:
                for next_done in asyncio.as_completed(tasks):
                    yield await next_done  # each card completes as its tool does
            finally:
                for task in tasks:
                    task.cancel()
            finished = [task.result() for task in tasks]
            results = [ChatMessage("tool", f.content, tool_call_id=f.call.id, name=f.call.name) for f in finished]
            messages.extend([assistant, *results])
            yield RoundDone(assistant, results, finished)
            if round_number == self.max_rounds:
                yield Notice(f"Stopped after {self.max_rounds} rounds of tool calls (the limit); the last results "
                             "were not sent back to the model.")

    async def _run_one(self, call: ToolCall, ctx: ToolContext, approver: Approver | None) -> ToolFinished:
        started = time.perf_counter()
        approval: str | None = None
        try:
            tool = self.registry.get(call.name)
            if tool is None:
                raise ToolFailure(f"there is no tool named {call.name!r}; available: "
                                  f"{', '.join(self.registry.names())}", kind="unknown_tool")
            try:
                raw = call.parsed_arguments()
            except ValueError as exc:
                raise ToolFailure(f"{exc}. Send the arguments as one JSON object.", kind="invalid_json") from exc
            arguments = tool.validate(raw)
            if tool.risk == "risky":
                approval = await self._approve(tool, call, arguments, ctx, approver)
                if approval == "deny":
                    raise ToolFailure(f"the user did not allow running {tool.name} this time; do not retry it "
                                      "unless they ask", kind="denied")
            value = await asyncio.wait_for(_invoke(tool, ctx, arguments), tool.timeout_s)
            content = _encode(value)
            return ToolFinished(call, True, content, _ms(started), None, approval)
        except TimeoutError:
            failure = ToolFailure(f"{call.name} did not finish within its {self._timeout(call)} s limit",
                                  kind="timeout")
            return _failed(call, failure, started, approval)
        except ToolFailure as failure:
            return _failed(call, failure, started, approval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("tool %s raised", call.name)
            return _failed(call, ToolFailure(f"{call.name} raised {type(exc).__name__}: {exc}", kind="tool_error"),
                           started, approval)

    def _timeout(self, call: ToolCall) -> float:
        tool = self.registry.get(call.name)
        return tool.timeout_s if tool else 0.0

    async def _approve(self, tool: Tool, call: ToolCall, arguments: dict[str, Any], ctx: ToolContext,
                       approver: Approver | None) -> Approval:
        allowed = self.always_allowed.setdefault(ctx.conversation_id, set())
        if tool.name in allowed:
            return "always"
        if approver is None:
            return "deny"
        decision = await approver(ApprovalRequest(ctx.conversation_id, tool.name, tool.description,
                                                  arguments, call.id, await asyncio.to_thread(isolation_of, tool)))
        if decision == "always":
            allowed.add(tool.name)
        return decision


async def _invoke(tool: Tool, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
    args = (ctx,) if tool.wants_context else ()
    if asyncio.iscoroutinefunction(tool.fn):
        return await tool.fn(*args, **arguments)
    # A sync tool runs in a worker thread; on timeout the thread is abandoned (it cannot be killed).
    return await asyncio.to_thread(tool.fn, *args, **arguments)


def _encode(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"\n[… truncated: {len(text) - MAX_RESULT_CHARS} more characters]"
    return text


def _failed(call: ToolCall, failure: ToolFailure, started: float, approval: str | None) -> ToolFinished:
    content = json.dumps({"error": {"kind": failure.kind, "message": str(failure)}}, ensure_ascii=False)
    return ToolFinished(call, False, content, _ms(started), failure.kind, approval)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def isolation_of(tool: Tool) -> str:
    """How a risky tool's work is contained, in words for the approval dialog."""
    if not tool.sandboxed:
        return "Runs directly on this computer (not in the sandbox), in the workspace folder."
    from nexus_core.sandbox import sandbox_capabilities

    caps = sandbox_capabilities()
    if caps.bubblewrap:
        return "Runs in the sandbox with strong isolation (bubblewrap: no network, read-only system)."
    return f"Runs in the sandbox, but WEAKER isolation here: {caps.reason}"
