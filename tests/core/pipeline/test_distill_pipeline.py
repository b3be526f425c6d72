"""The distillation pipeline graph runs headless: trains, evaluates, exports; a second run hits the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_core.core import Core
from nexus_core.pipeline import serialize
from nexus_core.pipeline.executor import Executor
from nexus_core.pipeline.validate import validate_graph
from tests.support.tiny_models import build_tiny_llama

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_the_default_distillation_graph_trains_evaluates_and_exports(core: Core, tmp_path: Path) -> None:
    teacher = build_tiny_llama(tmp_path / "teacher")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": f"the quick brown fox {i} jumps over the lazy dog " * 4}) + "\n"
                            for i in range(40)))
    registry = core.pipelines.registry
    graph = serialize.load(core.pipelines.default_path("distill"), registry)
    assert [p.node_id for p in validate_graph(graph, registry)] == []  # ports and params all line up
    graph.set_param("data", "path", str(data))
    graph.set_param("data", "preset", "debug")
    graph.set_param("teacher", "path", str(teacher))
    graph.set_param("distil", "max_steps", 3)
    graph.set_param("distil", "max_length", 24)
    executor = Executor(registry, services=core.pipelines.services)
    result = core.aio.run(executor.run(graph), timeout=240)
    assert result.ok, {n: r.error for n, r in result.nodes.items() if r.error}
    assert result.output("distil", "status") == "finished"
    assert result.output("evaluate", "metrics")["student_perplexity"] > 1
    student = Path(result.output("export", "path"))
    assert (student / "config.json").is_file() and student.parent.parent == core.distill.runs_dir
    again = core.aio.run(executor.run(graph), timeout=240)
    assert again.nodes["distil"].status == "cached"  # nothing changed: no retraining
