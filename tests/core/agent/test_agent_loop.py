"""The tool loop through the real chat service, router and a scripted server that asks for tools."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.chat.service import PendingApproval, TurnEvent
from nexus_core.core import Core
from nexus_core.tools import ToolFailure, tool
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer, text, tool_calls
from tests.support.memory_keyring import MemoryKeyring


@tool()
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first
        b: the second
    """
    return a + b


@tool()
def picky(city: str) -> str:
    """Fails on purpose for an unknown city."""
    raise ToolFailure(f"no such city: {city}", kind="not_found")


@tool(timeout_s=0.3)
async def slow() -> str:
    """Takes far too long."""
    import asyncio

    await asyncio.sleep(5)
    return "never"


@tool()
def broken() -> str:
    """Raises an unexpected error."""
    raise RuntimeError("kaboom")


@tool(risk="risky")
def write_note(ctx, text: str) -> str:
    """Writes a note into the workspace."""
    (ctx.workspace / "note.txt").write_text(text)
    return "written"


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1"]) as srv:
        yield srv


@pytest.fixture
def core(nexus_home: Path, server: ScriptedOpenAIServer) -> Iterator[Core]:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    for t in (add, picky, slow, broken, write_note):
        opened.tools.register(t, replace=True)
    add_provider(opened, server)
    route_all(opened, "loc/m1")
    yield opened
    opened.close(job_timeout=5)


def _tool_messages(server: ScriptedOpenAIServer, request: int = -1) -> list[dict]:
    return [m for m in server.requests[request].body["messages"] if m["role"] == "tool"]


def test_tool_round_trip_is_stored_in_order(core: Core, server: ScriptedOpenAIServer) -> None:
    events: list[TurnEvent] = []
    core.chat.events.connect(events.append)
    server.script(tool_calls([("call_1", "add", {"a": 2, "b": 40})]), text(["The sum is 42."]))
    answer = core.chat.send(None, "what is 2+40? use the tool").wait(10)
    assert answer.status == "complete" and answer.content == "The sum is 42."
    # the model got the schema, then the tool result
    sent_tools = {t["function"]["name"]: t["function"] for t in server.requests[0].body["tools"]}
    assert sent_tools["add"]["parameters"]["required"] == ["a", "b"]
    assert _tool_messages(server) == [{"role": "tool", "tool_call_id": "call_1", "content": "42"}]
    stored = core.chat.conversations.messages(answer.conversation_id)
    assert [(m.role, bool(m.tool_calls)) for m in stored] == [("user", False), ("assistant", True), ("tool", False),
                                                              ("assistant", False)]
    assert stored[2].meta["tool"] == "add" and stored[2].meta["ok"] is True
    kinds = [e.kind for e in events]
    assert kinds.index("tool_started") < kinds.index("tool_finished") < kinds.index("round_done")
    # the next turn sends the whole tool history back in the right shape
    server.script(text(["ok"]))
    core.chat.send(answer.conversation_id, "thanks").wait(10)
    roles = [m["role"] for m in server.requests[-1].body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_parallel_calls_run_concurrently(core: Core, server: ScriptedOpenAIServer) -> None:
    @tool(name="nap")
    def nap(seconds: float) -> str:
        """Sleeps."""
        time.sleep(seconds)
        return "rested"

    core.tools.register(nap, replace=True)
    server.script(tool_calls([("c1", "nap", {"seconds": 0.5}), ("c2", "nap", {"seconds": 0.5}),
                              ("c3", "nap", {"seconds": 0.5})]), text(["done"]))
    started = time.perf_counter()
    answer = core.chat.send(None, "nap thrice").wait(10)
    assert answer.content == "done"
    assert time.perf_counter() - started < 1.4  # three 0.5 s naps overlapped
    assert [m["tool_call_id"] for m in _tool_messages(server)] == ["c1", "c2", "c3"]


@pytest.mark.parametrize(("call", "kind", "needle"), [
    (("c1", "nope", {}), "unknown_tool", "no tool named 'nope'"),
    (("c1", "add", {"a": "two", "b": 1}), "invalid_arguments", "a: Input should be a valid integer"),
    (("c1", "add", {"a": 1}), "invalid_arguments", "b: Field required"),
    (("c1", "picky", {"city": "Atlantis"}), "not_found", "no such city: Atlantis"),
    (("c1", "slow", {}), "timeout", "did not finish within"),
    (("c1", "broken", {}), "tool_error", "RuntimeError: kaboom"),
])
def test_bad_calls_become_structured_errors(core: Core, server: ScriptedOpenAIServer, call, kind: str,
                                            needle: str) -> None:
    server.script(tool_calls([call]), text(["I see the error."]))
    answer = core.chat.send(None, "try the tool").wait(10)
    assert answer.status == "complete"
    error = json.loads(_tool_messages(server)[0]["content"])["error"]
    assert error["kind"] == kind
    assert needle in error["message"]
    stored_tool = next(m for m in core.chat.conversations.messages(answer.conversation_id) if m.role == "tool")
    assert stored_tool.status == "error" and stored_tool.meta["error_kind"] == kind


def test_malformed_json_arguments(core: Core, server: ScriptedOpenAIServer) -> None:
    reply = tool_calls([("c1", "add", {"a": 1, "b": 2})])
    reply.calls = [("c1", "add", "{\"a\": 1, \"b\": ")]  # cut-off JSON text, as a model may send
    server.script(reply, text(["sorry"]))
    answer = core.chat.send(None, "add").wait(10)
    assert server.requests[0].body["tools"]  # the call really came back from the model
    error = json.loads(_tool_messages(server)[0]["content"])["error"]
    assert error["kind"] == "invalid_json"
    assert answer.status == "complete"


def test_risky_tool_needs_approval(core: Core, server: ScriptedOpenAIServer, nexus_home: Path) -> None:
    asked: list[PendingApproval] = []

    def answer_request(pending: PendingApproval) -> None:
        asked.append(pending)
        pending.respond("deny" if len(asked) == 1 else "always")

    core.chat.approvals.connect(answer_request)
    server.script(tool_calls([("c1", "write_note", {"text": "hi"})]), text(["denied, ok"]))
    first = core.chat.send(None, "write a note").wait(10)
    workspace = core.chat._tool_context(first.conversation_id).workspace
    assert not (workspace / "note.txt").exists()
    assert json.loads(_tool_messages(server)[0]["content"])["error"]["kind"] == "denied"
    assert asked[0].request.tool == "write_note" and asked[0].request.arguments == {"text": "hi"}
    # approve "always": runs, and is not asked again in this conversation
    server.script(tool_calls([("c2", "write_note", {"text": "one"})]), text(["ok"]),
                  tool_calls([("c3", "write_note", {"text": "two"})]), text(["ok again"]))
    core.chat.send(first.conversation_id, "again").wait(10)
    core.chat.send(first.conversation_id, "and again").wait(10)
    assert len(asked) == 2
    assert (workspace / "note.txt").read_text() == "two"


def test_nobody_to_ask_means_denied(core: Core, server: ScriptedOpenAIServer) -> None:
    server.script(tool_calls([("c1", "write_note", {"text": "x"})]), text(["fine"]))
    core.chat.send(None, "write").wait(10)
    assert json.loads(_tool_messages(server)[0]["content"])["error"]["kind"] == "denied"


def test_round_limit_stops_the_loop(core: Core, server: ScriptedOpenAIServer) -> None:
    core.chat.agent.max_rounds = 2
    server.script(*[tool_calls([(f"c{i}", "add", {"a": i, "b": i})]) for i in range(5)])
    answer = core.chat.send(None, "loop forever").wait(10)
    assert len(server.requests) == 2
    assert any("Stopped after 2 rounds" in n for n in answer.meta.get("notices", []))


def test_no_tools_sends_no_schemas(core: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["plain"]))
    core.chat.send(None, "hello", use_tools=False).wait(10)
    assert "tools" not in server.requests[-1].body


