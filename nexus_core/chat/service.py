"""Chat turns: route the query, stream the answer, keep every part of it in the store.

A turn runs on the core's async loop thread. The GUI and the CLI watch ``ChatService.events`` (one
``TurnEvent`` per step) and stop a turn with ``Turn.cancel()``. Whatever happens (stop, cut stream,
HTTP error, crash) the user's message and any partial answer are already in the store.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.agent.loop import AgentLoop, Approval, ApprovalRequest, Approver, RoundDone, ToolFinished, ToolStarted
from nexus_core.aio import AsyncLoopThread
from nexus_core.chat.conversations import ConversationStore, StoredMessage
from nexus_core.chat.plan import ChatPlan
from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.multimodal.media import modality_of
from nexus_core.providers.records import CallRecord
from nexus_core.providers.types import ChatMessage, ChatResult, Finish, TextDelta, ToolCall, ToolCallDelta, Usage
from nexus_core.routing.classify import TaskType
from nexus_core.routing.router import Attempt, CallDone, Notice, RouteDecision, Router
from nexus_core.tools.base import ToolContext
from nexus_core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)
Planner = Callable[..., Awaitable[ChatPlan]]  # (query, *, history_chars, override, conversation_id) -> plan
SAVE_EVERY_S = 1.0  # how often a streaming answer is written to the store


@dataclass(frozen=True)
class TurnEvent:
    """One step of a turn. ``kind``: started, routed, attempt, notice, delta, tool_call (a streamed piece of a
    call), tool_started, tool_finished, round_done (tool messages were stored; the live text restarts), finished.
    """

    kind: str
    turn_id: str
    conversation_id: str
    text: str = ""
    message: StoredMessage | None = None  # started: the empty answer; finished: the stored answer
    user_message: StoredMessage | None = None  # started
    decision: RouteDecision | None = None  # routed
    outcome: str = ""  # finished: complete | partial | error | cancelled
    error: str | None = None  # finished with a problem: the user-ready message
    tool_call: ToolCall | None = None  # tool_started / tool_finished: which call
    tool_result: ToolFinished | None = None  # tool_finished: its result, duration and error kind


@dataclass
class Turn:
    id: str
    conversation_id: str
    assistant_message_id: str
    _service: ChatService
    _done: threading.Event = field(default_factory=threading.Event)
    use_tools: bool = True
    _task: asyncio.Task[None] | None = None  # set by the turn itself once it runs
    _cancel_requested: bool = False

    def cancel(self) -> None:
        """Stop the answer; what was streamed so far is kept (marked incomplete).

        A flag plus ``task.cancel()`` rather than cancelling the concurrent future: a task cancelled
        before its first step never runs its ``finally``, and the answer would stay "streaming".
        """
        self._cancel_requested = True
        task = self._task
        if task is not None and not self._done.is_set():
            self._service.aio.loop.call_soon_threadsafe(task.cancel)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> StoredMessage:
        """Block until the turn has ended and its answer is stored; returns the stored answer."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"chat turn {self.id} still running after {timeout} s")
        return self._service.conversations.message(self.assistant_message_id)


