"""What the local server answers with: a client's request goes through the same router (classification,
assignment table, retries, fallbacks, call records) as the chat pane, or through the agent loop with the installed
modules' tools for ``nexus/agent``. The HTTP side only writes these events out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from nexus_core.agent.loop import AgentLoop, Approval, ApprovalRequest, ToolFinished
from nexus_core.providers.errors import ProviderError
from nexus_core.providers.pool import ProviderPool
from nexus_core.providers.types import Finish, TextDelta, ToolCallDelta
from nexus_core.routing.router import Attempt, CallDone, Notice, Router
from nexus_core.server.wire import CompletionRequest, WireError, model_entry
from nexus_core.tools.base import ToolContext
from nexus_core.tools.registry import ToolRegistry

AUTO, AGENT = "nexus/auto", "nexus/agent"


@dataclass(frozen=True)
class ModelChosen:
    """The model now answering (a fallback sends another one)."""

    model_ref: str


@dataclass(frozen=True)
class Tokens:
    """The tokens of every call the answer took (an agent's answer takes one per round)."""

    input_tokens: int | None
    output_tokens: int | None


ServerEvent = ModelChosen | TextDelta | ToolCallDelta | Finish | Notice | Tokens


class CompletionBackend:
    """``answer`` streams what a request gets; ``models`` lists what the server offers."""

    def __init__(self, router: Router, pool: ProviderPool, agent: AgentLoop, tools: ToolRegistry,
                 tool_context: Callable[[], ToolContext], *,
                 risky_tools_allowed: Callable[[], bool] = lambda: False) -> None:
        self.router, self.pool, self.agent, self.tools = router, pool, agent, tools
        self.tool_context = tool_context
        self.risky_tools_allowed = risky_tools_allowed
        self.default_model: str | None = None  # `nexus serve --model/--base-url`: what nexus/auto answers with

    def models(self) -> list[dict[str, Any]]:
        """nexus/auto, nexus/agent, then every model the assignment table names (and the default, if set)."""
        table = self.router.tables.table
        refs: list[str] = []
        for assignment in [*table.tiers.values(), *table.tasks.values()]:
            refs += [r for r in (assignment.model, *assignment.fallbacks) if r]
        default = self.default_model
        seen: dict[str, None] = dict.fromkeys(([default] if default else []) + refs)
        return ([model_entry(AUTO, "nexus"), model_entry(AGENT, "nexus")]
                + [model_entry(ref, ref.partition("/")[0]) for ref in seen])

    def check_model(self, model: str) -> None:
        """A 404 with OpenAI's ``model_not_found`` code for a model the server cannot answer with."""
        if model in (AUTO, AGENT):
            return
        provider, sep, name = model.partition("/")
        problem = None
        if not sep or not provider or not name:
            problem = "is not nexus/auto, nexus/agent or provider/model"
        else:
            try:
                self.pool.get(provider)
            except ProviderError as exc:
                problem = f"cannot be used: {exc.what}"
        if problem:
            raise WireError(404, f"The model {model!r} {problem}. GET /v1/models lists the models this server "
                                 "offers.", param="model", code="model_not_found")

    def agent_tools(self) -> list[str]:
        """The installed modules' tools (risky ones only when the settings allow them: no one is there to
        approve a call a remote client's model makes)."""
        from nexus_core.modules.service import ModuleTool

        allowed = self.risky_tools_allowed()
        return [t.name for t in self.tools.tools() if isinstance(t, ModuleTool) and (allowed or t.risk != "risky")]

    async def answer(self, request: CompletionRequest, client: str) -> AsyncIterator[ServerEvent]:
        """The events of one answer; ``ProviderError`` when no model could give one."""
        if request.model == AGENT and request.tools:
            raise WireError(400, "nexus/agent runs the installed modules' tools itself and takes no 'tools'; send "
                                 "your own tools with nexus/auto or a provider/model id.", param="tools")
        messages = list(request.messages)
        route: dict[str, Any] = {"temperature": request.temperature, "max_tokens": request.max_tokens,
                                 "stop": request.stop, "client": client}
        if request.model in (AUTO, AGENT):
            history = sum(len(m.content) for m in messages[:-1])
            target: Any = await self.router.decide(request.last_user_text, history_chars=history,
                                                   override=self.default_model)
        else:
            target = request.model
        if request.model == AGENT:
            stream: AsyncIterator[Any] = self.agent.run(
                target, messages, ctx=self.tool_context(), approver=self._approve, tool_names=self.agent_tools(),
                module_context="server.agent", **route)
        else:
            stream = self.router.stream(target, messages, tools=request.tools, **route)
        agent = request.model == AGENT
        input_tokens = output_tokens = None
        async with aclosing(stream) as events:
            async for event in events:
                if isinstance(event, Attempt):
                    yield ModelChosen(event.model_ref)
                elif isinstance(event, TextDelta | Notice):
                    yield event
                elif isinstance(event, ToolCallDelta):
                    if not agent:  # an agent's tool calls are run here, not handed to the client
                        yield event
                elif isinstance(event, Finish):
                    if not (agent and event.reason == "tool_calls"):
                        yield event
                elif isinstance(event, CallDone):
                    record = event.record
                    if record.input_tokens is not None:
                        input_tokens = (input_tokens or 0) + record.input_tokens
                    if record.output_tokens is not None:
                        output_tokens = (output_tokens or 0) + record.output_tokens
                elif isinstance(event, ToolFinished):  # (ToolStarted and RoundDone are not for the client)
                    yield Notice(f"tool {event.call.name}: {'ok' if event.ok else event.error_kind}")
        yield Tokens(input_tokens, output_tokens)

    async def _approve(self, request: ApprovalRequest) -> Approval:
        return "once" if self.risky_tools_allowed() else "deny"
