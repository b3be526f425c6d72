"""``nexus pipeline``: validate a pipeline file, or run it and show what each node did."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("pipeline", help="node-graph pipelines: validate or run a pipeline file")
    psub = p.add_subparsers(dest="pipeline_command", required=True, metavar="ACTION")
    q = psub.add_parser("validate", help="check a pipeline file (exit 1 when it cannot run)")
    q.add_argument("file", type=Path)
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("run", help="run a pipeline file and print its outputs and each node's status and time")
    q.add_argument("file", type=Path)
    q.add_argument("--input", default="{}", metavar="JSON", help='the run\'s inputs, e.g. \'{"query": "hello"}\'')
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pipeline)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    core = open_core_for_providers(args)
    try:
        return _validate(core, args) if args.pipeline_command == "validate" else _run(core, args)
    finally:
        core.close()


def _validate(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.pipeline import serialize
    from nexus_core.pipeline.validate import validate_graph

    graph = serialize.load(args.file, core.pipelines.registry)
    problems = validate_graph(graph, core.pipelines.registry)
    failing = [p for p in problems if p.severity == "error"]
    if args.json:
        print(json.dumps({"file": str(args.file), "valid": not failing, "nodes": len(graph.nodes),
                          "links": len(graph.links),
                          "problems": [{"node": p.node_id, "port": p.port, "severity": p.severity,
                                        "message": p.message} for p in problems]}, indent=2))
    else:
        print(f"{graph.name}: {len(graph.nodes)} nodes, {len(graph.links)} links: "
              f"{'valid' if not failing else 'cannot run'}")
        for p in problems:
            print(f"  {p.severity}: {p}")
    return 1 if failing else 0


def _run(core: Any, args: argparse.Namespace) -> int:
    from nexus_core.cli import json_object_arg
    from nexus_core.pipeline import serialize
    from nexus_core.pipeline.executor import Executor

    inputs = json_object_arg(args.input, "--input", '{"query": "hello"}')
    graph = serialize.load(args.file, core.pipelines.registry)
    executor = Executor(core.pipelines.registry, services=core.pipelines.services)
    result = core.aio.run(executor.run(graph, inputs), timeout=None)
    outputs = {n: run.outputs for n, run in result.nodes.items()
               if graph.nodes[n].type in ("output.value", "chat.synthesis") or not graph.outgoing(n)}
    if args.json:
        data = result.to_dict()
        data["outputs"] = {n: {k: _plain(v) for k, v in o.items()} for n, o in outputs.items()}
        print(json.dumps(data, indent=2, ensure_ascii=False, default=repr))
    else:
        for node_id, values in outputs.items():
            for port, value in values.items():
                print(f"{node_id}.{port}: {_plain(value)}")
        print(f"-- {len(result.nodes)} nodes in {result.duration_ms:.1f} ms", file=sys.stderr)
        for node_id, run in result.nodes.items():
            extra = f"  {run.error}" if run.error else ""
            print(f"   {node_id:<20} {run.status:<8} {run.duration_ms:8.2f} ms{extra}", file=sys.stderr)
    return 0 if result.ok else 1


def _plain(value: Any) -> Any:
    """Plans and classifications print as their fields, not as dataclass reprs."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if hasattr(value, "value") and type(value).__module__.startswith("nexus_core.routing"):
        return value.value
    return value
