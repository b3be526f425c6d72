"""The handle a running job uses to report progress and to honour cancel and pause.

The same interface serves thread jobs and process jobs, so a job function does not care where it runs::

    def train(ctx: JobContext, steps: int) -> float:
        for step in range(steps):
            ctx.check()                       # raises JobCancelled; blocks while paused
            ...
            ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from nexus_core.jobs.models import JobCancelled


class _EventLike(Protocol):
    def is_set(self) -> bool: ...
    def set(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class JobContext:
    def __init__(self, job_id: str, report: Callable[[float | None, str | None], None],
                 cancel_event: _EventLike | None = None, run_event: _EventLike | None = None) -> None:
        self.job_id = job_id
        self._report = report
        self._cancel = cancel_event or threading.Event()
        self._run = run_event or _set_event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Report progress: ``fraction`` in [0, 1] (None = unknown), and/or a short status message."""
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._report(fraction, message)

    def check(self) -> None:
        """A safe point: wait here while paused, raise ``JobCancelled`` if the job was cancelled."""
        while not self._run.is_set():
            if self._cancel.is_set():
                raise JobCancelled()
            self._run.wait(0.1)
        if self._cancel.is_set():
            raise JobCancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep that wakes up at once on cancel."""
        if self._cancel.wait(seconds):
            raise JobCancelled()
        self.check()


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event
