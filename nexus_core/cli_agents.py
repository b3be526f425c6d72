"""``nexus agents``: run multi-agent workflows headless; the steps' progress goes to stderr, the report to stdout."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.units import one_line

EXIT_FAILED, EXIT_STOPPED = 1, 130


def add_parser(sub: Any) -> None:
    p = sub.add_parser("agents", help="multi-agent workflows: plan, backend, frontend, tests, review",
                       description="Run a workflow of agents (a pipeline graph of agent steps) on a requirement. "
                                   "Defaults: simple, standard, full (see `nexus agents workflows`).")
    agents = p.add_subparsers(dest="agents_command", required=True)
    run = agents.add_parser("run", help="start a run; Ctrl-C stops it (resume later)")
    run.add_argument("workflow", help="a workflow file, or a default's name (simple, standard, full)")
    what = run.add_mutually_exclusive_group(required=True)
    what.add_argument("--input", help="the requirement")
    what.add_argument("--input-file", type=Path, help="read the requirement from this file")
    run.add_argument("--out", type=Path, required=True, help="output folder (workspace/, report.json, report.md)")
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    resume = agents.add_parser("resume", help="go on with a stopped, failed or crashed run")
    resume.add_argument("run", help="the run's output folder (or its id)")
    resume.add_argument("--json", action="store_true")
    resume.add_argument("--quiet", action="store_true")
    listing = agents.add_parser("list", help="earlier runs")
    listing.add_argument("--json", action="store_true")
    agents.add_parser("workflows", help="the workflows there are (defaults, then yours in <data>/workflows)")
    check = agents.add_parser("validate", help="check a workflow file; exit 1 when it cannot run")
    check.add_argument("workflow")
    p.set_defaults(func=cmd_agents)


def cmd_agents(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    core = open_core_for_providers(args)
    try:
        command = args.agents_command
        if command == "workflows":
            for path in core.agents.workflows():
                print(f"{path.stem:12} {path}")
            return 0
        if command == "validate":
            path, graph = core.agents.load(args.workflow)
            steps = [n for n, node in graph.nodes.items() if node.type.startswith("agent.")]
            print(f"{path}: {len(steps)} agent steps ({', '.join(steps)}); it can run")
            return 0
        if command == "list":
            return _list(core, args.json)
        # The progress is followed from before the start: a quick run may be over before start() returns.
        shown: list[str] = []
        disconnect = None if args.quiet else core.agents.events.connect(lambda event: _show(event, shown))
        try:
            if command == "run":
                requirement = args.input if args.input is not None else _read(args.input_file)
                run_id = core.agents.start(args.workflow, requirement, args.out)
            else:
                run_id = core.agents.resume(args.run)
            return _follow(core, run_id, args.json)
        finally:
            if disconnect is not None:
                disconnect()
    finally:
        core.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NexusError(f"The requirement file cannot be read ({exc}).", path=path) from None


def _show(event: Any, shown: list[str]) -> None:
    """One line on stderr per step state, message and review loop (one run at a time runs in this process)."""
    if event.kind in ("started", "finished", "cached", "failed", "skipped"):
        extra = f": {event.text}" if event.text else ""
        print(f"nexus: {event.node_id} {event.kind}{extra}", file=sys.stderr, flush=True)
    elif event.kind == "message":
        print(f"nexus:   {event.node_id} #{event.iteration} {one_line(event.text)}", file=sys.stderr, flush=True)
    elif event.kind == "loop":
        print(f"nexus: review {event.node_id} round {event.iteration}: {event.text}", file=sys.stderr, flush=True)
    shown.append(event.kind)


def _follow(core: Any, run_id: str, json_out: bool) -> int:
    try:
        core.agents.wait(run_id)
    except KeyboardInterrupt:
        core.agents.stop(run_id)
        core.agents.wait(run_id, 30)
        record = core.agents.runs.get(run_id)
        print(f"\nnexus: stopped; resume with: nexus agents resume {record.out_dir}", file=sys.stderr)
        return EXIT_STOPPED
    record = core.agents.runs.get(run_id)
    report_path = Path(record.out_dir) / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    if json_out and report is not None:
        print(json.dumps(report, indent=2))
    elif report is not None:
        print((Path(record.out_dir) / "report.md").read_text(encoding="utf-8"))
    if record.state != "succeeded":
        print(f"nexus: the run {record.state}: {record.error}\nnexus: after a fix: nexus agents resume "
              f"{record.out_dir}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _list(core: Any, as_json: bool) -> int:
    runs = core.agents.runs.runs()
    if as_json:
        print(json.dumps([{"run_id": r.id, "workflow": r.workflow, "state": r.state, "out_dir": r.out_dir,
                           "requirement": r.requirement, "created_at": r.created_at, "error": r.error}
                          for r in runs], indent=2))
        return 0
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        print(f"{r.id[:12]}  {when}  {r.state:9}  {r.workflow[:30]:30}  {r.out_dir}")
    return 0
