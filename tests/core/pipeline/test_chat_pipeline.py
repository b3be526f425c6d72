"""The chat pane follows the user's chat pipeline: an edit saved in the graph changes the next answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_core.core import Core
from nexus_core.pipeline import serialize
from nexus_core.pipeline.executor import PipelineError
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer, text


@pytest.fixture
def ready(core: Core, server: ScriptedOpenAIServer) -> Core:
    add_provider(core, server)
    route_all(core, "loc/m1")
    return core


def edited_chat_graph(core: Core, **params: dict[str, object]):  # type: ignore[no-untyped-def]
    graph = core.pipelines.chat_graph()
    for node_id, values in params.items():
        for name, value in values.items():
            graph.set_param(node_id, name, value)
    return graph


def test_the_default_graph_routes_like_the_assignment_table(ready: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["from m1"]))
    answer = ready.chat.send(None, "hello there").wait(10)
    assert answer.status == "complete" and answer.meta["model_ref"] == "loc/m1"
    assert server.requests[-1].body["model"] == "m1"
    assert server.requests[-1].body.get("tools")  # the default tool picker offers every tool


def test_editing_the_model_selector_changes_which_model_answers(ready: Core, server: ScriptedOpenAIServer) -> None:
    ready.pipelines.save_chat_graph(edited_chat_graph(
        ready, models={"model": "loc/m2"}, tools={"mode": "none"}, synthesis={"footer": "— via the pipeline"},
        executor={"temperature": 0.2, "system_prompt": "Answer in one word."}))
    server.script(text(["from m2"]))
    answer = ready.chat.send(None, "hello there").wait(10)
    assert answer.status == "complete"
    body = server.requests[-1].body
    assert body["model"] == "m2" and "tools" not in body and body["temperature"] == 0.2
    assert "Answer in one word." in body["messages"][0]["content"]
    assert answer.content == "from m2\n\n— via the pipeline"
    assert answer.meta["route_source"] == "pipeline"


def test_a_pinned_tier_and_task_show_in_the_answer_meta(ready: Core, server: ScriptedOpenAIServer) -> None:
    ready.pipelines.save_chat_graph(edited_chat_graph(ready, classifier={"task_type": "math"},
                                                      tiers={"tier": "ultra"}))
    server.script(text(["42"]))
    answer = ready.chat.send(None, "hello").wait(10)
    assert (answer.meta["task_type"], answer.meta["tier"]) == ("math", "ultra")


def test_a_broken_graph_is_not_saved_and_a_failing_one_explains(ready: Core, server: ScriptedOpenAIServer) -> None:
    graph = ready.pipelines.chat_graph()
    graph.remove_node("models")
    with pytest.raises(PipelineError, match="required input 'decision'"):
        ready.pipelines.save_chat_graph(graph)
    assert not ready.pipelines.chat_path.exists()  # the user's file was never written with it
    route_all(ready, "")  # no model assigned any more
    answer = ready.chat.send(None, "hello").wait(10)
    assert answer.status == "error" and "No model is assigned" in answer.error


def test_a_hand_edited_file_is_picked_up_and_reset_restores_the_default(ready: Core,
                                                                          server: ScriptedOpenAIServer) -> None:
    ready.pipelines.save_chat_graph(edited_chat_graph(ready, models={"model": "loc/m2"}))
    data = json.loads(ready.pipelines.chat_path.read_text())
    next(n for n in data["nodes"] if n["id"] == "models")["params"]["model"] = "loc/m3"
    ready.pipelines.chat_path.write_text(json.dumps(data))
    server.script(text(["m3 here"]), text(["m1 again"]))
    assert ready.chat.send(None, "hi").wait(10).meta["model_ref"] == "loc/m3"
    ready.pipelines.reset_chat_graph()
    assert ready.chat.send(None, "hi").wait(10).meta["model_ref"] == "loc/m1"
    assert Path(str(ready.pipelines.chat_path) + ".bak").is_file() or ready.pipelines.chat_path.with_suffix(
        ".json.bak").is_file()


def test_the_chat_graph_runs_headless_through_the_cli_nodes(ready: Core, server: ScriptedOpenAIServer) -> None:
    from nexus_core.pipeline.executor import Executor

    server.script(text(["headless answer"]))
    graph = serialize.load(ready.pipelines.default_path("chat"), ready.pipelines.registry)
    graph.set_param("synthesis", "footer", "(end)")
    result = ready.aio.run(Executor(ready.pipelines.registry, services=ready.pipelines.services).run(
        graph, {"query": "hello"}), timeout=20)
    assert result.ok and result.output("synthesis", "text") == "headless answer\n\n(end)"
    assert result.output("executor", "model") == "loc/m1"
