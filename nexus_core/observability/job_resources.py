"""GPU and RAM per job: while a job runs, every telemetry sample raises its peaks (the app's memory with its
child processes, the GPU memory its processes hold, the busiest GPU's load); when it ends they are stored."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from nexus_core.jobs.models import JobEvent
from nexus_core.store import Store


@dataclass
class JobPeaks:
    job_id: str
    name: str
    kind: str
    started_at: float
    finished_at: float = 0.0
    state: str = "running"
    samples: int = 0
    peak_ram_bytes: int | None = None
    peak_gpu_bytes: int | None = None
    peak_gpu_util: float | None = None

    def take(self, sample: Any) -> None:
        self.samples += 1
        self.peak_ram_bytes = max(self.peak_ram_bytes or 0, int(sample.system.app_rss))
        if sample.gpus:
            self.peak_gpu_bytes = max(self.peak_gpu_bytes or 0, sum(g.self_bytes for g in sample.gpus))
            utils = [g.util_gpu for g in sample.gpus if g.util_gpu is not None]
            if utils:
                self.peak_gpu_util = max(self.peak_gpu_util or 0.0, max(utils))


class JobResources:
    def __init__(self, store: Store, runner: Any, telemetry: Any) -> None:
        self.store = store
        self._running: dict[str, JobPeaks] = {}
        self._lock = threading.Lock()
        self._disconnect = [runner.events.connect(self._on_job), telemetry.sampled.connect(self._on_sample)]

    def _on_job(self, event: JobEvent) -> None:
        job = event.job
        with self._lock:
            if job.state.value == "running" and job.id not in self._running:
                self._running[job.id] = JobPeaks(job.id, job.name, job.kind, job.started_at or job.created_at)
                return
            peaks = self._running.pop(job.id, None) if job.state.finished else None
        if peaks is not None:
            peaks.finished_at, peaks.state = job.finished_at or job.created_at, job.state.value
            self.store.execute(
                "INSERT OR REPLACE INTO job_resources (job_id, name, kind, state, started_at, finished_at, samples, "
                "peak_ram_bytes, peak_gpu_bytes, peak_gpu_util) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (peaks.job_id, peaks.name, peaks.kind, peaks.state, peaks.started_at, peaks.finished_at,
                 peaks.samples, peaks.peak_ram_bytes, peaks.peak_gpu_bytes, peaks.peak_gpu_util))

    def _on_sample(self, sample: Any) -> None:
        with self._lock:
            for peaks in self._running.values():
                peaks.take(sample)

    def running(self) -> list[JobPeaks]:
        with self._lock:
            return list(self._running.values())

    def recent(self, limit: int = 50, since: float = 0.0) -> list[JobPeaks]:
        rows = self.store.query(
            "SELECT job_id, name, kind, started_at, finished_at, state, samples, peak_ram_bytes, peak_gpu_bytes, "
            "peak_gpu_util FROM job_resources WHERE finished_at >= ? ORDER BY finished_at DESC LIMIT ?",
            (since, limit))
        return [JobPeaks(*tuple(r)) for r in rows]

    def close(self) -> None:
        for disconnect in self._disconnect:
            disconnect()
