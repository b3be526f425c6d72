"""Multimodal fusion as one core object: alignment training as a job on the one job runner, its loss reported
live. (A local provider loads its own fusion bundle, next to its model, when attachments first come.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_core.events import Emitter
from nexus_core.jobs import JobRunner


class MultimodalService:
    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self.losses: Emitter[tuple[str, int, int, float]] = Emitter("multimodal.loss")  # (job id, step, total, loss)

    def train(self, llm: Path, encoders: dict[str, Path], data: Path, out: Path, **options: Any) -> Any:
        """Start alignment training as a job; returns its handle (its result: the TrainResult)."""
        from nexus_core.multimodal.train import read_pairs

        read_pairs(data)  # bad data is refused before a job is queued

        def job(ctx: Any) -> Any:
            from nexus_core.multimodal.train import align

            def progress(step: int, total: int, loss: float) -> None:
                ctx.progress(step / total, f"step {step}/{total}: caption loss {loss:.4f}")
                self.losses.emit((ctx.job_id, step, total, loss))

            return align(llm, encoders, data, out, progress=progress, check=ctx.check, **options)

        return self.runner.submit(job, name=f"Train fusion projectors: {Path(out).name}",
                                  params={"llm": str(llm), "data": str(data), "out": str(out),
                                          **{m: str(p) for m, p in encoders.items()}})
