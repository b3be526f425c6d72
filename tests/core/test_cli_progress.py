"""The terminal face of the job progress protocol: ETA text, one-line bars, the printer, ``follow``."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator

import pytest

from nexus_core.cli_progress import ProgressPrinter, follow, format_eta, render_line
from nexus_core.jobs import JobContext, JobEvent, JobRunner, JobSnapshot, JobState
from tests.core import jobfuncs

WAIT = 20.0


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    r = JobRunner()
    yield r
    r.shutdown(cancel=True, timeout=5)


def snap(**changes: object) -> JobSnapshot:
    base = JobSnapshot(id="j1", name="distil", kind="thread", state=JobState.RUNNING)
    return base.evolve(**changes)


class TtyStringIO(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "--:--"),
    (0, "00:00"),
    (0.4, "00:00"),
    (5, "00:05"),
    (59.6, "01:00"),
    (65, "01:05"),
    (599, "09:59"),
    (3599, "59:59"),
    (3600, "1:00:00"),
    (3725, "1:02:05"),
    (36061, "10:01:01"),
])
def test_format_eta(seconds: float | None, text: str) -> None:
    assert format_eta(seconds) == text


def test_render_line_shows_name_percent_eta_and_message() -> None:
    line = render_line(snap(fraction=0.42, eta_s=65, message="step 42/100"), width=100)
    assert line.startswith("distil [")
    assert "42.0%" in line
    assert "ETA 01:05" in line
    assert line.endswith("step 42/100")


def test_render_line_bar_follows_the_fraction() -> None:
    def bar(fraction: float | None) -> str:
        match = re.search(r"\[([#.]+)\]", render_line(snap(fraction=fraction), width=100))
        assert match is not None
        return match.group(1)

    empty, half, full = bar(0.0), bar(0.5), bar(1.0)
    assert set(empty) == {"."} and set(full) == {"#"}
    assert len(empty) == len(half) == len(full)
    assert half.count("#") == len(half) // 2
    assert bar(None) == empty


def test_render_line_unknown_fraction_and_eta() -> None:
    line = render_line(snap(fraction=None, eta_s=None), width=80)
    assert "?" in line and "%" in line
    assert "ETA --:--" in line


@pytest.mark.parametrize("width", [21, 30, 40, 60, 80, 120, 200])
@pytest.mark.parametrize("name", ["x", "distil", "a-very-long-job-name-" * 4])
def test_render_line_fits_the_width(width: int, name: str) -> None:
    job = snap(name=name, fraction=0.999, eta_s=7 * 3600, message="a long status message " * 6)
    line = render_line(job, width=width)
    assert len(line) <= width - 1
    assert line.startswith(name[: width - 1])


def test_non_tty_printer_prints_state_lines_and_sparse_progress() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out)
    assert printer.interactive is False

    printer(JobEvent("state", snap(state=JobState.QUEUED)))
    printer(JobEvent("state", snap(state=JobState.RUNNING, fraction=0.0)))
    for pct in range(1, 100):
        printer(JobEvent("progress", snap(fraction=pct / 100, message=f"at {pct}")))
    printer(JobEvent("state", snap(state=JobState.SUCCEEDED, fraction=1.0)))

    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].endswith("[queued]") and lines[0].startswith("distil")
    assert lines[1].endswith("[running]")
    assert lines[-1].endswith("[succeeded]") and "100.0%" in lines[-1]
    progress_lines = lines[2:-1]
    # Piped output gets a line every 10%, not one per update.
    assert 5 <= len(progress_lines) <= 11
    assert all(line.endswith("[running]") for line in progress_lines)
    assert "at 10" in progress_lines[0]


def test_tty_printer_redraws_one_line() -> None:
    out = TtyStringIO()
    printer = ProgressPrinter(out)
    assert printer.interactive is True

    printer(JobEvent("progress", snap(fraction=0.3)))
    printer(JobEvent("progress", snap(fraction=0.6)))
    printer(JobEvent("state", snap(state=JobState.SUCCEEDED, fraction=1.0)))

    text = out.getvalue()
    assert text.count("\r") == 3
    assert text.count("\n") == 1 and text.endswith("\n")  # a newline only once the job has ended
    assert "30.0%" in text and "60.0%" in text and "100.0%" in text


def test_follow_returns_the_final_snapshot(runner: JobRunner) -> None:
    out = io.StringIO()
    handle = runner.submit(jobfuncs.stepped, 3, 0.06, name="followed")

    final = follow(runner, handle, out)

    assert final.state is JobState.SUCCEEDED and final.fraction == 1.0
    assert final.id == handle.id
    text = out.getvalue()
    assert "followed" in text
    assert text.rstrip("\n").splitlines()[-1].endswith("[succeeded]")
    assert "Traceback" not in text
    assert len(runner.events) == 0  # follow() disconnected itself


def test_follow_writes_the_traceback_of_a_failed_job(runner: JobRunner) -> None:
    out = io.StringIO()
    handle = runner.submit(jobfuncs.explode_with_value_error, "no such file: model.bin", name="doomed")

    final = follow(runner, handle, out)

    assert final.state is JobState.FAILED
    text = out.getvalue()
    assert "[failed]" in text
    assert "Traceback" in text
    assert "explode_with_value_error" in text
    assert "ValueError: no such file: model.bin" in text


def test_follow_an_already_finished_job(runner: JobRunner) -> None:
    handle = runner.submit(lambda ctx: 1, name="instant")
    handle.wait(WAIT)
    out = io.StringIO()

    final = follow(runner, handle, out)

    assert final.state is JobState.SUCCEEDED
    assert "[succeeded]" in out.getvalue()


def test_follow_ignores_other_jobs(runner: JobRunner) -> None:
    gate = threading.Event()

    def waits(ctx: JobContext) -> str:
        gate.wait(WAIT)
        return "ok"

    other = runner.submit(waits, name="other-job")
    mine = runner.submit(jobfuncs.stepped, 2, 0.06, name="mine")
    out = io.StringIO()
    try:
        final = follow(runner, mine, out)
    finally:
        gate.set()
    assert final.state is JobState.SUCCEEDED
    assert "other-job" not in out.getvalue()
    assert other.result(WAIT) == "ok"
