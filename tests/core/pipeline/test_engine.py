"""The graph engine without Qt: validation, caching, concurrency, disabled nodes, failures, undo."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from nexus_core.pipeline.executor import Executor, PipelineError
from nexus_core.pipeline.graph import Graph, Link, Node
from nexus_core.pipeline.history import GraphHistory
from nexus_core.pipeline.layout import layered_positions
from nexus_core.pipeline.nodes import NodeContext, NodeType, Param, Port
from nexus_core.pipeline.service import default_registry
from nexus_core.pipeline.validate import validate_graph

CALLS: list[str] = []


async def _sleepy(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(ctx.node_id)
    await asyncio.sleep(params["seconds"])
    return {"number": params["seconds"]}


def _boom(_ctx: NodeContext, _inputs: dict[str, Any], _params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the node broke")


@pytest.fixture
def registry():  # type: ignore[no-untyped-def]
    registry = default_registry()
    registry.register(NodeType("test.sleep", "Sleep", "Test", _sleepy, outputs=(Port("number", "number"),),
                               params=(Param("seconds", "number", 0.1),)))
    registry.register(NodeType("test.boom", "Boom", "Test", _boom, inputs=(Port("x", "number", False),),
                               outputs=(Port("number", "number"),)))
    return registry


def chain(length: int) -> Graph:
    """input → add → add → … → output: each add adds its index."""
    graph = Graph("chain")
    graph.add_node(Node("in", "input.value", {"name": "x"}))
    previous, port = "in", "value"
    for i in range(length):
        graph.add_node(Node(f"a{i}", "number.add", {"add": float(i)}))
        graph.add_link(Link(previous, port, f"a{i}", "x"))
        previous, port = f"a{i}", "number"
    graph.add_node(Node("out", "output.value"))
    graph.add_link(Link(previous, port, "out", "value"))
    return graph


def run(executor: Executor, graph: Graph, inputs: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run(executor.run(graph, inputs or {}))


def test_a_chain_runs_in_order(registry) -> None:  # type: ignore[no-untyped-def]
    result = run(Executor(registry), chain(5), {"x": 10.0})
    assert result.ok and result.output("out", "value") == 10.0 + 0 + 1 + 2 + 3 + 4


def test_unchanged_nodes_come_from_the_cache_and_an_edit_reruns_only_its_descendants(registry) -> None:  # type: ignore[no-untyped-def]
    graph, executor = chain(6), Executor(registry)
    events: list[tuple[str, str]] = []
    executor.events.connect(lambda e: events.append((e.node_id, e.kind)))
    first = run(executor, graph, {"x": 1.0})
    assert set(first.ran()) == set(graph.nodes)
    second = run(executor, graph, {"x": 1.0})
    assert second.ran() == [] and {r.status for r in second.nodes.values()} == {"cached"}
    graph.set_param("a3", "add", 100.0)
    third = run(executor, graph, {"x": 1.0})
    assert sorted(third.ran()) == ["a3", "a4", "a5", "out"]
    assert third.output("out", "value") == first.output("out", "value") + 97.0
    fourth = run(executor, graph, {"x": 2.0})  # a new input re-runs everything downstream of the input
    assert set(fourth.ran()) == set(graph.nodes)
    assert ("a0", "cached") in events and ("a3", "started") in events


def test_independent_branches_run_concurrently(registry) -> None:  # type: ignore[no-untyped-def]
    graph = Graph()
    for name in ("s1", "s2", "s3"):
        graph.add_node(Node(name, "test.sleep", {"seconds": 0.3}))
    started = time.perf_counter()
    result = run(Executor(registry), graph)
    assert result.ok and time.perf_counter() - started < 0.75  # three 0.3 s waits overlapped


def test_disabled_nodes_pass_through_or_skip(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(3)
    graph.set_enabled("a1", False)  # number.add passes its input through when disabled
    result = run(Executor(registry), graph, {"x": 5.0})
    assert result.nodes["a1"].status == "disabled" and result.output("out", "value") == 5.0 + 0 + 2
    graph.add_node(Node("boom", "test.boom"))
    graph.set_enabled("boom", False)
    graph.add_node(Node("after", "number.add"))
    graph.add_link(Link("boom", "number", "after", "x"))
    result = run(Executor(registry), graph, {"x": 5.0})
    assert result.nodes["boom"].status == "skipped" and result.nodes["after"].status == "skipped"


def test_a_failing_node_is_reported_and_only_its_descendants_skip(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(2)
    graph.add_node(Node("boom", "test.boom"))
    graph.add_node(Node("after", "number.add"))
    graph.add_link(Link("boom", "number", "after", "x"))
    failures = []
    executor = Executor(registry)
    executor.events.connect(lambda e: failures.append(e) if e.kind == "failed" else None)
    result = run(executor, graph, {"x": 1.0})
    assert not result.ok and result.nodes["boom"].error == "RuntimeError: the node broke"
    assert result.nodes["after"].status == "skipped" and result.output("out", "value") == 2.0
    assert failures and failures[0].node_id == "boom"


def test_a_copy_runs_the_same_and_edits_to_either_leave_the_other_alone(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(2)
    heard: list[object] = []
    graph.changed.connect(heard.append)
    twin = graph.copy()
    assert run(Executor(registry), twin, {"x": 1.0}).output("out", "value") == 2.0
    twin.set_param("a0", "add", 10.0)
    twin.remove_node("a1")
    assert graph.nodes["a0"].params == {"add": 0.0} and "a1" in graph.nodes and len(graph.links) == 3
    assert heard == []  # the copy has no listeners of the original
    graph.set_param("a1", "add", 5.0)
    assert "a1" not in twin.nodes and twin.nodes["a0"].params == {"add": 10.0}


def test_validation_names_node_and_port(registry) -> None:  # type: ignore[no-untyped-def]
    graph = Graph()
    graph.add_node(Node("t", "text.template", {"template": 5}))
    graph.add_node(Node("cls", "chat.tier_router"))  # its required input is not connected
    graph.add_node(Node("q", "chat.query"))
    graph.add_node(Node("m", "chat.model_selector"))
    graph.add_link(Link("q", "query", "m", "route"))  # text into a classification input
    graph.add_node(Node("ghost", "module.removed_long_ago"))
    text = "\n".join(str(p) for p in validate_graph(graph, registry))
    assert "node t: parameter 'template' must be text" in text
    assert "node cls, port classification: required input 'classification' (classification) is not connected" in text
    assert "node m, port route: input 'route' takes classification, but q.query gives text" in text
    assert "node ghost: unknown node type 'module.removed_long_ago'" in text
    with pytest.raises(PipelineError, match="cannot run"):
        run(Executor(registry), graph)


def test_cycles_are_refused(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(3)
    graph.add_link(Link("a2", "number", "a0", "x"))  # replaces in → a0 with a loop
    problems = [str(p) for p in validate_graph(graph, registry)]
    assert any("cycle" in p for p in problems)


def test_targets_run_only_what_they_need(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(3)
    graph.add_node(Node("boom", "test.boom"))  # not needed by a1
    result = asyncio.run(Executor(registry).run(graph, {"x": 0.0}, targets=["a1"]))
    assert set(result.nodes) == {"in", "a0", "a1"}


def test_undo_redo_of_every_edit_kind(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(2)
    history = GraphHistory(graph)
    history.add_node(Node("extra", "number.add"))
    history.connect(Link("a1", "number", "extra", "x"))
    history.set_param("extra", "add", 7.0)
    history.set_param("extra", "add", 8.0)  # merges with the previous change
    history.move("extra", (10.0, 20.0))
    history.move("extra", (30.0, 40.0))  # one drag: one undo step
    history.set_enabled("a0", False)
    history.remove_nodes(["a1"])
    assert "a1" not in graph.nodes and not graph.incoming("extra")
    history.undo()  # delete
    assert "a1" in graph.nodes and graph.link_into("extra", "x") is not None and graph.link_into("out", "value")
    history.undo()  # disable
    assert graph.nodes["a0"].enabled
    history.undo()  # the whole drag
    assert graph.nodes["extra"].position == (0.0, 0.0)
    history.undo()  # both param changes
    assert "add" not in graph.nodes["extra"].params
    history.undo()
    history.undo()
    assert "extra" not in graph.nodes and history.dirty is False
    history.redo()
    history.redo()
    assert graph.link_into("extra", "x") == Link("a1", "number", "extra", "x")


def test_auto_layout_puts_each_node_right_of_its_inputs(registry) -> None:  # type: ignore[no-untyped-def]
    graph = chain(4)
    positions = layered_positions(graph)
    for link in graph.links:
        assert positions[link.source][0] < positions[link.target][0]
