"""JobRunner: thread and process jobs, progress/ETA events, cancel, pause, failures, history, shutdown."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import nexus_core.jobs.runner as runner_module
from nexus_core.jobs import JobContext, JobEvent, JobRunner, JobSnapshot, JobState
from nexus_core.jobs.history import JobHistory
from nexus_core.store import Store
from tests.core import jobfuncs

WAIT = 20.0  # generous: the test machine is a small, busy box


class EventLog:
    """Records every event of a runner and lets a test wait for one that matches."""

    def __init__(self, runner: JobRunner) -> None:
        self.events: list[JobEvent] = []
        self._cond = threading.Condition()
        runner.events.connect(self._on_event)

    def _on_event(self, event: JobEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, job_id: str, type_: str | None = None) -> list[JobEvent]:
        with self._cond:
            return [e for e in self.events if e.job.id == job_id and (type_ is None or e.type == type_)]

    def states(self, job_id: str) -> list[JobState]:
        return [e.job.state for e in self.of(job_id, "state")]

    def wait_for(self, predicate: Callable[[JobEvent], bool], timeout: float = WAIT) -> JobEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no matching job event arrived in time")
                self._cond.wait(left)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    r = JobRunner()
    yield r
    r.shutdown(cancel=True, timeout=5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "nexus.db").open()
    yield s
    s.close()


# -- thread jobs --------------------------------------------------------------------------------------------
def test_thread_job_succeeds_with_ordered_progress_eta_and_states(runner: JobRunner) -> None:
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.stepped, 8, 0.06, name="stepper", params={"steps": 8})

    result = handle.result(WAIT)

    assert result == {"pid": os.getpid(), "total": sum(range(8))}
    snap = handle.snapshot
    assert snap.state is JobState.SUCCEEDED
    assert snap.fraction == 1.0
    assert snap.eta_s is None  # no estimate once finished
    assert snap.started_at is not None and snap.finished_at is not None
    assert snap.finished_at >= snap.started_at >= snap.created_at
    assert snap.message == "step 8/8"
    assert log.states(handle.id) == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]

    progress = [e.job for e in log.of(handle.id, "progress")]
    assert len(progress) >= 2
    fractions = [p.fraction for p in progress]
    assert all(f is not None for f in fractions)
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)  # strictly increasing
    assert fractions[-1] == 1.0
    assert progress[-1].message == "step 8/8"
    for p in progress:
        assert p.state is JobState.RUNNING
        assert p.eta_s is not None and p.eta_s >= 0.0
        if p.fraction < 1.0:
            assert p.eta_s > 0.0  # time has passed and work remains
    assert progress[-1].eta_s == 0.0


def test_eta_is_none_below_one_percent(runner: JobRunner) -> None:
    log = EventLog(runner)

    def tiny(ctx: JobContext) -> None:
        ctx.sleep(0.02)
        ctx.progress(0.001, "barely started")

    handle = runner.submit(tiny, name="tiny")
    assert handle.wait(WAIT).state is JobState.SUCCEEDED
    (event,) = log.of(handle.id, "progress")
    assert event.job.fraction == 0.001 and event.job.eta_s is None


def test_progress_fraction_is_clamped(runner: JobRunner) -> None:
    log = EventLog(runner)

    def out_of_range(ctx: JobContext) -> None:
        ctx.progress(-3.0, "below")
        ctx.sleep(0.08)
        ctx.progress(7.0, "above")

    handle = runner.submit(out_of_range, name="clamp")
    assert handle.wait(WAIT).state is JobState.SUCCEEDED
    assert [e.job.fraction for e in log.of(handle.id, "progress")] == [0.0, 1.0]


def test_failing_thread_job_records_error_and_traceback(runner: JobRunner) -> None:
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.explode_with_value_error, "bad input 42", name="exploder")

    snap = handle.wait(WAIT)

    assert snap.state is JobState.FAILED
    assert snap.error is not None
    assert "ValueError" in snap.error and "bad input 42" in snap.error
    assert snap.traceback is not None
    assert "Traceback" in snap.traceback and "explode_with_value_error" in snap.traceback
    assert log.states(handle.id) == [JobState.QUEUED, JobState.RUNNING, JobState.FAILED]
    with pytest.raises(RuntimeError, match="bad input 42"):
        handle.result(WAIT)


def test_cancel_running_thread_job(runner: JobRunner) -> None:
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.loop_until_cancelled, name="looper")
    log.wait_for(lambda e: e.job.id == handle.id and e.type == "progress")

    handle.cancel()
    snap = handle.wait(WAIT)

    assert snap.state is JobState.CANCELLED
    assert snap.error is None
    assert log.states(handle.id) == [JobState.QUEUED, JobState.RUNNING, JobState.CANCELLED]
    with pytest.raises(RuntimeError, match="cancelled"):
        handle.result(1)


def test_cancel_queued_job_never_runs_it() -> None:
    runner = JobRunner(max_thread_jobs=1)
    gate, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocker(ctx: JobContext) -> str:
        started.set()
        gate.wait(WAIT)
        return "released"

    def must_not_run(ctx: JobContext) -> None:
        ran.append("ran")

    try:
        first = runner.submit(blocker, name="blocker")
        assert started.wait(WAIT)
        second = runner.submit(must_not_run, name="queued")
        assert second.snapshot.state is JobState.QUEUED

        second.cancel()
        assert second.snapshot.state is JobState.CANCELLED  # at once, not when a worker frees up

        gate.set()
        assert first.result(WAIT) == "released"
        # One worker, FIFO: once a later job has run, the cancelled job's turn has come and gone.
        third = runner.submit(lambda ctx: "after", name="after")
        assert third.result(WAIT) == "after"
        assert ran == []
        snap = second.snapshot
        assert snap.state is JobState.CANCELLED and snap.started_at is None
    finally:
        gate.set()
        runner.shutdown(timeout=5)


def test_pause_resume_and_cancel_while_paused(runner: JobRunner) -> None:
    entered, counter = [0], [0]
    stop = threading.Event()

    def count(ctx: JobContext) -> int:
        while not stop.is_set():
            entered[0] += 1
            ctx.check()
            counter[0] += 1
            time.sleep(0.005)
        return counter[0]

    handle = runner.submit(count, name="counter")
    wait_until(lambda: counter[0] > 3)

    handle.pause()
    assert handle.snapshot.state is JobState.PAUSED
    # Let the iteration under way reach its next check, where a paused job must stay.
    wait_until(lambda: entered[0] == counter[0] + 1)
    frozen = counter[0]
    time.sleep(0.3)
    assert counter[0] == frozen, "a paused job kept running"
    assert handle.snapshot.state is JobState.PAUSED

    handle.resume()
    assert handle.snapshot.state is JobState.RUNNING
    wait_until(lambda: counter[0] > frozen + 3)
    stop.set()
    assert handle.result(WAIT) >= frozen + 3
    assert handle.snapshot.state is JobState.SUCCEEDED

    # Cancel while paused: the job must wake up and end cancelled.
    second = runner.submit(jobfuncs.loop_until_cancelled, name="paused then cancelled")
    wait_until(lambda: second.snapshot.state is JobState.RUNNING)
    second.pause()
    assert second.snapshot.state is JobState.PAUSED
    second.cancel()
    assert second.wait(WAIT).state is JobState.CANCELLED


def test_pause_and_resume_are_ignored_when_not_applicable(runner: JobRunner) -> None:
    handle = runner.submit(lambda ctx: 5, name="quick")
    assert handle.result(WAIT) == 5
    handle.pause()
    assert handle.snapshot.state is JobState.SUCCEEDED
    handle.resume()
    handle.cancel()
    assert handle.snapshot.state is JobState.SUCCEEDED


def test_paused_time_does_not_count_toward_eta(runner: JobRunner) -> None:
    log = EventLog(runner)
    gate = threading.Event()

    def two_halves(ctx: JobContext) -> None:
        ctx.sleep(0.05)
        ctx.progress(0.5, "first half")
        gate.wait(WAIT)
        ctx.check()  # paused here by the test
        ctx.progress(0.5, "after the pause")

    handle = runner.submit(two_halves, name="halves")
    try:
        log.wait_for(lambda e: e.job.id == handle.id and e.job.message == "first half")
        handle.pause()
        paused_at = time.monotonic()
        gate.set()
        time.sleep(1.2)
        handle.resume()
        paused_for = time.monotonic() - paused_at
    finally:
        gate.set()
    assert handle.wait(WAIT).state is JobState.SUCCEEDED
    after = [e.job for e in log.of(handle.id, "progress") if e.job.message == "after the pause"]
    assert len(after) == 1 and after[0].eta_s is not None
    # At 50% the ETA equals the active time so far; the 1.2 s pause must not be part of it.
    assert after[0].eta_s < paused_for / 2


def test_thread_job_that_returns_after_cancel_ends_cancelled(runner: JobRunner) -> None:
    started, release = threading.Event(), threading.Event()

    def deaf(ctx: JobContext) -> str:
        started.set()
        release.wait(WAIT)
        return "done regardless"

    handle = runner.submit(deaf, name="deaf")
    try:
        assert started.wait(WAIT)
        handle.cancel()
        assert handle.snapshot.message == "Cancelling…"
        assert handle.snapshot.state is JobState.RUNNING  # cannot stop it; it has been asked to
    finally:
        release.set()
    assert handle.wait(WAIT).state is JobState.CANCELLED
    with pytest.raises(RuntimeError, match="cancelled"):
        handle.result(1)


def test_latest_progress_reaches_subscribers_even_after_a_burst(runner: JobRunner) -> None:
    """Throttling must not swallow the last update of a burst when the job then goes quiet."""
    log = EventLog(runner)
    gate = threading.Event()

    def burst_then_work(ctx: JobContext) -> None:
        ctx.progress(0.2, "downloading")
        ctx.progress(0.3, "extracting")  # within the 50 ms throttle window of the first
        gate.wait(WAIT)  # long quiet work: no further reports

    handle = runner.submit(burst_then_work, name="burst")
    try:
        wait_until(lambda: handle.snapshot.message == "extracting")
        # 1.5 s is 30 throttle intervals: the pending update should have been delivered long before.
        log.wait_for(lambda e: e.job.id == handle.id and e.job.message == "extracting", timeout=1.5)
    finally:
        gate.set()
        handle.wait(WAIT)


def test_ctx_sleep_is_interrupted_by_cancel(runner: JobRunner) -> None:
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.sleep_long, 120.0, name="sleeper")
    log.wait_for(lambda e: e.job.id == handle.id and e.type == "progress")

    handle.cancel()

    # The job sleeps for two minutes unless the cancel wakes it: ending at all within WAIT proves it did.
    snap = handle.wait(WAIT)
    assert snap.state is JobState.CANCELLED


def test_progress_events_are_throttled_but_final_snapshot_is_exact(runner: JobRunner) -> None:
    log = EventLog(runner)
    n = 10_000

    def chatty(ctx: JobContext) -> int:
        for i in range(n):
            ctx.progress((i + 1) / n, f"item {i + 1}")
        return n

    handle = runner.submit(chatty, name="chatty")
    assert handle.result(WAIT) == n

    progress = log.of(handle.id, "progress")
    assert 1 <= len(progress) < 1000
    assert progress[-1].job.fraction == 1.0  # the last update is never swallowed
    snap = handle.snapshot
    assert snap.fraction == 1.0 and snap.message == f"item {n}"


# -- submit / lookup errors ---------------------------------------------------------------------------------
def test_submit_invalid_kind_raises_value_error(runner: JobRunner) -> None:
    with pytest.raises(ValueError, match="'gpu'"):
        runner.submit(lambda ctx: None, name="bad", kind="gpu")  # type: ignore[arg-type]
    assert runner.jobs() == []


def test_unknown_job_id_raises_key_error(runner: JobRunner) -> None:
    with pytest.raises(KeyError, match="no job with id 'nope'"):
        runner.snapshot("nope")
    with pytest.raises(KeyError, match="nope"):
        runner.cancel("nope")


def test_jobs_lists_newest_first_and_counts_active(runner: JobRunner) -> None:
    gate = threading.Event()
    try:
        a = runner.submit(lambda ctx: 1, name="a")
        a.wait(WAIT)
        b = runner.submit(lambda ctx: gate.wait(WAIT), name="b")
        wait_until(lambda: b.snapshot.state is JobState.RUNNING)
        assert [s.id for s in runner.jobs()] == [b.id, a.id]
        assert runner.active_count() == 1
    finally:
        gate.set()
    b.wait(WAIT)
    assert runner.active_count() == 0


# -- process jobs -------------------------------------------------------------------------------------------
def test_process_job_succeeds_with_forwarded_progress(runner: JobRunner) -> None:
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.stepped, 4, 0.06, name="proc-stepper", kind="process")

    result = handle.result(WAIT)

    assert result["total"] == sum(range(4))
    assert result["pid"] != os.getpid()  # it really ran in another process
    assert handle.snapshot.kind == "process"
    assert log.states(handle.id) == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    progress = [e.job for e in log.of(handle.id, "progress")]
    assert progress, "no progress came back from the child"
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert progress[-1].fraction == 1.0 and progress[-1].message == "step 4/4"


def test_process_job_pause_resume_cancel(runner: JobRunner) -> None:
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.count_at_checks, name="proc-count", kind="process")
    log.wait_for(lambda e: e.job.id == handle.id and e.type == "progress")

    handle.pause()
    assert handle.snapshot.state is JobState.PAUSED
    time.sleep(0.5)  # the child reaches its next check; reports already in the pipe drain
    frozen = handle.snapshot.message
    time.sleep(0.4)
    assert handle.snapshot.message == frozen, "the paused child kept reporting"

    handle.resume()
    assert handle.snapshot.state is JobState.RUNNING
    wait_until(lambda: int(handle.snapshot.message) > int(frozen))

    handle.pause()
    handle.cancel()  # cancel while paused: the child wakes up and stops at its check
    assert handle.wait(WAIT).state is JobState.CANCELLED


def test_process_job_failure_carries_child_traceback(runner: JobRunner) -> None:
    handle = runner.submit(jobfuncs.raise_in_child, name="proc-raise", kind="process")

    snap = handle.wait(WAIT)

    assert snap.state is JobState.FAILED
    assert snap.error is not None and snap.error.startswith("RuntimeError: child boom in ")
    child_pid = int(snap.error.rsplit(" ", 1)[1])
    assert child_pid != os.getpid()
    assert snap.traceback is not None and "raise_in_child" in snap.traceback
    assert "Traceback" in snap.traceback


@pytest.mark.parametrize(("how", "expected"), [
    ("exit", "exited with code 3"),
    ("sigkill", f"killed by signal {signal.SIGKILL.value}"),
])
def test_process_job_that_dies_fails_with_exit_status(runner: JobRunner, how: str, expected: str) -> None:
    handle = runner.submit(jobfuncs.die_abruptly, how, name=f"proc-{how}", kind="process")

    snap = handle.wait(WAIT)

    assert snap.state is JobState.FAILED
    assert snap.error is not None and expected in snap.error
    assert snap.fraction == 0.5  # progress sent before dying still arrived


def test_process_job_cooperative_cancel(runner: JobRunner, tmp_path: Path) -> None:
    log = EventLog(runner)
    marker = tmp_path / "cancel-marker.txt"
    handle = runner.submit(jobfuncs.loop_until_cancelled, str(marker), name="proc-loop", kind="process")
    log.wait_for(lambda e: e.job.id == handle.id and e.type == "progress")

    handle.cancel()
    snap = handle.wait(WAIT)

    assert snap.state is JobState.CANCELLED
    assert marker.read_text(encoding="utf-8") == "cancelled at a check"  # the child saw it, not a kill


def test_process_job_ignoring_cancel_is_terminated_after_grace(
        runner: JobRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "CANCEL_GRACE_S", 0.5)
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.ignore_cancel, name="proc-stubborn", kind="process")
    first = log.wait_for(lambda e: e.job.id == handle.id and e.type == "progress")
    child_pid = int(first.job.message)
    assert psutil.pid_exists(child_pid)

    handle.cancel()
    snap = handle.wait(WAIT)

    assert snap.state is JobState.CANCELLED
    wait_until(lambda: not psutil.pid_exists(child_pid), timeout=10)


def test_process_job_logs_reach_parent_logging(runner: JobRunner, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=jobfuncs.CHILD_LOGGER)
    handle = runner.submit(jobfuncs.log_from_child, "hello from the child", name="proc-log", kind="process")

    child_pid = handle.result(WAIT)

    records = [r for r in caplog.records if r.name == jobfuncs.CHILD_LOGGER]
    assert len(records) == 1, "exactly the WARNING line (DEBUG is not forwarded)"
    record = records[0]
    assert record.levelno == logging.WARNING
    assert f"hello from the child (pid {child_pid})" in record.getMessage()
    assert "proc-log" in record.getMessage()
    assert child_pid != os.getpid()


def test_process_job_with_unpicklable_result_fails_clearly(runner: JobRunner) -> None:
    handle = runner.submit(jobfuncs.return_unpicklable, name="proc-lock", kind="process")
    snap = handle.wait(WAIT)
    assert snap.state is JobState.FAILED
    assert snap.error is not None and "could not be sent back" in snap.error


def test_process_job_with_unpicklable_function_fails_to_start(runner: JobRunner) -> None:
    handle = runner.submit(lambda ctx: 1, name="proc-lambda", kind="process")
    snap = handle.wait(WAIT)
    assert snap.state is JobState.FAILED
    assert snap.error is not None and "could not start" in snap.error


# -- history ------------------------------------------------------------------------------------------------
def test_history_is_persisted_and_visible_to_a_new_runner(store: Store) -> None:
    first = JobRunner(store)
    ok = first.submit(jobfuncs.stepped, 2, 0.0, name="good", params={"lr": 0.5, "tags": ["a", "b"]})
    bad = first.submit(jobfuncs.explode_with_value_error, "kaput", name="bad", params={"n": 1})
    assert ok.wait(WAIT).state is JobState.SUCCEEDED
    assert bad.wait(WAIT).state is JobState.FAILED
    first.shutdown(timeout=5)

    row = store.query_one("SELECT state, params, owner_pid FROM jobs WHERE id = ?", (bad.id,))
    assert row is not None and row["state"] == "failed"
    assert json.loads(row["params"]) == {"n": 1} and row["owner_pid"] == os.getpid()

    second = JobRunner(store)
    try:
        history = {s.id: s for s in second.history()}
        assert second.jobs() == []  # nothing of its own: all of this came from the store
        good_snap, bad_snap = history[ok.id], history[bad.id]
        assert good_snap.state is JobState.SUCCEEDED and good_snap.fraction == 1.0
        assert good_snap.name == "good" and good_snap.params == {"lr": 0.5, "tags": ["a", "b"]}
        assert good_snap.started_at is not None and good_snap.finished_at is not None
        assert bad_snap.state is JobState.FAILED and bad_snap.params == {"n": 1}
        assert bad_snap.error is not None and "ValueError: kaput" in bad_snap.error
        assert bad_snap.traceback is not None and "explode_with_value_error" in bad_snap.traceback
        assert [s.id for s in second.history()][:2] == [bad.id, ok.id]  # newest first
    finally:
        second.shutdown(timeout=5)


def test_clear_history_removes_only_finished_rows(store: Store) -> None:
    runner = JobRunner(store)
    gate = threading.Event()
    try:
        done = runner.submit(lambda ctx: 1, name="done")
        failed = runner.submit(jobfuncs.explode_with_value_error, "x", name="failed")
        done.wait(WAIT)
        failed.wait(WAIT)
        active = runner.submit(lambda ctx: gate.wait(WAIT), name="active")
        wait_until(lambda: active.snapshot.state is JobState.RUNNING)

        removed = runner.clear_history()

        assert removed == 2
        assert [s.id for s in runner.history()] == [active.id]
        assert [s.id for s in runner.jobs()] == [active.id]
        rows = store.query("SELECT id, state FROM jobs")
        assert [(r["id"], r["state"]) for r in rows] == [(active.id, "running")]
    finally:
        gate.set()
    assert active.wait(WAIT).state is JobState.SUCCEEDED
    assert store.query_one("SELECT state FROM jobs WHERE id = ?", (active.id,))["state"] == "succeeded"
    runner.shutdown(timeout=5)


def _insert_row(store: Store, job_id: str, state: str, owner_pid: int, owner_started: float) -> None:
    store.execute(
        "INSERT INTO jobs (id, name, kind, state, owner_pid, owner_started, created_at, started_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (job_id, f"job {job_id}", "thread", state, owner_pid, owner_started, time.time(), time.time()))


def test_orphaned_rows_are_marked_interrupted(store: Store) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(WAIT)
    dead_pid = gone.pid  # reaped; even if the pid were reused, the made-up start time would not match
    made_up_start = time.time() - 1000.0
    _insert_row(store, "dead-running", "running", dead_pid, made_up_start)
    _insert_row(store, "dead-queued", "queued", dead_pid, made_up_start)
    _insert_row(store, "dead-paused", "paused", dead_pid, made_up_start)
    _insert_row(store, "dead-finished", "succeeded", dead_pid, made_up_start)
    # Our own pid, but a start time that is not ours: the pid was reused, the owner is gone.
    _insert_row(store, "reused-pid", "running", os.getpid(), made_up_start)
    # Owned by this very (live) process: must be left alone.
    live = JobHistory(store)
    live.insert(JobSnapshot(id="live-running", name="live", kind="thread", state=JobState.RUNNING))

    runner = JobRunner(store)
    try:
        states = {s.id: s for s in runner.history()}
        for job_id in ("dead-running", "dead-queued", "dead-paused", "reused-pid"):
            assert states[job_id].state is JobState.INTERRUPTED, job_id
            assert states[job_id].finished_at is not None
            assert "Interrupted" in states[job_id].message
        assert states["dead-finished"].state is JobState.SUCCEEDED
        assert states["live-running"].state is JobState.RUNNING
    finally:
        runner.shutdown(timeout=5)


# -- shutdown -----------------------------------------------------------------------------------------------
def test_shutdown_cancels_running_jobs_and_refuses_new_ones() -> None:
    runner = JobRunner()
    log = EventLog(runner)
    handle = runner.submit(jobfuncs.loop_until_cancelled, name="looper")
    log.wait_for(lambda e: e.job.id == handle.id and e.type == "progress")

    runner.shutdown(cancel=True, timeout=WAIT)

    assert handle.snapshot.state is JobState.CANCELLED
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(lambda ctx: None, name="too late")


def test_shutdown_interrupts_a_job_that_ignores_cancel(store: Store) -> None:
    runner = JobRunner(store)
    release, started, exited = threading.Event(), threading.Event(), threading.Event()

    def stubborn(ctx: JobContext) -> str:
        started.set()
        try:
            release.wait(WAIT)  # never looks at ctx.check()
            return "finished anyway"
        finally:
            exited.set()

    handle = runner.submit(stubborn, name="stubborn")
    try:
        assert started.wait(WAIT)
        runner.shutdown(cancel=True, timeout=0.5)
        snap = handle.snapshot
        assert snap.state is JobState.INTERRUPTED
        assert snap.finished_at is not None
        row = store.query_one("SELECT state FROM jobs WHERE id = ?", (handle.id,))
        assert row is not None and row["state"] == "interrupted"
    finally:
        release.set()
    assert exited.wait(WAIT)
    assert handle.snapshot.state is JobState.INTERRUPTED  # the late return does not rewrite the outcome
