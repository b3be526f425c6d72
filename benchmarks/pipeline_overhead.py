"""Pipeline executor overhead: a 100-node chain run by the executor vs the same node functions called directly.

Overhead per node = (executor time - direct time) / nodes, median of N runs, cache off (every node runs).
Target (issue 8): < 0.2 ms per node. A second figure: a fully cached re-run of the same graph.

    .venv/bin/python benchmarks/pipeline_overhead.py [--nodes 100] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_core.pipeline.executor import Executor
from nexus_core.pipeline.graph import Graph, Link, Node
from nexus_core.pipeline.nodes import NodeContext
from nexus_core.pipeline.service import default_registry


def chain(length: int) -> Graph:
    graph = Graph("bench")
    graph.add_node(Node("in", "input.value", {"name": "x"}))
    previous, port = "in", "value"
    for i in range(length - 2):
        graph.add_node(Node(f"a{i}", "number.add", {"add": 1.0}))
        graph.add_link(Link(previous, port, f"a{i}", "x"))
        previous, port = f"a{i}", "number"
    graph.add_node(Node("out", "output.value"))
    graph.add_link(Link(previous, port, "out", "value"))
    return graph


def direct(registry, graph: Graph) -> float:  # type: ignore[no-untyped-def]
    """The same functions, called in order by hand: the floor any executor pays."""
    ctx = NodeContext()
    value = registry.get("input.value").run(ctx, {"__graph_inputs__": {"x": 0.0}}, {"name": "x", "default": ""})
    add = registry.get("number.add").run
    for _ in range(len(graph.nodes) - 2):
        value = {"value": add(ctx, {"x": value.get("value", value.get("number"))}, {"add": 1.0})["number"]}
    return registry.get("output.value").run(ctx, {"value": value["value"]}, {})["value"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    registry = default_registry()
    graph = chain(args.nodes)
    ours, floor, cached = [], [], []
    for _ in range(args.runs):
        executor = Executor(registry)
        started = time.perf_counter()
        result = asyncio.run(executor.run(graph, {"x": 0.0}))
        ours.append(time.perf_counter() - started)
        assert result.ok and result.output("out", "value") == args.nodes - 2
        started = time.perf_counter()
        asyncio.run(executor.run(graph, {"x": 0.0}))
        cached.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert direct(registry, graph) == args.nodes - 2
        floor.append(time.perf_counter() - started)
    per_node = (statistics.median(ours) - statistics.median(floor)) / args.nodes * 1000
    print(f"{args.nodes}-node chain: executor median {statistics.median(ours) * 1000:.2f} ms, direct calls median "
          f"{statistics.median(floor) * 1000:.3f} ms -> overhead {per_node:.3f} ms/node (target < 0.2 ms)")
    print(f"fully cached re-run: median {statistics.median(cached) * 1000:.2f} ms "
          f"({statistics.median(cached) / args.nodes * 1000:.3f} ms/node)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
