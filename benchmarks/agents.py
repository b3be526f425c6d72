"""Multi-agent workflows against a scripted model team on loopback (recorded turns replayed by persona, each answer
streamed with a delay standing for model time):

1. orchestration overhead of the standard workflow: wall time minus the time spent in model calls, against that
   model time, with the steps run one at a time (target < 5 %);
2. parallel speed-up: a workflow with four independent agent steps, run with them at once vs one at a time;
3. a `nexus agents run` process killed mid-way, then `nexus agents resume`: does it finish with the same files as an
   uninterrupted run, and how many model calls did the resume save?

    .venv/bin/python benchmarks/agents.py [--delay 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REQUIREMENT = "A calculator that adds two numbers, with a web page."


def core_for(home: Path, upstream):  # type: ignore[no-untyped-def]
    from nexus_core.core import Core
    from tests.core.providers.conftest import add_provider, route_all

    core = Core.open(home)
    core.agents.backoff_s = 0.01
    add_provider(core, upstream)
    route_all(core, "loc/m1")
    return core


def wide_workflow(path: Path) -> Path:
    """requirement → plan → four independent builders → review."""
    builders = ["backend_a", "backend_b", "frontend_a", "frontend_b"]
    nodes = [{"id": "requirement", "type": "input.value", "params": {"name": "requirement"}},
             {"id": "plan", "type": "agent.plan", "params": {}},
             *({"id": b, "type": f"agent.{b.split('_')[0]}", "params": {}} for b in builders),
             {"id": "review", "type": "agent.review", "params": {}}]
    links = [{"from": ["requirement", "value"], "to": [n["id"], "requirement"]} for n in nodes[1:]]
    links += [{"from": ["plan", "work"], "to": [b, "after"]} for b in builders]
    links += [{"from": [b, "work"], "to": ["review", port]} for b, port in zip(builders[:3], ("after", "after_2",
                                                                                            "after_3"), strict=True)]
    path.write_text(json.dumps({"format": "nexus-pipeline", "version": 1, "name": "Wide", "nodes": nodes,
                                "links": links}))
    return path


def builders_span(core, run_id: str) -> float:  # type: ignore[no-untyped-def]
    """From the first of the independent steps starting to the last finishing."""
    steps = [s for s in core.agents.runs.steps(run_id) if s.node_id not in ("plan", "review")]
    return max(s.finished_at for s in steps) - min(s.started_at for s in steps)


def timed_run(core, workflow: str | Path, out: Path, parallel: int) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    core.agents.max_parallel = parallel
    started = time.perf_counter()
    run_id = core.agents.start(workflow, REQUIREMENT, out)
    record = core.agents.wait(run_id, 600)
    wall = time.perf_counter() - started
    assert record.state == "succeeded", record.error
    return wall, json.loads((out / "report.json").read_text())


def main() -> None:
    from tests.core.agents.scripted_team import ScriptedTeam
    from tests.support.llm_servers import ScriptedOpenAIServer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between streamed chunks (model time)")
    args = parser.parse_args()
    team = ScriptedTeam(delay=args.delay)
    with ScriptedOpenAIServer(models=["m1"]) as upstream, tempfile.TemporaryDirectory() as tmp:
        upstream.responder = team
        work = Path(tmp)
        core = core_for(work / "home", upstream)
        try:
            timed_run(core, "simple", work / "warm", 8)  # imports, first connections
            wall, report = timed_run(core, "standard", work / "standard-seq", 1)
            model_s = report["model_s"]
            runs = len(report["steps"])
            print(f"standard workflow, steps one at a time: {wall:.2f} s wall, {model_s:.2f} s in model calls "
                  f"({runs} step runs, review rounds {report['review_rounds']}) → orchestration overhead "
                  f"{(wall - model_s) / model_s * 100:.1f} % of model time (target < 5 %), "
                  f"{(wall - model_s) / runs * 1000:.0f} ms per step run")
            wall_par, report_par = timed_run(core, "standard", work / "standard-par", 8)
            print(f"standard workflow, independent steps at once: {wall_par:.2f} s wall for "
                  f"{report_par['model_s']:.2f} s of model calls")
            wide = wide_workflow(work / "wide.json")
            seq, seq_report = timed_run(core, wide, work / "wide-seq", 1)
            par, par_report = timed_run(core, wide, work / "wide-par", 8)
            stage_seq, stage_par = (builders_span(core, r["run_id"]) for r in (seq_report, par_report))
            print(f"four independent steps: their stage takes {stage_seq:.2f} s one at a time, {stage_par:.2f} s at "
                  f"once → speed-up {stage_seq / stage_par:.2f}× (4 at most); the whole workflow (with the plan "
                  f"before and the review after) {seq:.2f} s → {par:.2f} s, {seq / par:.2f}×")
        finally:
            core.close()
        kill_and_resume(work, upstream, team)


def kill_and_resume(work: Path, upstream, team) -> None:  # type: ignore[no-untyped-def]
    home = work / "cli-home"
    core_for(home, upstream).close()
    env = {**os.environ, "NEXUS_HOME": str(home)}
    env.pop("NEXUS_CREDENTIALS_PASSPHRASE", None)  # no keys are needed: the team runs on loopback
    whole = work / "cli-whole"
    calls = sum(team.calls.values())
    done = subprocess.run([sys.executable, "-m", "nexus_core.cli", "agents", "run", "full", "--input", REQUIREMENT,
                           "--out", str(whole), "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"nexus agents run failed ({done.returncode}): {done.stderr[-2000:]}")
    whole_calls = sum(team.calls.values()) - calls
    killed = work / "cli-killed"
    process = subprocess.Popen([sys.executable, "-m", "nexus_core.cli", "agents", "run", "full", "--input",
                                REQUIREMENT, "--out", str(killed)], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    for line in process.stderr:  # kill it as the tests step starts: plan, backend and frontend are done
        if line.startswith("nexus: tests started"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    before = sum(team.calls.values())
    resumed = subprocess.run([sys.executable, "-m", "nexus_core.cli", "agents", "resume", str(killed), "--quiet"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
    resume_calls = sum(team.calls.values()) - before
    same = all((killed / "workspace" / p).read_bytes() == (whole / "workspace" / p).read_bytes()
               for p in json.loads((whole / "report.json").read_text())["files"])
    report = json.loads((killed / "report.json").read_text())
    print(f"killed with SIGKILL at the tests step, then resumed: exit {resumed.returncode}, state {report['state']}, "
          f"same files as an uninterrupted run: {same}; the resume made {resume_calls} model calls, an uninterrupted "
          f"run {whole_calls}")


if __name__ == "__main__":
    main()
