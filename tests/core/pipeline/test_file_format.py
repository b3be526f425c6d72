"""The pipeline file: round trips, bad files named precisely, newer versions refused, nothing else ever raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_core.cli import main
from nexus_core.pipeline import serialize
from nexus_core.pipeline.serialize import PipelineFileError
from nexus_core.pipeline.service import DEFAULTS_DIR, default_registry
from nexus_core.pipeline.validate import validate_graph

REGISTRY = default_registry()


def test_the_default_chat_graph_round_trips_and_validates() -> None:
    graph = serialize.load(DEFAULTS_DIR / "chat.json", REGISTRY)
    assert validate_graph(graph, REGISTRY) == []
    again = serialize.loads(serialize.dumps(graph), REGISTRY)
    assert serialize.to_dict(again) == serialize.to_dict(graph)
    assert again.nodes["executor"].position == graph.nodes["executor"].position


def test_layout_is_kept_apart_from_what_runs() -> None:
    graph = serialize.load(DEFAULTS_DIR / "chat.json", REGISTRY)
    before = {k: v for k, v in serialize.to_dict(graph).items() if k != "ui"}
    graph.move("executor", (999.0, -5.0))
    after = serialize.to_dict(graph)
    assert {k: v for k, v in after.items() if k != "ui"} == before
    assert after["ui"]["positions"]["executor"] == [999.0, -5.0]


@pytest.mark.parametrize(("text", "words"), [
    ('{"format": "nexus-pipeline", "version": 1,\n "nodes": [}', "line 2"),
    ('{"format": "nexus-pipeline", "version": 7, "nodes": []}', "newer Nexus Studio"),
    ('{"format": "comfy", "version": 1}', "format: expected 'nexus-pipeline'"),
    ('{"format": "nexus-pipeline", "version": 1, "nodes": [{"id": "a"}]}', "nodes[0].type"),
    ('{"format": "nexus-pipeline", "version": 1, "nodes": [{"id": "a", "type": "x"}, {"id": "a", "type": "x"}]}',
     "nodes[1].id: 'a' is used twice"),
    ('{"format": "nexus-pipeline", "version": 1, "nodes": [], "links": [{"from": ["a", "b"], "to": ["c", "d"]}]}',
     "links[0].from: names node 'a'"),
])
def test_bad_files_say_where(text: str, words: str) -> None:
    with pytest.raises(PipelineFileError) as caught:
        serialize.loads(text, REGISTRY, path=Path("p.json"))
    assert words in caught.value.user_message() and "p.json" in caught.value.user_message()


def test_a_node_whose_type_is_gone_is_kept_and_marked_missing() -> None:
    data = json.loads((DEFAULTS_DIR / "chat.json").read_text())
    data["nodes"].append({"id": "weather", "type": "module.weather_gone", "params": {"x": 1}})
    graph = serialize.from_dict(data, REGISTRY)
    assert graph.nodes["weather"].missing and graph.nodes["weather"].params == {"x": 1}
    problems = validate_graph(graph, REGISTRY)
    assert [p.node_id for p in problems] == ["weather"]  # the rest still validates
    assert serialize.to_dict(graph)["nodes"][-1]["type"] == "module.weather_gone"  # saved back unchanged


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=4), max_leaves=20)
node = st.fixed_dictionaries({"id": st.text(max_size=4) | json_values, "type": st.sampled_from(
    ["number.add", "text.template", "nope", ""]) | json_values}, optional={"params": json_values,
                                                                        "enabled": json_values})
document = st.fixed_dictionaries({"format": st.just("nexus-pipeline") | json_values,
                                  "version": st.just(1) | json_values},
                                 optional={"nodes": st.lists(node, max_size=4) | json_values,
                                           "links": st.lists(st.dictionaries(st.sampled_from(["from", "to"]),
                                                                             json_values), max_size=3) | json_values,
                                           "ui": json_values, "name": json_values})


@settings(max_examples=300, deadline=None)
@given(document)
def test_any_json_either_loads_or_fails_with_a_pipeline_file_error(data: object) -> None:
    try:
        graph = serialize.from_dict(data, REGISTRY)
    except PipelineFileError:
        return
    validate_graph(graph, REGISTRY)  # and whatever loads can be validated without raising


def test_cli_validate_and_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "format": "nexus-pipeline", "version": 1, "name": "demo",
        "nodes": [{"id": "in", "type": "input.value", "params": {"name": "x"}},
                  {"id": "t", "type": "text.template", "params": {"template": "Hello {a}!"}},
                  {"id": "out", "type": "output.value"}],
        "links": [{"from": ["in", "value"], "to": ["t", "a"]}, {"from": ["t", "text"], "to": ["out", "value"]}]}))
    assert main(["pipeline", "validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["pipeline", "run", str(path), "--input", '{"x": "world"}', "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outputs"]["out"]["value"] == "Hello world!"
    assert {n["status"] for n in data["nodes"].values()} == {"ran"} and data["nodes"]["t"]["duration_ms"] >= 0
    broken = json.loads(path.read_text())
    broken["links"].pop()
    path.write_text(json.dumps(broken))
    assert main(["pipeline", "validate", str(path), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems == [{"node": "out", "port": "value", "severity": "error",
                         "message": "required input 'value' (any) is not connected"}]
