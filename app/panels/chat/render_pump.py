"""Coalesces render requests: tokens arrive hundreds of times a second, the screen is redrawn a few times.

A request starts a single-shot timer; when it fires, each waiting target renders once, within a time
budget. The interval starts at 50 ms and grows when renders are slow, so rendering never takes more
than about a quarter of the GUI thread. Long pieces of work (a long stored answer) come back for
another step on the next event-loop turn, so input and painting get in between.
"""

from __future__ import annotations

import time
from typing import Protocol

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer

MIN_INTERVAL_MS = 50
MAX_INTERVAL_MS = 500
BUDGET_S = 0.015  # render no more than this per timer tick (at least one target always renders)
SHARE = 4  # interval ≥ SHARE × the last tick's render time


class RenderTarget(Protocol):
    def render_step(self) -> bool: ...


class RenderPump(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = MIN_INTERVAL_MS
        self.last_tick_ms = 0.0
        self._pending: dict[RenderTarget, None] = {}  # an ordered set
        self._paused = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def request(self, target: RenderTarget, *, soon: bool = False) -> None:
        """Render ``target`` at the next tick (``soon``: on the next event-loop turn, not after the interval)."""
        self._pending[target] = None
        if self._paused:
            return
        if soon:
            if not self._timer.isActive() or self._timer.remainingTime() > 0:
                self._timer.start(0)
        elif not self._timer.isActive():
            self._timer.start(self.interval_ms)

    def discard(self, target: RenderTarget) -> None:
        self._pending.pop(target, None)

    def clear(self) -> None:
        self._pending.clear()
        self._timer.stop()

    def pause(self) -> None:
        """While the pane is hidden nothing is drawn; requests are kept for later."""
        self._paused = True
        self._timer.stop()

    def resume(self) -> None:
        self._paused = False
        if self._pending:
            self._timer.start(0)

    def _tick(self, budget_s: float = BUDGET_S) -> None:
        started = time.perf_counter()
        again: list[RenderTarget] = []
        while self._pending:
            target = next(iter(self._pending))
            del self._pending[target]
            if isinstance(target, QObject) and not shiboken6.isValid(target):
                continue  # its message was removed from the view
            if target.render_step():
                again.append(target)
            if time.perf_counter() - started >= budget_s:
                break
        self.last_tick_ms = (time.perf_counter() - started) * 1000
        self.interval_ms = int(min(MAX_INTERVAL_MS, max(MIN_INTERVAL_MS, SHARE * self.last_tick_ms)))
        for target in again:
            self._pending.setdefault(target, None)
        if self._pending and not self._paused:
            self._timer.start(0)
