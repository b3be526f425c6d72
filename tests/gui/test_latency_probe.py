"""The event-loop latency probe (reused by benchmarks) must see a stall when the GUI thread blocks."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

from app.diagnostics import LatencyProbe


def test_probe_reports_a_blocked_event_loop(qtbot) -> None:
    probe = LatencyProbe(interval_ms=10)
    probe.start()
    qtbot.wait(100)
    QTimer.singleShot(0, lambda: time.sleep(0.25))  # block the GUI thread for 250 ms
    qtbot.wait(300)
    stats = probe.stop()
    assert stats.ticks >= 5
    assert stats.worst_ms >= 150, stats
    assert stats.p50_ms <= stats.p99_ms <= stats.worst_ms
