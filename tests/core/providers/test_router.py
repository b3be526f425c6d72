"""The router on a real core against scripted loopback servers: retries, fallbacks, cooldown, records."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from contextlib import aclosing

import pytest
from pydantic import ValidationError

from nexus_core.core import Core
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.types import ChatMessage, TextDelta
from nexus_core.routing.router import Attempt, Notice, Router
from nexus_core.routing.table import Assignment, Price, RoutingTable
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer, cut, error, text

MESSAGES = [ChatMessage("user", "hello")]


def _run(core: Core, target, **kwargs):
    async def go():
        events = []
        try:
            async for event in core.router.stream(target, MESSAGES, **kwargs):
                events.append(event)
        except ProviderError as exc:
            return events, exc
        return events, None

    return core.aio.run(go(), timeout=30)


def _decide(core: Core, query: str, **kwargs):
    return core.aio.run(core.router.decide(query, **kwargs), timeout=30)


def _text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_candidates_order_and_dedupe() -> None:
    table = RoutingTable(tiers={"heavy": Assignment(model="a/x", fallbacks=["b/y"])},
                         tasks={"code_generation": Assignment(model="c/z", fallbacks=["a/x"])})
    assert table.candidates("code_generation", "heavy") == ["c/z", "a/x", "b/y"]
    assert table.candidates("chat", "heavy") == ["a/x", "b/y"]
    assert table.candidates("chat", "standard") == []


def test_table_rejects_refs_without_provider() -> None:
    with pytest.raises(ValidationError, match="provider/model"):
        RoutingTable(tiers={"standard": Assignment(model="just-a-model")})


def test_cost_from_price_table() -> None:
    table = RoutingTable(prices={"p/m": Price(input_per_mtok=3.0, output_per_mtok=15.0)})
    assert table.cost("p/m", 1_000_000, 100_000) == pytest.approx(4.5)
    assert table.cost("other/m", 10, 10) is None


def test_decide_uses_task_assignment_then_tier(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    core.routing.save(RoutingTable(tiers={"standard": Assignment(model="loc/m1"), "heavy": Assignment(model="loc/m1")},
                                   tasks={"code_generation": Assignment(model="loc/m2")}))
    code = _decide(core, "write a python function that sorts")
    assert (code.task_type.value, code.tier, code.candidates[0]) == ("code_generation", "heavy", "loc/m2")
    chat = _decide(core, "hi")
    assert (chat.task_type.value, chat.tier, chat.candidates) == ("chat", "standard", ["loc/m1"])


def test_decide_without_assignment_says_what_to_do(core: Core) -> None:
    with pytest.raises(ProviderError, match="No model is assigned") as info:
        _decide(core, "hi")
    assert info.value.kind is FailureKind.NOT_CONFIGURED
    assert "Model assignment" in info.value.hint


def test_override_wins_over_the_table(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    route_all(core, "loc/m1")
    decision = _decide(core, "hi", override="loc/m2")
    assert decision.candidates == ["loc/m2"]
    assert decision.source == "override"


def test_table_changes_apply_without_restart(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    route_all(core, "loc/m1")
    assert _decide(core, "hi").candidates == ["loc/m1"]
    route_all(core, "loc/m2")
    assert _decide(core, "hi").candidates == ["loc/m2"]


def test_classifier_model_refines_the_task(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    table = RoutingTable(tiers={t: Assignment(model="loc/m1") for t in ("standard", "heavy", "ultra")},
                         tasks={"translation": Assignment(model="loc/m2")}, classifier_model="loc/m1")
    core.routing.save(table)
    server.script(text(["translation"]))
    decision = _decide(core, "bonjour tout le monde")
    assert decision.task_type.value == "translation"
    assert decision.source == "classifier"
    assert decision.candidates[0] == "loc/m2"
    classifier_call = core.calls.recent(1)[0]
    assert classifier_call.module_context == "router.classifier"
    assert classifier_call.task_type == "classification"


def test_classifier_failure_falls_back_to_rules(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    route_all(core, "loc/m1")
    table = core.routing.table
    table.classifier_model = "loc/m1"
    core.routing.save(table)
    server.script(error(500))
    decision = _decide(core, "write a python script")
    assert decision.task_type.value == "code_generation"
    assert decision.source == "rules"


def test_retry_after_is_honoured_then_succeeds(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    router = Router(core.providers, core.routing, core.calls, sleep=fake_sleep)
    core.routing.save(RoutingTable(max_retries=2))
    server.script(error(429, retry_after=7), error(503), text(["ok"]))

    async def go():
        return [e async for e in router.stream("loc/m1", MESSAGES)]

    events = core.aio.run(go(), timeout=30)
    assert _text(events) == "ok"
    assert waits[0] == pytest.approx(7.0)
    assert 0.8 <= waits[1] <= 1.2  # exponential backoff for attempt 2 (no Retry-After on the 503)
    attempts = [e.attempt for e in events if isinstance(e, Attempt)]
    assert attempts == [1, 2, 3]
    outcomes = [r.outcome for r in core.calls.recent(10)]
    assert sorted(outcomes) == ["error", "error", "ok"]


def test_backoff_grows_exponentially_with_a_cap(core: Core) -> None:
    router = Router(core.providers, core.routing, core.calls, backoff_base_s=1.0, backoff_cap_s=5.0)
    waits = [router._backoff(n) for n in (1, 2, 3, 4, 5)]
    assert 0.8 <= waits[0] <= 1.2
    assert 1.6 <= waits[1] <= 2.4
    assert 3.2 <= waits[2] <= 4.8
    assert all(w <= 6.0 for w in waits[3:])


def test_fallback_after_retries_and_cooldown(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    core.routing.save(RoutingTable(max_retries=1, cooldown_s=120,
                                   tiers={"standard": Assignment(model="loc/m1", fallbacks=["loc/m2"])}))
    server.script(error(500), error(500), text(["from m2"]))
    decision = _decide(core, "hi")
    events, failure = _run(core, decision)
    assert failure is None
    assert _text(events) == "from m2"
    assert [r.body["model"] for r in server.requests] == ["m1", "m1", "m2"]
    assert any(isinstance(e, Notice) and "falling back" in e.text for e in events)
    assert core.providers.cooldown_left("loc/m1") > 100
    # the next turn skips the cooling deployment entirely
    server.script(text(["again m2"]))
    events, failure = _run(core, decision)
    assert _text(events) == "again m2"
    assert server.requests[-1].body["model"] == "m2"
    assert any(isinstance(e, Notice) and "cooling down" in e.text for e in events)


def test_auth_error_is_not_retried_and_names_the_key(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    core.routing.save(RoutingTable(max_retries=3))
    server.script(error(401, "invalid key"))
    _events, failure = _run(core, "loc/m1")
    assert failure is not None and failure.kind is FailureKind.AUTH
    assert "'loc'" in failure.hint  # says which provider's key
    assert len(server.requests) == 1


def test_all_fallbacks_failing_lists_each(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    core.routing.save(RoutingTable(max_retries=0, tiers={"standard": Assignment(model="loc/m1",
                                                                                 fallbacks=["loc/m2"])}))
    server.script(error(404), error(500))
    _events, failure = _run(core, _decide(core, "hi"))
    assert failure is not None
    assert "All 2 models failed" in failure.what
    assert "loc/m1" in failure.what and "loc/m2" in failure.what


def test_stream_cut_is_not_retried_and_keeps_the_partial(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    core.routing.save(RoutingTable(max_retries=3, tiers={"standard": Assignment(model="loc/m1",
                                                                                 fallbacks=["loc/m2"])}))
    server.script(cut(["one ", "two ", "three"], after=2))
    events, failure = _run(core, _decide(core, "hi"))
    assert failure is not None and failure.kind is FailureKind.STREAM_CUT
    assert _text(events) == "one two "
    assert len(server.requests) == 1
    assert core.calls.recent(1)[0].outcome == "partial"


def test_call_record_has_genai_attributes_and_cost(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    core.routing.save(RoutingTable(prices={"loc/m1": Price(input_per_mtok=1_000_000, output_per_mtok=2_000_000)}))
    server.script(text(["a", "b"], usage=(3, 2)))
    _run(core, "loc/m1", task_type="chat", tier="standard", conversation_id="conv-1", module_context="tests")
    record = core.calls.recent(1)[0]
    attrs = record.attributes()
    assert attrs["gen_ai.provider.name"] == "loc"
    assert attrs["gen_ai.request.model"] == "m1"
    assert attrs["gen_ai.response.model"] == "m1"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (3, 2)
    assert attrs["gen_ai.conversation.id"] == "conv-1"
    assert attrs["nexus.module_context"] == "tests"
    assert record.cost_usd == pytest.approx(3 + 4)
    assert record.latency_ms is not None and record.ttft_ms is not None and record.ttft_ms <= record.latency_ms
    row = core.store.query_one('SELECT "gen_ai.request.model", "nexus.outcome" FROM llm_calls')
    assert tuple(row) == ("m1", "ok")


def test_cancelling_mid_stream_records_a_cancelled_call(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    server.script(text(["x"] * 50, delay=0.1))
    got: list[str] = []

    async def go():
        async with aclosing(core.router.stream("loc/m1", MESSAGES)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    got.append(event.text)
                    if len(got) == 2:
                        break

    started = time.perf_counter()
    core.aio.run(go(), timeout=10)
    assert time.perf_counter() - started < 2.0  # did not wait for the other 48 chunks
    record = core.calls.recent(1)[0]
    assert record.outcome == "cancelled"
    assert record.finish_reasons == ["cancelled"]


def test_cancelling_the_task_mid_stream_stops_promptly(core: Core, server: ScriptedOpenAIServer) -> None:
    add_provider(core, server)
    server.script(text(["x"] * 50, delay=0.1))
    first = threading.Event()

    async def go():
        async for event in core.router.stream("loc/m1", MESSAGES):
            if isinstance(event, TextDelta):
                first.set()

    future = core.aio.submit(go())
    assert first.wait(5)
    started = time.perf_counter()
    future.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(5)
    deadline = time.time() + 5
    while time.time() < deadline and not core.calls.recent(1):
        time.sleep(0.02)
    assert time.perf_counter() - started < 2.0
    assert core.calls.recent(1)[0].outcome == "cancelled"