def test_stop_while_a_tool_runs(core: Core, server: ScriptedOpenAIServer) -> None:
    started = threading.Event()

    @tool(name="wait_long", timeout_s=30)
    async def wait_long() -> str:
        """Waits."""
        import asyncio

        started.set()
        await asyncio.sleep(30)
        return "late"

    core.tools.register(wait_long, replace=True)
    server.script(tool_calls([("c1", "wait_long", {})]))
    turn = core.chat.send(None, "wait")
    assert started.wait(5)
    t0 = time.perf_counter()
    turn.cancel()
    answer = turn.wait(5)
    assert time.perf_counter() - t0 < 2
    assert answer.status == "partial"


def test_failed_tool_results_stay_in_the_history(core: Core, server: ScriptedOpenAIServer) -> None:
    server.script(tool_calls([("c1", "picky", {"city": "Atlantis"})]), text(["no such city"]), text(["ok"]))
    first = core.chat.send(None, "weather in Atlantis").wait(10)
    core.chat.send(first.conversation_id, "never mind").wait(10)
    roles = [m["role"] for m in server.requests[-1].body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_calls_never_run_are_not_left_without_results(core: Core, server: ScriptedOpenAIServer) -> None:
    server.script(tool_calls([("c1", "add", {"a": 1, "b": 2})]), text(["fine"]))
    first = core.chat.send(None, "add", use_tools=False).wait(10)
    assert first.tool_calls == [] and first.meta["unrun_tool_calls"][0]["name"] == "add"
    core.chat.send(first.conversation_id, "next").wait(10)
    sent = server.requests[-1].body["messages"]
    assert not any(m.get("tool_calls") for m in sent)


def test_approval_request_says_how_the_tool_is_isolated(core: Core, server: ScriptedOpenAIServer) -> None:
    from nexus_core.sandbox import sandbox_capabilities

    requests = []

    def answer(pending: PendingApproval) -> None:
        requests.append(pending.request)
        pending.respond("once")

    core.chat.approvals.connect(answer)
    server.script(tool_calls([("c1", "run_python", {"code": "print(6 * 7)"})]), text(["42 it is"]))
    answer_msg = core.chat.send(None, "compute 6*7 in python").wait(30)
    assert answer_msg.content == "42 it is"
    expected = "strong isolation" if sandbox_capabilities().bubblewrap else "WEAKER isolation"
    assert expected in requests[0].isolation
    result = json.loads(_tool_messages(server)[0]["content"])
    assert result["stdout"] == "42\n" and result["exit_code"] == 0
