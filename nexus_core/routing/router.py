"""The router (LIDM): classify a query, pick models from the assignment table, and stream an answer
with retries (exponential backoff, honouring Retry-After), ordered fallbacks and per-deployment cooldown.
Every attempt is recorded as a call.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from nexus_core.providers.errors import COOLS_DOWN, FailureKind, ProviderError
from nexus_core.providers.pool import ProviderPool, split_model_ref
from nexus_core.providers.records import CallRecord, CallRecorder
from nexus_core.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from nexus_core.routing.classify import (
    TASK_LABELS,
    Classification,
    TaskType,
    Tier,
    classify,
    parse_label,
    tier_for,
)
from nexus_core.routing.table import RoutingTableStore

log = logging.getLogger(__name__)
MAX_INLINE_WAIT_S = 30.0  # a longer Retry-After moves on to the next fallback instead of waiting
CLASSIFIER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RouteDecision:
    task_type: TaskType
    tier: str
    candidates: list[str]
    reason: str
    source: str  # "rules", "classifier" or "override"


@dataclass(frozen=True)
class Attempt:
    """A request to ``model_ref`` is starting (``attempt`` counts retries of the same model from 1)."""

    model_ref: str
    attempt: int
    provider_kind: str


@dataclass(frozen=True)
class Notice:
    """A routing note for the user: a retry, a fallback, a skipped deployment."""

    text: str


@dataclass(frozen=True)
class CallDone:
    record: CallRecord


RouterEvent = StreamEvent | Attempt | Notice | CallDone


@dataclass
class _AttemptState:
    result: ChatResult = field(default_factory=ChatResult)
    first_token_at: float | None = None
    emitted: bool = False


class Router:
    def __init__(self, pool: ProviderPool, tables: RoutingTableStore, recorder: CallRecorder, *,
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 8.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.pool = pool
        self.tables = tables
        self.recorder = recorder
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._sleep = sleep

    # ---- deciding ----------------------------------------------------------------------------------

    async def decide(self, query: str, *, history_chars: int = 0, override: str | None = None,
                     conversation_id: str | None = None) -> RouteDecision:
        """The default route: rules (refined by the classifier model when one is set), then the assignment table."""
        if override:
            rules = classify(query, history_chars=history_chars)
            split_model_ref(override)
            return RouteDecision(rules.task_type, rules.tier.value, [override],
                                 f"model chosen for this conversation ({rules.reason})", "override")
        found = await self.classify(query, history_chars=history_chars, conversation_id=conversation_id)
        return RouteDecision(found.task_type, found.tier.value, self.candidates(found.task_type, found.tier),
                             found.reason, found.source)

    async def classify(self, query: str, *, history_chars: int = 0, use_model: bool = True,
                       conversation_id: str | None = None) -> Classification:
        """Task type and tier by rules, refined by the table's classifier model when one is set (and wanted)."""
        rules = classify(query, history_chars=history_chars)
        model = self.tables.table.classifier_model
        if not (use_model and model):
            return rules
        refined = await self._ask_classifier(model, query, conversation_id)
        if refined is None or refined == rules.task_type:
            return rules
        return Classification(refined, tier_for(refined, query, history_chars=history_chars),
                              f"classifier model said {refined.value}", "classifier")

    def candidates(self, task_type: TaskType, tier: Tier) -> list[str]:
        """The assigned model and its fallbacks; NOT_CONFIGURED (saying where to fix it) when none is assigned."""
        candidates = self.tables.table.candidates(task_type, tier)
        if not candidates:
            raise ProviderError(FailureKind.NOT_CONFIGURED,
                                f"No model is assigned for {TASK_LABELS[task_type].lower()} ({tier.value} tier).",
                                hint="Open Model assignment and pick a model for this tier or task, choose a model "
                                     "for this conversation, or pass --model provider/model.")
        return candidates

    async def _ask_classifier(self, model_ref: str, query: str, conversation_id: str | None) -> TaskType | None:
        labels = ", ".join(t.value for t in TaskType)
        messages = [ChatMessage("system", "Classify the user's request. Answer with exactly one label from: "
                                          f"{labels}. No other words."),
                    ChatMessage("user", query[:4000])]
        try:
            async with asyncio.timeout(CLASSIFIER_TIMEOUT_S):
                text, _model = await self.complete(model_ref, messages, task_type=TaskType.CLASSIFICATION.value,
                                                   tier="standard", conversation_id=conversation_id,
                                                   module_context="router.classifier", max_tokens=8, temperature=0.0,
                                                   retries=0)
        except (ProviderError, TimeoutError) as exc:
            log.info("classifier %s unavailable, using rules: %s", model_ref, exc)
            return None
        return parse_label(text)

    # ---- answering ---------------------------------------------------------------------------------

    async def stream(self, target: RouteDecision | str, messages: list[ChatMessage], *,
                     tools: list[ToolSpec] | None = None, task_type: str | None = None, tier: str | None = None,
                     conversation_id: str | None = None, module_context: str | None = None,
                     temperature: float | None = None, max_tokens: int | None = None,
                     stop: list[str] | None = None, client: str | None = None,
                     retries: int | None = None) -> AsyncIterator[RouterEvent]:
        """Stream an answer from the first candidate that works (``client``: who asked, when it was not the app
        itself, e.g. a program calling the local server).

        Retries happen only before any part of the answer has been streamed; after that a failure is
        raised as is (the caller keeps the partial answer).
        """
        if isinstance(target, RouteDecision):
            candidates, task_type, tier = target.candidates, task_type or target.task_type.value, tier or target.tier
        else:
            candidates = [target]
        table = self.tables.table
        max_retries = table.max_retries if retries is None else retries
        failures: list[tuple[str, ProviderError]] = []
        for index, ref in enumerate(candidates):
            is_last = index == len(candidates) - 1
            left = self.pool.cooldown_left(ref)
            if left > 0 and not is_last:
                yield Notice(f"{ref} is cooling down after failures ({left:.0f} s left); trying the next model.")
                continue
            try:
                provider_name, model = split_model_ref(ref)
                provider = self.pool.get(provider_name)
            except ProviderError as exc:
                failures.append((ref, exc))
                if not is_last:
                    yield Notice(f"{ref} cannot be used ({exc.what}); trying the next model.")
                continue
            for attempt in range(1, max_retries + 2):
                state = _AttemptState()
                started = time.perf_counter()
                record = CallRecord(provider=provider_name, request_model=model, provider_kind=provider.kind,
                                    conversation_id=conversation_id, task_type=task_type, tier=tier,
                                    module_context=module_context, attempt=attempt, client=client)
                yield Attempt(ref, attempt, provider.kind)
                request = ChatRequest(model=model, messages=messages, tools=list(tools or []),
                                      temperature=temperature, max_tokens=max_tokens, stop=list(stop or []))
                try:
                    async with aclosing(provider.stream(request)) as events:
                        async for event in events:
                            if isinstance(event, TextDelta | ToolCallDelta):
                                if state.first_token_at is None:
                                    state.first_token_at = time.perf_counter()
                                state.emitted = True
                            state.result.add(event)
                            yield event
                except (asyncio.CancelledError, GeneratorExit):
                    self._finish_record(record, state, started, ref, outcome="cancelled")
                    raise
                except ProviderError as exc:
                    self._finish_record(record, state, started, ref, error=exc)
                    yield CallDone(record)
                    if state.emitted:
                        raise
                    if exc.retryable and attempt <= max_retries:
                        wait = self._backoff(attempt) if exc.retry_after is None else exc.retry_after
                        if wait <= MAX_INLINE_WAIT_S:
                            yield Notice(f"{ref}: {exc.kind.value.replace('_', ' ')}; retrying in {wait:.1f} s "
                                         f"(attempt {attempt + 1} of {max_retries + 1}).")
                            await self._sleep(wait)
                            continue
                    if exc.kind in COOLS_DOWN:
                        self.pool.cool_down(ref, max(table.cooldown_s, exc.retry_after or 0.0))
                    failures.append((ref, exc))
                    if not is_last:
                        yield Notice(f"{ref} failed ({exc.kind.value.replace('_', ' ')}); falling back to "
                                     f"{candidates[index + 1]}.")
                    break
                else:
                    self._finish_record(record, state, started, ref)
                    self.pool.clear_cooldown(ref)
                    yield CallDone(record)
                    return
        raise _summarise(failures)

    async def complete(self, target: RouteDecision | str, messages: list[ChatMessage], **options: Any
                       ) -> tuple[str, str | None]:
        """The whole text of an answer (no tools) and the model that gave it: for callers that need the text,
        not the stream (the module builder, the curriculum agent, the classifier)."""
        text, model_ref = "", None
        async with aclosing(self.stream(target, messages, **options)) as events:
            async for event in events:
                if isinstance(event, Attempt):
                    model_ref = event.model_ref
                elif isinstance(event, TextDelta):
                    text += event.text
        return text, model_ref

    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return base * random.uniform(0.8, 1.2)

    def _finish_record(self, record: CallRecord, state: _AttemptState, started: float, ref: str, *,
                       error: ProviderError | None = None, outcome: str | None = None) -> None:
        now = time.perf_counter()
        result = state.result
        record.latency_ms = (now - started) * 1000
        if state.first_token_at is not None:
            record.ttft_ms = (state.first_token_at - started) * 1000
        record.response_model = result.response_model
        record.input_tokens = result.input_tokens
        record.output_tokens = result.output_tokens
        if result.finish_reason:
            record.finish_reasons = [result.finish_reason]
        if record.provider_kind == "local":
            record.cost_usd = 0.0
        else:
            record.cost_usd = self.tables.table.cost(ref, result.input_tokens, result.output_tokens)
        if error is not None:
            record.outcome = "partial" if state.emitted else "error"
            record.error_type = error.error_type
            record.error_message = error.what[:1000]
        elif outcome is not None:
            record.outcome = outcome
            record.finish_reasons = ["cancelled"]
        try:
            self.recorder.record(record)
        except Exception:  # a full disk must not turn an answer into a failure
            log.exception("could not record LLM call %s", record.id)


def _summarise(failures: list[tuple[str, ProviderError]]) -> ProviderError:
    if not failures:
        return ProviderError(FailureKind.NOT_CONFIGURED, "No model could be tried.",
                             hint="Check Model assignment and Providers.")
    if len(failures) == 1:
        return failures[0][1]
    last = failures[-1][1]
    lines = "\n".join(f"• {ref}: {error.what}" for ref, error in failures)
    return ProviderError(last.kind, f"All {len(failures)} models failed:\n{lines}", provider=last.provider,
                         model=last.model, status=last.status, retry_after=last.retry_after, hint=last.hint)


__all__ = ["Attempt", "CallDone", "Finish", "Notice", "RouteDecision", "Router", "RouterEvent"]
