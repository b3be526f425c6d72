"""Multi-agent workflows as one core object: start a run of a workflow file on a requirement into an output
folder, resume a stopped or crashed one, stop one; each run is a job on the one job runner (the Jobs dock shows
it) whose work runs on the core's asyncio loop."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
from pathlib import Path
from typing import Any

from nexus_core.agents.run import RunEvent, WorkflowRun
from nexus_core.agents.store import AgentRunStore, RunRecord
from nexus_core.agents.workflow import WorkflowError, default_workflows, load, resolve
from nexus_core.aio import AsyncLoopThread
from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.jobs import JobRunner
from nexus_core.jobs.models import JobCancelled
from nexus_core.pipeline import serialize
from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.nodes import NodeRegistry
from nexus_core.routing.router import Router
from nexus_core.store import Store
from nexus_core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)
RUN_FILE = "run.json"  # in the output folder: which run it holds (what `nexus agents resume DIR` reads)
_STARTING = object()


class AgentsService:
    def __init__(self, store: Store, registry: NodeRegistry, router: Router, tools: ToolRegistry,
                 aio: AsyncLoopThread, runner: JobRunner, workflows_dir: Path) -> None:
        self.runs = AgentRunStore(store)
        self.registry, self.router, self.tools, self.aio, self.runner = registry, router, tools, aio, runner
        self.workflows_dir = workflows_dir
        self.events: Emitter[RunEvent] = Emitter("agents.events")
        self.backoff_s = 1.0
        self.max_parallel = 8  # agent steps running at once (independent ones only)
        self._active: dict[str, Any] = {}  # run id → job handle (_STARTING while it is being submitted)
        self._lock = threading.Lock()
        runner.events.connect(self._job_event)

    def workflows(self) -> list[Path]:
        """The default workflows, then the user's (``<data>/workflows``)."""
        mine = sorted(self.workflows_dir.glob("*.json")) if self.workflows_dir.is_dir() else []
        return [*default_workflows(), *mine]

    def load(self, workflow: str | Path) -> tuple[Path, Graph]:
        path = resolve(str(workflow), self.workflows_dir)
        return path, load(path, self.registry)

    def start(self, workflow: str | Path, requirement: str, out_dir: Path) -> str:
        """Check the workflow and the folder, record the run, start it as a job; returns the run id."""
        if not requirement.strip():
            raise NexusError("The requirement is empty.", hint="Say what the agents should build.")
        path, graph = self.load(workflow)
        out_dir = Path(out_dir).expanduser().resolve()
        if (out_dir / RUN_FILE).exists():
            raise NexusError(f"{out_dir} already holds an agent run.", path=out_dir,
                             hint="Resume it (`nexus agents resume DIR`), or choose another output folder.")
        (out_dir / "workspace").mkdir(parents=True, exist_ok=True)
        run_id = self.runs.create(graph.name or path.stem, serialize.to_dict(graph), requirement, str(out_dir))
        (out_dir / "workflow.json").write_text(serialize.dumps(graph), encoding="utf-8")
        (out_dir / RUN_FILE).write_text(json.dumps({"run_id": run_id, "workflow": str(path)}), encoding="utf-8")
        self._launch(run_id)
        return run_id

    def resume(self, run_or_folder: str | Path) -> str:
        """Go on with a stopped, failed or crashed run (by id or output folder) from its last checkpoints."""
        record = self.find(run_or_folder)
        with self._lock:
            handle = self._active.get(record.id)
        if handle is not None and handle is not _STARTING and record.state != "running":
            handle.wait(30)  # it has just ended and its job is letting go of it (the panel's Resume can be that quick)
        self._launch(record.id, resuming=True)
        return record.id

    def find(self, run_or_folder: str | Path) -> RunRecord:
        folder = Path(run_or_folder).expanduser()
        if (folder / RUN_FILE).is_file():
            try:
                run_id = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))["run_id"]
            except (ValueError, KeyError, OSError) as exc:
                raise NexusError(f"{folder / RUN_FILE} cannot be read ({exc}).", path=folder / RUN_FILE,
                                 hint="It names the run the folder holds; `nexus agents list` shows run ids.") \
                    from None
            return self.runs.get(run_id)
        if folder.is_dir():
            raise NexusError(f"{folder} holds no agent run ({RUN_FILE} is missing).", path=folder,
                             hint="Give the output folder of a run, or its id (`nexus agents list`).")
        return self.runs.get(str(run_or_folder))

    def stop(self, run_id: str) -> bool:
        with self._lock:
            handle = self._active.get(run_id)
        if handle is None or handle is _STARTING:
            return False
        handle.cancel()
        return True

    def running(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def wait(self, run_id: str, timeout: float | None = None) -> RunRecord:
        with self._lock:
            handle = self._active.get(run_id)
        if handle is not None and handle is not _STARTING:
            handle.wait(timeout)
        return self.runs.get(run_id)

    def workflow_run(self, run_id: str) -> WorkflowRun:
        record = self.runs.get(run_id)
        graph = serialize.from_dict(record.graph, self.registry)
        return WorkflowRun(self.runs, record.id, graph, self.registry, self.router, self.tools,
                           Path(record.out_dir), backoff_s=self.backoff_s, max_parallel=self.max_parallel,
                           events=self.events)

    def _launch(self, run_id: str, *, resuming: bool = False) -> None:
        run = self.workflow_run(run_id)
        steps = sum(1 for n in run.graph.nodes.values() if n.type.startswith("agent."))
        with self._lock:
            if run_id in self._active:
                raise NexusError(f"Run {run_id[:12]} is running already.")
            self._active[run_id] = _STARTING
        if resuming:  # "running" from now on, also while it waits for a free job slot
            self.runs.set_state(run_id, "running")

        def job(ctx: Any) -> dict[str, Any]:
            done = 0

            def progress(event: RunEvent) -> None:
                nonlocal done
                if event.kind in ("finished", "cached") and event.node_id in run.graph.nodes \
                        and run.graph.nodes[event.node_id].type.startswith("agent."):
                    done += 1
                    ctx.progress(min(1.0, done / max(1, steps)), f"{event.node_id} {event.kind}")

            disconnect = self.events.connect(progress)
            future = self.aio.submit(run.execute())
            try:
                while True:
                    try:
                        report = future.result(timeout=0.2)
                        break
                    except concurrent.futures.TimeoutError:
                        try:
                            ctx.check()
                        except JobCancelled:
                            future.cancel()
                            run.ended.wait(30)  # its steps are cancelled and the run marked stopped
                            raise
                if report["state"] == "failed":
                    raise WorkflowError(f"The agent run stopped: {report['error']}",
                                        hint="Fix the cause, then resume it (Agents → Resume, or `nexus agents "
                                             "resume DIR`).")
                return report
            finally:
                disconnect()
                with self._lock:
                    self._active.pop(run_id, None)
                if not run.ended.is_set():  # cancelled before its coroutine began
                    self._stopped_before_start(run_id)

        try:
            handle = self.runner.submit(job, name=f"Agent run: {run.record.workflow}",
                                        params={"run_id": run_id, "out_dir": run.record.out_dir})
        except BaseException:
            with self._lock:
                self._active.pop(run_id, None)
            raise
        with self._lock:
            if self._active.get(run_id) is _STARTING:  # (a job that already ended has taken itself off)
                self._active[run_id] = handle

    def _job_event(self, event: Any) -> None:
        """A run's job that ended without its own clean-up (cancelled while it waited for a free slot, so its body
        never ran) is taken off the active runs and marked stopped; otherwise it would look running for good."""
        job = event.job
        if not job.state.finished:
            return
        with self._lock:
            run_id = next((r for r, h in self._active.items() if h is not _STARTING and h.id == job.id), None)
            if run_id is None:
                return
            del self._active[run_id]
        self._stopped_before_start(run_id)

    def _stopped_before_start(self, run_id: str) -> None:
        if self.runs.get(run_id).state == "running":
            self.runs.set_state(run_id, "stopped", "stopped before it started; resume to go on")
            self.events.emit(RunEvent(run_id, "ended", text="stopped"))
