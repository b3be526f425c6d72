"""GPU and RAM per job: the sampler's samples taken while a job runs become its peaks, stored when it ends
(NVML stands in: this machine has no GPU)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from nexus_core.jobs import JobRunner
from nexus_core.observability.job_resources import JobResources
from nexus_core.store import Store
from nexus_core.telemetry import TelemetrySampler
from tests.support.fake_nvml import FakeGpu, FakeNvml


def test_a_jobs_peaks_are_the_samples_taken_while_it_ran(tmp_path: Path) -> None:
    store = Store(tmp_path / "nexus.db").open()
    runner = JobRunner(store)
    gpu = FakeGpu(compute=[(os.getpid(), 2 * 1024**3)])
    sampler = TelemetrySampler(nvml=FakeNvml([gpu]))
    sampler.open()
    tracker = JobResources(store, runner, sampler)
    started, release = threading.Event(), threading.Event()

    def job(ctx):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(10)
        return "done"

    try:
        sampler.sample_once()  # before the job: not counted
        handle = runner.submit(job, name="Train a student")
        assert started.wait(10)
        for used, util in ((1 * 1024**3, 20), (3 * 1024**3, 90), (2 * 1024**3, 40)):
            gpu.compute, gpu.util_gpu = [(os.getpid(), used)], util
            sampler.sample_once()
        assert [p.name for p in tracker.running()] == ["Train a student"]
        release.set()
        assert handle.result(timeout=10) == "done"
        sampler.sample_once()  # after the job: not counted either
        [peaks] = tracker.recent()
        assert peaks.name == "Train a student" and peaks.state == "succeeded" and peaks.samples == 3
        assert peaks.peak_gpu_bytes == 3 * 1024**3 and peaks.peak_gpu_util == 90
        assert peaks.peak_ram_bytes and peaks.peak_ram_bytes > 10 * 2**20
        assert peaks.finished_at >= peaks.started_at and tracker.running() == []
    finally:
        tracker.close()
        runner.shutdown()
        store.close()
