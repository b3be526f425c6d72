"""Chat turns end to end: routed, streamed, stored; stop, regenerate, edit; nothing is ever lost."""

from __future__ import annotations

import threading

import pytest

from nexus_core.chat.service import TurnEvent
from nexus_core.core import Core
from nexus_core.errors import NexusError
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer, cut, error, hang, malformed, text


@pytest.fixture
def ready(core: Core, server: ScriptedOpenAIServer) -> Core:
    add_provider(core, server)
    route_all(core, "loc/m1")
    return core


def test_a_turn_is_routed_streamed_and_stored(ready: Core, server: ScriptedOpenAIServer) -> None:
    events: list[TurnEvent] = []
    ready.chat.events.connect(events.append)
    server.script(text(["Hello", ", ", "world"], usage=(12, 3)))
    turn = ready.chat.send(None, "hi there")
    answer = turn.wait(10)
    assert answer.status == "complete"
    assert answer.content == "Hello, world"
    meta = answer.meta
    assert (meta["model_ref"], meta["tier"], meta["task_type"]) == ("loc/m1", "standard", "chat")
    assert (meta["tokens_in"], meta["tokens_out"]) == (12, 3)
    assert meta["latency_ms"] > 0 and meta["ttft_ms"] is not None
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert "".join(e.text for e in events if e.kind == "delta") == "Hello, world"
    conv = ready.chat.conversations.get(answer.conversation_id)
    assert conv.title == "hi there"
    sent = server.requests[-1].body["messages"]
    assert sent[0]["role"] == "system" and sent[-1] == {"role": "user", "content": "hi there"}


def test_history_is_sent_on_the_next_turn(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["first answer"]), text(["second answer"]))
    first = ready.chat.send(None, "one").wait(10)
    ready.chat.send(first.conversation_id, "two").wait(10)
    roles = [(m["role"], m["content"]) for m in server.requests[-1].body["messages"][1:]]
    assert roles == [("user", "one"), ("assistant", "first answer"), ("user", "two")]


@pytest.mark.parametrize(("reply", "status", "needle"), [
    (error(401, "bad key"), "error", "API key"),
    (error(404, "no such model"), "error", "not found"),
    (error(500), "error", "server error"),
    (cut(["part one, ", "part two"], after=1), "partial", "middle of the answer"),
    (malformed(["ok ", "then"], after=1), "partial", "malformed"),
])
def test_failures_keep_the_conversation_and_explain(ready: Core, server: ScriptedOpenAIServer, reply, status: str,
                                                    needle: str) -> None:
    ready.routing.save(ready.routing.table.model_copy(update={"max_retries": 0}))
    server.script(reply)
    answer = ready.chat.send(None, "hello").wait(10)
    assert answer.status == status
    assert needle.lower() in answer.error.lower()
    messages = ready.chat.conversations.messages(answer.conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "hello"
    if status == "partial":
        assert answer.content  # the part that arrived is kept
    assert ready.chat.active_turn(answer.conversation_id) is None


def test_timeout_is_reported(ready: Core, server: ScriptedOpenAIServer) -> None:
    config = ready.providers.config("loc")
    ready.providers.save(config.model_copy(update={"timeout_s": 0.5}))
    ready.routing.save(ready.routing.table.model_copy(update={"max_retries": 0}))
    server.script(hang(5))
    answer = ready.chat.send(None, "hello").wait(10)
    assert answer.status == "error"
    assert "did not answer in time" in answer.error


def test_stop_keeps_the_partial_answer(ready: Core, server: ScriptedOpenAIServer) -> None:
    got_two = threading.Event()
    deltas: list[str] = []

    def watch(event: TurnEvent) -> None:
        if event.kind == "delta":
            deltas.append(event.text)
            if len(deltas) == 2:
                got_two.set()

    ready.chat.events.connect(watch)
    server.script(text([f"w{i} " for i in range(100)], delay=0.05))
    turn = ready.chat.send(None, "long story")
    assert got_two.wait(10)
    assert ready.chat.stop(turn.conversation_id)
    answer = turn.wait(5)
    assert answer.status == "partial"
    assert answer.content.startswith("w0 w1 ")
    assert len(answer.content.split()) < 100
    assert "Stopped" in answer.error
    assert ready.calls.recent(1)[0].outcome == "cancelled"


def test_cancel_before_the_turn_starts_still_finishes_cleanly(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["never"], delay=0.5))
    turn = ready.chat.send(None, "hi")
    turn.cancel()
    answer = turn.wait(5)
    assert answer.status in ("partial", "complete")
    assert ready.chat.active_turn(turn.conversation_id) is None


