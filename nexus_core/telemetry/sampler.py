"""The telemetry sampler: a background thread that reads GPU and system state at a set interval
into a time-bounded ring buffer and tells subscribers about each new sample.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from nexus_core.events import Emitter
from nexus_core.telemetry.nvml import NvmlReader
from nexus_core.telemetry.samples import GpuStatus, Sample
from nexus_core.telemetry.system import SystemReader

log = logging.getLogger(__name__)
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.25, 5.0


class TelemetrySampler:
    def __init__(self, *, interval_s: float = 1.0, window_s: float = 600.0, nvml: Any = None) -> None:
        self.sampled: Emitter[Sample] = Emitter("telemetry")
        self.window_s = window_s
        self._interval_s = self._check_interval(interval_s)
        self._gpu = NvmlReader(nvml)
        self._system = SystemReader()
        self._buffer: deque[Sample] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._paused = False
        self._thread: threading.Thread | None = None
        self._opened = False

    @property
    def gpu_status(self) -> GpuStatus:
        return self._gpu.status

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self._interval_s = self._check_interval(value)
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    def open(self) -> GpuStatus:
        if not self._opened:
            self._gpu.open()
            self._opened = True
            if not self._gpu.status.available:
                log.info("GPU telemetry unavailable: %s", self._gpu.status.reason)
        return self._gpu.status

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nexus-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self._gpu.close()
        self._opened = False

    def sample_once(self) -> Sample:
        """Take one sample now, store it and tell subscribers (also used by the CLI)."""
        self.open()
        pids = self._system.app_pids()
        sample = Sample(time.time(), self._system.read(pids), self._gpu.read(pids))
        with self._lock:
            self._buffer.append(sample)
            horizon = sample.timestamp - self.window_s
            while self._buffer and self._buffer[0].timestamp < horizon:
                self._buffer.popleft()
        self.sampled.emit(sample)
        return sample

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._buffer)

    def latest(self) -> Sample | None:
        with self._lock:
            return self._buffer[-1] if self._buffer else None

    def _loop(self) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            self._wake.clear()  # before reading the settings: a change made from here on wakes the wait below
            if not self._paused:
                try:
                    self.sample_once()
                except Exception:
                    log.exception("telemetry sample failed")
            next_due = max(next_due + self._interval_s, time.monotonic())
            self._wake.wait(max(0.0, next_due - time.monotonic()))
            if self._wake.is_set():  # interval changed or resumed: start a fresh schedule
                next_due = time.monotonic()

    @staticmethod
    def _check_interval(value: float) -> float:
        value = float(value)
        if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
            raise ValueError(f"sampling interval must be between {MIN_INTERVAL_S} and {MAX_INTERVAL_S} s, "
                             f"not {value}")
        return value