class ChatService:
    def __init__(self, conversations: ConversationStore, router: Router, aio: AsyncLoopThread, *,
                 system_prompt: str = "", agent: AgentLoop | None = None,
                 tool_context: Callable[[str], ToolContext] | None = None, planner: Planner | None = None,
                 builder: Any = None, attachments_dir: Path | None = None) -> None:
        """``planner``: how a message is to be answered (the chat pipeline); without one, the router decides.
        ``builder``: the module builder; requests to build a module go to it instead of a plain answer.
        ``attachments_dir``: where the files sent with messages are kept."""
        self.conversations = conversations
        self.attachments_dir = attachments_dir
        self.builder = builder
        self.planner = planner
        self.router = router
        self.aio = aio
        self.system_prompt = system_prompt
        self.agent = agent or AgentLoop(router, ToolRegistry())
        self._tool_context = tool_context or (lambda cid: ToolContext(Path.cwd(), cid))
        self.events: Emitter[TurnEvent] = Emitter("chat.turns")
        # Risky tools ask here. The GUI answers with ``request.respond(...)``; the CLI sets ``approver``.
        self.approvals: Emitter[PendingApproval] = Emitter("chat.approvals")
        self.approver: Approver | None = None
        self._active: dict[str, Turn] = {}  # conversation id → running turn
        self._lock = threading.Lock()
        recovered = conversations.recover_interrupted()
        if recovered:
            log.info("marked %d interrupted answers as incomplete", recovered)

    # ---- commands ----------------------------------------------------------------------------------

    def send(self, conversation_id: str | None, text: str, *, model_override: str | None = None,
             use_tools: bool = True, attachments: list[Path] | None = None) -> Turn:
        """Add the user's message (creating a conversation when ``conversation_id`` is None) and answer it.
        ``attachments`` (pictures, sound, video) are copied into the data folder and go with the message."""
        if not text.strip() and not attachments:
            raise NexusError("The message is empty.", hint="Type something to send.")
        for path in attachments or []:
            modality_of(Path(path))  # an unusable file is refused before anything is stored
            if not Path(path).is_file():
                raise NexusError(f"The attachment {path} does not exist.", path=Path(path), hint="Check the file name.")
        if conversation_id is None:
            conversation_id = self.conversations.create(model_override=model_override).id
        else:
            self.conversations.get(conversation_id)
        self._ensure_idle(conversation_id)
        meta = {"attachments": self._keep(conversation_id, attachments)} if attachments else None
        user = self.conversations.append(conversation_id, "user", text, meta=meta)
        return self._start(conversation_id, user, model_override, use_tools)

    def _keep(self, conversation_id: str, attachments: list[Path]) -> list[str]:
        """Copies of the attachments under the data folder (the originals may move); their paths."""
        if self.attachments_dir is None:
            return [str(Path(p).resolve()) for p in attachments]
        folder = self.attachments_dir / conversation_id
        folder.mkdir(parents=True, exist_ok=True)
        kept = []
        for path in attachments:
            target = folder / f"{uuid.uuid4().hex[:8]}-{Path(path).name}"
            shutil.copyfile(path, target)
            kept.append(str(target))
        return kept

    def regenerate(self, conversation_id: str, *, model_override: str | None = None, use_tools: bool = True) -> Turn:
        """Answer the last user message again, replacing the answer(s) after it."""
        self._ensure_idle(conversation_id)
        messages = self.conversations.messages(conversation_id)
        user = next((m for m in reversed(messages) if m.role == "user"), None)
        if user is None:
            raise NexusError("There is no message to answer again in this conversation.")
        self.conversations.truncate_from(conversation_id, user.seq + 1)
        return self._start(conversation_id, user, model_override, use_tools)

    def edit_and_resend(self, message_id: str, text: str, *, model_override: str | None = None,
                        use_tools: bool = True) -> Turn:
        """Change one of your messages and answer it again; later messages are replaced."""
        if not text.strip():
            raise NexusError("The message is empty.", hint="Type something to send.")
        original = self.conversations.message(message_id)
        if original.role != "user":
            raise NexusError("Only your own messages can be edited and resent.")
        self._ensure_idle(original.conversation_id)
        self.conversations.update_message(message_id, content=text)
        self.conversations.truncate_from(original.conversation_id, original.seq + 1)
        return self._start(original.conversation_id, self.conversations.message(message_id), model_override,
                           use_tools)

    def active_turn(self, conversation_id: str) -> Turn | None:
        with self._lock:
            return self._active.get(conversation_id)

    def stop(self, conversation_id: str) -> bool:
        turn = self.active_turn(conversation_id)
        if turn is None:
            return False
        turn.cancel()
        return True

    def stop_all(self, timeout: float = 5.0) -> None:
        """Stop every running answer and wait until each is stored (used when the app closes)."""
        with self._lock:
            turns = list(self._active.values())
        for turn in turns:
            turn.cancel()
        for turn in turns:
            turn._done.wait(timeout)

    def _ensure_idle(self, conversation_id: str) -> None:
        if self.active_turn(conversation_id) is not None:
            raise NexusError("This conversation is still answering.", hint="Wait for the answer or press Stop.")

    def _start(self, conversation_id: str, user: StoredMessage, model_override: str | None,
               use_tools: bool) -> Turn:
        answer = self.conversations.append(conversation_id, "assistant", "", status="streaming")
        turn = Turn(uuid.uuid4().hex, conversation_id, answer.id, self, use_tools=use_tools)
        with self._lock:
            self._active[conversation_id] = turn
        self.events.emit(TurnEvent("started", turn.id, conversation_id, message=answer, user_message=user))
        self.aio.submit(self._run(turn, user, model_override))
        return turn

    # ---- the turn itself -------------------------------------------------------------------------------

    async def _run(self, turn: Turn, user: StoredMessage, model_override: str | None) -> None:
        result = ChatResult()
        meta: dict[str, Any] = {"notices": []}
        started = time.perf_counter()
        last_save = started
        last_record: CallRecord | None = None
        records: list[CallRecord] = []
        status, outcome, error = "complete", "complete", None
        turn._task = asyncio.current_task()
        try:
            if turn._cancel_requested:
                raise asyncio.CancelledError
            conv = self.conversations.get(turn.conversation_id)
            history = [m for m in self.conversations.messages(turn.conversation_id)
                       if m.id != turn.assistant_message_id and (m.content or m.tool_calls or m.meta.get("attachments"))
                       and (m.status != "error" or m.role == "tool")]  # a failed tool's result still answers its call
            query = user.content or "About the attached " + ", ".join(
                Path(a).name.split("-", 1)[-1] for a in user.meta.get("attachments") or [])  # a file sent alone
            plan = await self._plan(query, history_chars=sum(len(m.content) for m in history[:-1]),
                                    override=model_override or conv.model_override,
                                    conversation_id=turn.conversation_id)
            decision = plan.decision
            meta.update(task_type=decision.task_type.value, tier=decision.tier, route_reason=decision.reason,
                        route_source=decision.source)
            self._emit(turn, "routed", decision=decision)
            if self.builder is not None and decision.task_type is TaskType.BUILD_MODULE:
                await self._build_module(turn, user.content, result, meta, model_override or conv.model_override)
                return
            system = "\n\n".join(p for p in (self.system_prompt, plan.system_extra) if p)
            messages = ([ChatMessage("system", system)] if system else [])
            messages += [m.to_chat_message() for m in history]
            stream = self.agent.run(decision, messages, ctx=self._tool_context(turn.conversation_id),
                                    approver=self._approve, use_tools=turn.use_tools,
                                    tool_names=plan.offered_tools(), temperature=plan.temperature,
                                    max_tokens=plan.max_tokens, conversation_id=turn.conversation_id)
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        result.add(event)
                        self._emit(turn, "delta", text=event.text)
                        now = time.perf_counter()
                        if now - last_save >= SAVE_EVERY_S:
                            last_save = now
                            self.conversations.update_message(turn.assistant_message_id, content=result.text)
                    elif isinstance(event, ToolCallDelta):
                        result.add(event)
                        self._emit(turn, "tool_call", text=event.name or event.arguments)
                    elif isinstance(event, Usage | Finish):
                        result.add(event)
                    elif isinstance(event, Attempt):
                        meta.update(model_ref=event.model_ref, provider_kind=event.provider_kind)
                        self._emit(turn, "attempt", text=event.model_ref)
                    elif isinstance(event, Notice):
                        meta["notices"].append(event.text)
                        self._emit(turn, "notice", text=event.text)
                    elif isinstance(event, CallDone):
                        last_record = event.record
                        records.append(event.record)
                    elif isinstance(event, ToolStarted):
                        self._emit(turn, "tool_started", tool_call=event.call, text=event.risk)
                    elif isinstance(event, ToolFinished):
                        self._emit(turn, "tool_finished", tool_call=event.call, tool_result=event)
                    elif isinstance(event, RoundDone):
                        self._store_round(turn, result.text, event)
                        result = ChatResult()
                        self._emit(turn, "round_done")
            if plan.footer and result.text:
                footer = TextDelta(f"\n\n{plan.footer}")
                result.add(footer)
                self._emit(turn, "delta", text=footer.text)
        except asyncio.CancelledError:
            status, outcome, error = "partial", "cancelled", "Stopped before the answer was finished."
            raise
        except NexusError as exc:
            status = "partial" if result.text else "error"
            outcome, error = status, exc.user_message()
        except Exception as exc:
            log.exception("chat turn %s failed", turn.id)
            status = "partial" if result.text else "error"
            outcome, error = status, f"Unexpected error: {type(exc).__name__}: {exc}. Details are in the log file."
        finally:
            _sum_tokens(meta, records)
            self._finalise(turn, result, meta, last_record, started, status, outcome, error)

    async def _build_module(self, turn: Turn, request: str, result: ChatResult, meta: dict[str, Any],
                            model: str | None) -> None:
        """The build path: the builder writes and validates a module (on a worker thread, since it waits on
        this loop for the model); its progress streams into the answer; the finished build waits in
        ``meta["build"]`` for the user's approval — nothing is installed here."""
        loop = asyncio.get_running_loop()

        def say(text: str) -> None:
            delta = TextDelta(text)
            result.add(delta)
            self._emit(turn, "delta", text=text)

        def progress(event: Any) -> None:
            if event.stage in ("writing", "validating", "fixing"):
                loop.call_soon_threadsafe(say, f"- {event.message}\n")

        say("Building a module for this request.\n\n")
        build = await asyncio.to_thread(self.builder.build, request, model=model, progress=progress,
                                        should_stop=lambda: turn._cancel_requested)
        meta["model_ref"] = build.model
        meta["build"] = {"id": build.build_id, "status": build.status, "fix_rounds": build.fix_rounds,
                         "module": build.manifest.name if build.manifest else None,
                         "folder": str(build.folder) if build.folder else None}
        if build.status == "ready" and build.manifest is not None and build.report is not None:
            manifest = build.manifest
            tests = next((c.detail for c in build.report.checks if c.name == "tests"), "")
            say(f"\n**{manifest.display_name}** is built and tested ({tests}). It can reach "
                f"{', '.join(manifest.network_hosts) or 'no network'}"
                + (f" and needs {', '.join(c.label for c in manifest.credentials)}" if manifest.credentials else "")
                + ". Review the code and install it: nothing is installed until you approve.")
        else:
            say(f"\nThe build stopped: {build.message}")

    async def _plan(self, query: str, *, history_chars: int, override: str | None,
                    conversation_id: str) -> ChatPlan:
        if self.planner is not None:
            return await self.planner(query, history_chars=history_chars, override=override,
                                      conversation_id=conversation_id)
        decision = await self.router.decide(query, history_chars=history_chars, override=override,
                                            conversation_id=conversation_id)
        return ChatPlan(decision)

    def _finalise(self, turn: Turn, result: ChatResult, meta: dict[str, Any], record: CallRecord | None,
                  started: float, status: str, outcome: str, error: str | None) -> None:
        meta["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if record is not None:
            meta.setdefault("tokens_in", record.input_tokens)
            meta.setdefault("tokens_out", record.output_tokens)
            meta.setdefault("cost_usd", record.cost_usd)
            meta.update(provider=record.provider, model=record.response_model or record.request_model,
                        ttft_ms=meta.get("ttft_ms") or (record.ttft_ms and round(record.ttft_ms, 1)),
                        finish_reason=(record.finish_reasons or [None])[0])
        if not meta["notices"]:
            del meta["notices"]
        try:
            # Calls the loop did not run (stopped mid-round, tools off) are kept as facts, not as calls: a call
            # without a result in the history makes the next request invalid for every provider.
            if result.tool_calls:
                meta["unrun_tool_calls"] = [c.to_dict() for c in result.tool_calls]
            self.conversations.update_message(turn.assistant_message_id, content=result.text, status=status,
                                              error=error or "", meta=meta)
            stored = self.conversations.message(turn.assistant_message_id)
        except Exception:
            log.exception("could not store the answer of turn %s", turn.id)
            stored = None
        with self._lock:
            self._active.pop(turn.conversation_id, None)
        turn._done.set()
        self._emit(turn, "finished", message=stored, outcome=outcome, error=error)

    def _store_round(self, turn: Turn, text: str, done: RoundDone) -> None:
        """Keep the round's assistant message and tool results, in order, ahead of the still-open answer."""
        self.conversations.insert_before(turn.assistant_message_id, "assistant", text,
                                         tool_calls=done.assistant.tool_calls)
        for message, finished in zip(done.results, done.finished, strict=True):
            self.conversations.insert_before(
                turn.assistant_message_id, "tool", message.content, tool_call_id=message.tool_call_id,
                status="complete" if finished.ok else "error",
                meta={"tool": finished.call.name, "arguments": finished.call.arguments, "ok": finished.ok,
                      "duration_ms": finished.duration_ms, "error_kind": finished.error_kind,
                      "approval": finished.approval})
        self.conversations.update_message(turn.assistant_message_id, content="")

    async def _approve(self, request: ApprovalRequest) -> Approval:
        """Ask whoever listens (the GUI's dialog, the CLI's rule); nobody listening means no."""
        if self.approver is not None:
            return await self.approver(request)
        if not len(self.approvals):
            return "deny"
        pending = PendingApproval(request, asyncio.get_running_loop())
        self.approvals.emit(pending)
        return await pending.future

    def _emit(self, turn: Turn, kind: str, **values: Any) -> None:
        self.events.emit(TurnEvent(kind, turn.id, turn.conversation_id, **values))


class PendingApproval:
    """A risky tool call waiting for the user. ``respond`` may be called from any thread, once."""

    def __init__(self, request: ApprovalRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self._loop = loop
        self.future: asyncio.Future[Approval] = loop.create_future()

    def respond(self, decision: Approval) -> None:
        def settle() -> None:
            if not self.future.done():
                self.future.set_result(decision)

        self._loop.call_soon_threadsafe(settle)


def _sum_tokens(meta: dict[str, Any], records: list[CallRecord]) -> None:
    """Tokens and cost of every model call in the turn (tool rounds make several)."""
    answered = [r for r in records if r.outcome in ("ok", "partial", "cancelled")]
    if not answered:
        return
    for key, attr in (("tokens_in", "input_tokens"), ("tokens_out", "output_tokens"), ("cost_usd", "cost_usd")):
        values = [getattr(r, attr) for r in answered]
        meta[key] = None if any(v is None for v in values) else sum(values)
    first = next((r.ttft_ms for r in answered if r.ttft_ms is not None), None)
    if first is not None:
        meta["ttft_ms"] = round(first, 1)
