"""A terminal progress bar over job events: the CLI face of the same progress protocol the GUI shows."""

from __future__ import annotations

import shutil
import sys
import threading
from typing import TextIO

from nexus_core.jobs import JobEvent, JobHandle, JobRunner, JobSnapshot, JobState


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render_line(job: JobSnapshot, width: int = 80) -> str:
    fraction = job.fraction
    pct = f"{fraction * 100:5.1f}%" if fraction is not None else "  ?  %"
    tail = f" {pct} ETA {format_eta(job.eta_s)} {job.message}"
    bar_width = max(10, min(40, width - len(job.name) - 30))
    filled = round((fraction or 0.0) * bar_width)
    line = f"{job.name} [{'#' * filled}{'.' * (bar_width - filled)}]{tail}"
    return line[: max(20, width - 1)]


class ProgressPrinter:
    """Redraws one line per update on a terminal, or prints occasional plain lines when piped."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self._last_pct = -10.0

    def __call__(self, event: JobEvent) -> None:
        job = event.job
        if self.interactive:
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + render_line(job, width).ljust(width - 1))
            if job.state.finished:
                self.stream.write("\n")
        else:
            pct = (job.fraction or 0.0) * 100
            if job.state.finished or event.type == "state" or pct - self._last_pct >= 10:
                self._last_pct = pct
                self.stream.write(render_line(job, 100) + f" [{job.state.value}]\n")
        self.stream.flush()


def follow(runner: JobRunner, handle: JobHandle, stream: TextIO | None = None) -> JobSnapshot:
    """Show a job's progress until it ends; Ctrl-C cancels it and waits for it to stop."""
    printer = ProgressPrinter(stream)
    done = threading.Event()

    def on_event(event: JobEvent) -> None:
        if event.job.id == handle.id:
            printer(event)
            if event.job.state.finished:
                done.set()

    disconnect = runner.events.connect(on_event)
    try:
        if handle.snapshot.state.finished:
            printer(JobEvent("state", handle.snapshot))
            done.set()
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        handle.cancel()
        handle.wait(30)
    finally:
        disconnect()
    snap = handle.snapshot
    if snap.state is JobState.FAILED and snap.traceback:
        (stream or sys.stderr).write(snap.traceback)
    return snap
