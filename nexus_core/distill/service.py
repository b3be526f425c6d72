"""Distillation runs as jobs: start, resume, evaluate; the runs folder; live step events for the charts.

A run is a job of the core's job runner: pausing the job pauses training at the next step, cancelling
it saves a checkpoint first (the run can be resumed exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.distill.state import DistillConfig, RunState, RunStateError, load_state
from nexus_core.distill.trainer import DistillRun, StepReport
from nexus_core.events import Emitter
from nexus_core.jobs.context import JobContext
from nexus_core.jobs.models import JobCancelled


@dataclass(frozen=True)
class StepEvent:
    run_dir: Path
    report: StepReport


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    state: RunState | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name


class DistillService:
    def __init__(self, runs_dir: Path, runner: Any) -> None:
        self.runs_dir = runs_dir
        self.runner = runner
        self.steps: Emitter[StepEvent] = Emitter("distill.steps")
        self.changed: Emitter[Path] = Emitter("distill.runs")

    def runs(self) -> list[RunSummary]:
        """Every run folder under the runs folder, newest first; unreadable ones say why."""
        if not self.runs_dir.is_dir():
            return []
        out = []
        for folder in sorted(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            if not (folder / ".pipeline_state.json").is_file():
                continue
            try:
                out.append(RunSummary(folder, load_state(folder)))
            except RunStateError as exc:
                out.append(RunSummary(folder, None, exc.what))
        return out

    def start(self, name: str, config: DistillConfig) -> Any:
        """Create the run folder and train it as a job; returns the job handle."""
        run = DistillRun.create(self.runs_dir / name, config)
        self.changed.emit(run.run_dir)
        return self._submit(run, f"Distil into {name}")

    def resume(self, run_dir: Path, *, max_steps: int | None = None) -> Any:
        return self._submit(DistillRun.resume(run_dir, max_steps=max_steps), f"Resume {run_dir.name}")

    def _submit(self, run: DistillRun, title: str) -> Any:
        def job(ctx: JobContext) -> str:
            def progress(report: StepReport) -> None:
                ctx.progress(report.step / max(1, report.total_steps),
                             f"step {report.step}/{report.total_steps} · loss {report.parts.get('total', 0):.4f}")
                self.steps.emit(StepEvent(run.run_dir, report))
                try:
                    ctx.check()  # waits here while the job is paused
                except JobCancelled:
                    pass  # seen by should_stop before the next step, which saves a checkpoint first

            try:
                state = run.run(progress=progress, should_stop=lambda: ctx.cancelled,
                                phase=lambda text, fraction: ctx.progress(fraction, text))
                if state.status == "finished":
                    run.evaluate()
                return state.status
            finally:
                self.changed.emit(run.run_dir)

        return self.runner.submit(job, name=title, params={"run_dir": str(run.run_dir)})

    def evaluate(self, run_dir: Path) -> Any:
        def job(_ctx: JobContext) -> dict[str, float]:
            run = DistillRun.resume(run_dir)
            run.prepare()
            try:
                return run.evaluate()
            finally:
                self.changed.emit(run_dir)

        return self.runner.submit(job, name=f"Evaluate {run_dir.name}", params={"run_dir": str(run_dir)})