def test_one_turn_at_a_time_per_conversation(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["slow"] * 20, delay=0.05))
    turn = ready.chat.send(None, "hi")
    with pytest.raises(NexusError, match="still answering"):
        ready.chat.send(turn.conversation_id, "again")
    turn.cancel()
    turn.wait(5)


def test_regenerate_replaces_the_last_answer(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["first"]), text(["second"]))
    first = ready.chat.send(None, "question").wait(10)
    second = ready.chat.regenerate(first.conversation_id).wait(10)
    messages = ready.chat.conversations.messages(first.conversation_id)
    assert [(m.role, m.content) for m in messages] == [("user", "question"), ("assistant", "second")]
    assert second.id != first.id
    assert [m["content"] for m in server.requests[-1].body["messages"][1:]] == ["question"]


def test_edit_and_resend_truncates_and_uses_the_new_text(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["a1"]), text(["a2"]), text(["a1 edited"]))
    a1 = ready.chat.send(None, "q1").wait(10)
    ready.chat.send(a1.conversation_id, "q2").wait(10)
    q1 = ready.chat.conversations.messages(a1.conversation_id)[0]
    ready.chat.edit_and_resend(q1.id, "q1 edited").wait(10)
    messages = ready.chat.conversations.messages(a1.conversation_id)
    assert [(m.role, m.content) for m in messages] == [("user", "q1 edited"), ("assistant", "a1 edited")]
    assert server.requests[-1].body["messages"][-1]["content"] == "q1 edited"


def test_conversation_override_picks_the_model(ready: Core, server: ScriptedOpenAIServer) -> None:
    conv = ready.chat.conversations.create()
    ready.chat.conversations.set_model_override(conv.id, "loc/m2")
    answer = ready.chat.send(conv.id, "hello").wait(10)
    assert server.requests[-1].body["model"] == "m2"
    assert answer.meta["route_source"] == "override"


def test_streaming_answer_survives_a_crash(core: Core) -> None:
    conv = core.chat.conversations.create()
    core.chat.conversations.append(conv.id, "user", "q")
    core.chat.conversations.append(conv.id, "assistant", "half an ans", status="streaming")
    assert core.chat.conversations.recover_interrupted() == 1
    answer = core.chat.conversations.messages(conv.id)[-1]
    assert (answer.status, answer.content) == ("partial", "half an ans")
    assert "closed" in answer.error


def test_search_rename_delete_and_export(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["Paris is the capital.\n\n```python\nprint('hi')\n```"]), text(["ok"]))
    a = ready.chat.send(None, "capital of France?").wait(10)
    b = ready.chat.send(None, "something else").wait(10)
    store = ready.chat.conversations
    assert [c.id for c in store.list("paris")] == [a.conversation_id]  # found by message text
    assert [c.id for c in store.list("something")] == [b.conversation_id]  # by title
    assert store.list("100%") == []  # LIKE wildcards are literal
    store.rename(a.conversation_id, "Geography")
    markdown = store.export_markdown(a.conversation_id)
    assert markdown.startswith("# Geography")
    assert "## You\n\ncapital of France?" in markdown
    assert "```python\nprint('hi')\n```" in markdown
    assert "loc/m1" in markdown
    with pytest.raises(NexusError, match="cannot be empty"):
        store.rename(a.conversation_id, "   ")
    store.delete(a.conversation_id)
    assert [c.id for c in store.list()] == [b.conversation_id]
    assert ready.store.query_one("SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
                                 (a.conversation_id,))[0] == 0


def test_empty_message_is_refused(ready: Core) -> None:
    with pytest.raises(NexusError, match="empty"):
        ready.chat.send(None, "   ")
