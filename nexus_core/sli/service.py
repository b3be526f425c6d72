"""Layer-streaming passes as jobs: start or resume one in ``<data>/sli/<name>``, list them, and hear each
batch's progress (for the Training panel's layer strip and read-speed chart)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.events import Emitter
from nexus_core.jobs.context import JobContext
from nexus_core.jobs.models import JobCancelled
from nexus_core.sli.runner import STATE_FILE, SliProgress, SliRunner, measure_disk_read


@dataclass(frozen=True)
class SliEvent:
    run_dir: Path
    progress: SliProgress
    disk_bytes_per_s: float | None


@dataclass(frozen=True)
class SliRunSummary:
    run_dir: Path
    status: str  # running | finished | stopped (a state file whose pass did not finish)
    next_layer: int
    layers: int
    model: str
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name


class SliService:
    def __init__(self, runs_dir: Path, runner: Any) -> None:
        self.runs_dir = runs_dir
        self.runner = runner
        self.progress: Emitter[SliEvent] = Emitter("sli.progress")
        self.changed: Emitter[Path] = Emitter("sli.runs")
        self._active: set[Path] = set()

    def runs(self) -> list[SliRunSummary]:
        if not self.runs_dir.is_dir():
            return []
        found = []
        for folder in sorted(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            path = folder / STATE_FILE
            if not path.is_file():
                continue
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                status = "running" if folder in self._active else (
                    "finished" if state.get("status") == "finished" else "stopped")
                found.append(SliRunSummary(folder, status, int(state.get("next_layer", -1)),
                                           int(state.get("layers", 0)), str(state.get("model", ""))))
            except (OSError, ValueError, TypeError) as exc:
                found.append(SliRunSummary(folder, "unreadable", -1, 0, "", str(exc)))
        return found

    def start(self, name: str, *, model: str, data: str, memory_budget: int | None = None, top_k: int = 0,
              layers_out: tuple[int, ...] = (), resume: bool = False) -> Any:
        run_dir = self.runs_dir / name

        def job(ctx: JobContext) -> str:
            disk = measure_disk_read(Path(model))
            runner = SliRunner(model, run_dir, memory_budget=memory_budget, top_k=top_k, layers_out=layers_out)

            def progress(report: SliProgress) -> None:
                fraction = (max(report.layer, 0) + report.batch / max(1, report.batches)) / max(1, report.layers)
                where = {"embedding": "embedding the samples", "tail": "final norm and output head",
                         "done": "finished"}.get(report.stage, f"layer {report.layer + 1}/{report.layers}")
                ctx.progress(min(1.0, fraction), where)
                self.progress.emit(SliEvent(run_dir, report, disk))
                try:
                    ctx.check()  # pausing waits here
                except JobCancelled:
                    pass  # seen by should_stop before the next batch

            self._active.add(run_dir)
            try:
                result = runner.run(data, resume=resume, progress=progress, should_stop=lambda: ctx.cancelled)
                return result.status
            finally:
                runner.close()
                self._active.discard(run_dir)
                self.changed.emit(run_dir)

        handle = self.runner.submit(job, name=f"{'Resume' if resume else 'Stream'} {name}", kind="thread",
                                    params={"run_dir": str(run_dir)})
        self.changed.emit(run_dir)
        return handle

    def resume(self, run_dir: Path, *, memory_budget: int | None = None) -> Any:
        """Continue a stopped pass with the model, data and settings it was started with."""
        state = json.loads((run_dir / STATE_FILE).read_text(encoding="utf-8"))
        return self.start(run_dir.name, model=state["model"], data=state["data"], memory_budget=memory_budget,
                          top_k=int(state.get("top_k", 0)), layers_out=tuple(state.get("layers_out") or ()),
                          resume=True)
