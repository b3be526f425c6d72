"""Multi-agent workflows end to end: real core, real router and tool loop, the sandbox for tests, a scripted model
team on loopback answering each agent by persona (so parallel steps may come in any order)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.agents.workflow import WorkflowError
from nexus_core.cli import main
from nexus_core.core import Core
from nexus_core.errors import NexusError
from tests.core.agents.scripted_team import BACKEND_V2, ScriptedTeam
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring

REQUIREMENT = "A calculator that adds two numbers, with a web page."


@pytest.fixture
def team() -> ScriptedTeam:
    return ScriptedTeam()


@pytest.fixture
def upstream(team: ScriptedTeam) -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1", "m2"]) as srv:
        srv.responder = team
        yield srv


@pytest.fixture
def core(nexus_home: Path, upstream: ScriptedOpenAIServer) -> Iterator[Core]:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    opened.router.backoff_base_s = 0.01
    opened.agents.backoff_s = 0.01
    add_provider(opened, upstream)
    route_all(opened, "loc/m1")
    yield opened
    opened.close(job_timeout=10)


def _run(core: Core, workflow: str, out: Path, timeout: float = 120) -> dict:
    run_id = core.agents.start(workflow, REQUIREMENT, out)
    record = core.agents.wait(run_id, timeout)
    assert record.state in ("succeeded", "failed"), record
    return json.loads((out / "report.json").read_text())


def test_the_full_workflow_plans_builds_tests_and_loops_through_review(core: Core, team: ScriptedTeam,
                                                                      tmp_path: Path) -> None:
    report = _run(core, "full", tmp_path / "run")
    assert report["state"] == "succeeded", report["error"]
    workspace = tmp_path / "run" / "workspace"
    assert (workspace / "backend" / "calc.py").read_text() == BACKEND_V2  # the revision the review asked for
    assert {"PLAN.md", "frontend/index.html", "tests/test_calc.py"} <= set(report["files"])
    steps = [(s["step"], s["iteration"], s["status"]) for s in report["steps"]]
    assert ("backend", 2, "succeeded") in steps and ("review", 2, "succeeded") in steps
    assert ("plan", 2, "succeeded") not in steps and ("frontend", 2, "succeeded") not in steps  # not redone
    assert report["review_rounds"] == {"review": 1}
    assert report["tests"]["passed"] and report["tests"]["tests"] == 1  # the second test run, in the sandbox
    first_tests = core.agents.runs.context(report["run_id"], {"tests"})
    assert next(e.content for e in first_tests if e.kind == "tests").startswith("1 test(s): 0 passed, 1 failed")
    assert report["input_tokens"] > 0 and report["model_s"] > 0
    assert all(s["models"] == ["loc/m1"] for s in report["steps"])
    assert (tmp_path / "run" / "report.md").read_text().count("| backend |") == 2
    # the router gave each agent its task type, and every call is recorded with it
    tasks = {r[0]: r[1] for r in core.store.query('SELECT "nexus.module_context", "nexus.task_type" FROM llm_calls')}
    assert tasks["agents.plan"] == "reasoning" and tasks["agents.backend"] == "code_generation"
    versions = core.agents.runs.file_versions(report["run_id"], "backend/calc.py")
    assert [(node, it) for node, it, _text in versions] == [("backend", 1), ("backend", 2)]


def test_independent_steps_run_at_the_same_time(core: Core, team: ScriptedTeam, tmp_path: Path) -> None:
    team.delay = 0.05
    report = _run(core, "standard", tmp_path / "run")
    assert report["state"] == "succeeded"
    spans = {s.node_id: (s.started_at, s.finished_at) for s in core.agents.runs.steps(report["run_id"])
             if s.iteration == 1}
    (b0, b1), (f0, f1) = spans["backend"], spans["frontend"]
    assert b0 < f1 and f0 < b1  # backend and frontend overlapped


def test_a_failing_step_is_retried_then_the_run_fails_and_resumes_after_a_fix(core: Core, team: ScriptedTeam,
                                                                             tmp_path: Path) -> None:
    team.fail_first = {"backend": 3}  # an empty answer three times: the first try and both retries
    out = tmp_path / "run"
    report = _run(core, "simple", out)
    assert report["state"] == "failed" and "Backend agent (implement) failed after 3 attempt(s)" in report["error"]
    assert "empty" in report["error"]
    retries = [e.content for e in core.agents.runs.context(report["run_id"], {"implement"}) if e.kind == "error"]
    assert len(retries) == 3 and "retrying in" in retries[0]
    planned = team.calls["planning"]
    shutil.rmtree(out / "workspace")  # the workspace is lost too: resuming restores what the finished steps wrote
    run_id = core.agents.resume(out)
    record = core.agents.wait(run_id, 60)
    assert record.state == "succeeded", record.error
    assert team.calls["planning"] == planned  # the plan came from its checkpoint
    assert (out / "workspace" / "PLAN.md").is_file() and (out / "workspace" / "backend" / "calc.py").is_file()


def test_a_run_stopped_midway_resumes_and_ends_as_an_uninterrupted_one(core: Core, team: ScriptedTeam,
                                                                     tmp_path: Path) -> None:
    team.delay = 0.02
    whole = _run(core, "full", tmp_path / "whole")
    calls_for_whole = sum(team.calls.values())
    team.calls.clear()
    out = tmp_path / "stopped"
    run_id = core.agents.start("full", REQUIREMENT, out)
    deadline = time.time() + 30
    while not any(s.node_id == "tests" for s in core.agents.runs.steps(run_id)) and time.time() < deadline:
        time.sleep(0.02)
    assert core.agents.stop(run_id)
    record = core.agents.wait(run_id, 30)
    assert record.state == "stopped"
    assert not (out / "report.json").exists() or json.loads((out / "report.json").read_text())["state"] != "succeeded"
    core.agents.resume(out)
    resumed = core.agents.wait(run_id, 120)
    assert resumed.state == "succeeded", resumed.error
    report = json.loads((out / "report.json").read_text())
    assert report["files"] == whole["files"] and report["review_rounds"] == whole["review_rounds"]
    for path in whole["files"]:
        assert (out / "workspace" / path).read_bytes() == (tmp_path / "whole" / "workspace" / path).read_bytes()
    assert sum(team.calls.values()) < calls_for_whole + 4  # finished steps were not asked again


def test_a_run_stopped_while_it_waits_for_a_job_slot_is_marked_stopped_and_can_resume(core: Core,
                                                                                     tmp_path: Path) -> None:
    release = threading.Event()

    def hold(ctx) -> None:  # keeps one job slot busy
        while not release.wait(0.02):
            ctx.check()

    holders = [core.runner.submit(hold, name=f"hold {i}") for i in range(core.settings.max_thread_jobs)]
    ended: list[str] = []
    core.agents.events.connect(lambda e: ended.append(e.run_id) if e.kind == "ended" else None)
    try:
        out = tmp_path / "queued"
        run_id = core.agents.start("full", REQUIREMENT, out)
        assert run_id in core.agents.running()
        assert core.agents.stop(run_id)  # cancelled before its job ever ran
        assert run_id not in core.agents.running() and ended == [run_id]
        record = core.agents.runs.get(run_id)
        assert record.state == "stopped" and "before it started" in (record.error or "")

        core.agents.resume(out)  # queued again: it says running while it waits
        assert core.agents.runs.get(run_id).state == "running" and run_id in core.agents.running()
        with pytest.raises(NexusError, match="running already"):
            core.agents.resume(out)
        release.set()
        resumed = core.agents.wait(run_id, 120)
        assert resumed.state == "succeeded", resumed.error
        assert run_id not in core.agents.running()
    finally:
        release.set()
        for holder in holders:
            holder.wait(10)


def test_workflows_that_cannot_run_are_refused_with_the_step_named(core: Core, tmp_path: Path) -> None:
    data = json.loads(Path("resources/workflows/standard.json").read_text())
    data["nodes"][4]["params"]["send_back_to"] = "result"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(WorkflowError, match="node review: 'send back to' names 'result', which is not an agent"):
        core.agents.start(tmp_path / "bad.json", REQUIREMENT, tmp_path / "out")
    data["nodes"][4]["params"]["send_back_to"] = "backend"
    data["links"].append({"from": ["review", "work"], "to": ["plan", "after"]})
    (tmp_path / "cycle.json").write_text(json.dumps(data))
    with pytest.raises(WorkflowError, match=r"(?s)form a cycle.*'send back to' instead of linking backwards"):
        core.agents.start(tmp_path / "cycle.json", REQUIREMENT, tmp_path / "out")
    with pytest.raises(WorkflowError, match=r"(?s)no workflow file 'nope'.*full, simple, standard"):
        core.agents.start("nope", REQUIREMENT, tmp_path / "out")
    assert not (tmp_path / "out").exists() and core.agents.runs.runs() == []


def test_the_cli_runs_lists_and_resumes(upstream: ScriptedOpenAIServer, tmp_path: Path, nexus_home: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    add_provider(setup, upstream)
    route_all(setup, "loc/m1")
    setup.close()
    out = tmp_path / "cli-run"
    assert main(["--data-dir", str(nexus_home), "agents", "run", "simple", "--input", REQUIREMENT, "--out",
                 str(out), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["state"] == "succeeded" and "implement finished" in captured.err
    assert main(["--data-dir", str(nexus_home), "agents", "list"]) == 0
    assert report["run_id"][:12] in capsys.readouterr().out
    assert main(["--data-dir", str(nexus_home), "agents", "resume", str(out)]) == 0  # nothing left: all cached
    assert "| implement |" in capsys.readouterr().out
    assert main(["--data-dir", str(nexus_home), "agents", "validate", "full"]) == 0
    assert "5 agent steps (plan, backend, frontend, tests, review)" in capsys.readouterr().out
    assert main(["--data-dir", str(nexus_home), "agents", "run", "simple", "--input", "x", "--out", str(out)]) == 2
    assert "already holds an agent run" in capsys.readouterr().err
