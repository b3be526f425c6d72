"""Event-loop latency probe: a precise timer that records how late each tick fires.

If the GUI thread is blocked (by work that belongs in a job), ticks fire late; the worst lateness is
the longest stall a user would feel.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer


@dataclass(frozen=True)
class LatencyStats:
    ticks: int
    worst_ms: float
    p50_ms: float
    p99_ms: float

    def __str__(self) -> str:
        return f"{self.ticks} ticks, worst {self.worst_ms:.1f} ms, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.1f} ms"


class LatencyProbe(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last: float | None = None
        self.lateness_ms: list[float] = []

    def start(self) -> None:
        self.lateness_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> LatencyStats:
        self._timer.stop()
        return self.stats()

    def stats(self) -> LatencyStats:
        values = sorted(self.lateness_ms) or [0.0]
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        return LatencyStats(len(self.lateness_ms), values[-1], statistics.median(values), p99)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.lateness_ms.append(max(0.0, (now - self._last) * 1000.0 - self.interval_ms))
        self._last = now
