"""The one background job runner: thread jobs and process jobs, progress events with ETA,
cancel, pause/resume, failures captured with their traceback, history persisted in the store.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nexus_core.events import Emitter
from nexus_core.jobs.context import JobContext
from nexus_core.jobs.history import JobHistory
from nexus_core.jobs.models import JobCancelled, JobEvent, JobKind, JobSnapshot, JobState
from nexus_core.jobs.process_host import run_in_child
from nexus_core.store import Store

log = logging.getLogger(__name__)

PROGRESS_EVENT_INTERVAL_S = 0.05  # at most 20 progress events per second per job reach subscribers
CANCEL_GRACE_S = 5.0  # a process job gets this long to stop at a ctx.check() before it is terminated


@dataclass
class _Job:
    snapshot: JobSnapshot
    cancel: Any
    run: Any  # set = may run, cleared = paused
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    paused_since: float | None = None
    paused_total: float = 0.0
    last_progress_emit: float = 0.0
    trailing_emit: threading.Timer | None = None  # delivers the last update of a throttled burst
    final_published: bool = False  # the final state event goes out exactly once


class JobHandle:
    """What ``submit`` returns: follow, wait for, cancel, pause or resume one job."""

    def __init__(self, runner: JobRunner, job_id: str) -> None:
        self._runner = runner
        self.id = job_id

    @property
    def snapshot(self) -> JobSnapshot:
        return self._runner.snapshot(self.id)

    def cancel(self) -> None:
        self._runner.cancel(self.id)

    def pause(self) -> None:
        self._runner.pause(self.id)

    def resume(self) -> None:
        self._runner.resume(self.id)

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        self._runner._job(self.id).done.wait(timeout)
        return self.snapshot

    def result(self, timeout: float | None = None) -> Any:
        """The job's return value; raises if it did not succeed."""
        snap = self.wait(timeout)
        if snap.state.active:
            raise TimeoutError(f"job {snap.name!r} is still {snap.state.value} after {timeout} s")
        if snap.state is not JobState.SUCCEEDED:
            raise RuntimeError(f"job {snap.name!r} ended {snap.state.value}: {snap.error or snap.message}")
        return self._runner._job(self.id).result


class JobRunner:
    def __init__(self, store: Store | None = None, *, max_thread_jobs: int = 4, max_process_jobs: int = 2) -> None:
        self.events: Emitter[JobEvent] = Emitter("jobs")
        self._history = JobHistory(store) if store is not None else None
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.RLock()
        # Held while an event is delivered, so subscribers see each job's events in order and never a
        # progress event after the job's final state.
        self._emit_lock = threading.RLock()
        self._threads = ThreadPoolExecutor(max_thread_jobs, thread_name_prefix="nexus-job")
        self._supervisors = ThreadPoolExecutor(max_process_jobs, thread_name_prefix="nexus-proc")
        self._mp = mp.get_context("spawn")  # never fork a process that runs Qt or CUDA
        self._closed = False
        if self._history is not None:
            self._history.mark_orphans_interrupted(time.time())

    # -- submit ----------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, name: str, kind: JobKind = "thread",
               params: dict[str, Any] | None = None, **kwargs: Any) -> JobHandle:
        """Queue ``fn(ctx, *args, **kwargs)``. ``params`` is recorded in the history: never put secrets in it.

        A process job's ``fn`` and arguments must be picklable (a module-level function).
        """
        if self._closed:
            raise RuntimeError("the job runner has been shut down")
        if kind not in ("thread", "process"):
            raise ValueError(f"job kind must be 'thread' or 'process', not {kind!r}")
        job_id = uuid.uuid4().hex[:12]
        snapshot = JobSnapshot(id=job_id, name=name, kind=kind, state=JobState.QUEUED, params=dict(params or {}))
        if kind == "process":
            job = _Job(snapshot, self._mp.Event(), self._mp.Event())
        else:
            job = _Job(snapshot, threading.Event(), threading.Event())
        job.run.set()
        with self._lock:
            self._jobs[job_id] = job
        if self._history:
            self._history.insert(snapshot)
        with self._emit_lock:
            self.events.emit(JobEvent("state", snapshot))
        if kind == "thread":
            self._threads.submit(self._run_thread_job, job, fn, args, kwargs)
        else:
            self._supervisors.submit(self._run_process_job, job, fn, args, kwargs)
        return JobHandle(self, job_id)

    # -- control ---------------------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        job = self._job(job_id)
        job.cancel.set()
        job.run.set()  # a paused job must wake up to notice
        if not self._finish(job, JobState.CANCELLED, message="Cancelled before it started.",
                            only_from=JobState.QUEUED):
            self._update(job, message="Cancelling…", event="progress")  # it stops at its next ctx.check()

    def pause(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.snapshot.state is JobState.RUNNING:
            job.run.clear()
            job.paused_since = time.time()
            self._update(job, state=JobState.PAUSED)

    def resume(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.snapshot.state is JobState.PAUSED:
            if job.paused_since is not None:
                job.paused_total += time.time() - job.paused_since
                job.paused_since = None
            job.run.set()
            self._update(job, state=JobState.RUNNING)

    # -- queries ---------------------------------------------------------------------------
    def snapshot(self, job_id: str) -> JobSnapshot:
        return self._job(job_id).snapshot

    def jobs(self) -> list[JobSnapshot]:
        """Jobs of this runner's lifetime, newest first."""
        with self._lock:
            snaps = [j.snapshot for j in self._jobs.values()]
        return sorted(snaps, key=lambda s: s.created_at, reverse=True)

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.snapshot.state.active)

    def history(self, limit: int = 200) -> list[JobSnapshot]:
        """This runner's jobs plus earlier runs' from the store, newest first."""
        current = {s.id: s for s in self.jobs()}
        if self._history is not None:
            for snap in self._history.recent(limit):
                current.setdefault(snap.id, snap)
        return sorted(current.values(), key=lambda s: s.created_at, reverse=True)[:limit]

    def clear_history(self) -> int:
        with self._lock:
            for job_id in [i for i, j in self._jobs.items() if j.snapshot.state.finished]:
                del self._jobs[job_id]
        return self._history.clear_finished() if self._history else 0

    def shutdown(self, *, cancel: bool = True, timeout: float = 10.0) -> None:
        """Cancel (or wait for) active jobs; whatever is still running at the deadline is interrupted."""
        self._closed = True
        with self._lock:
            active = [j for j in self._jobs.values() if j.snapshot.state.active]
        if cancel:
            for job in active:
                self.cancel(job.snapshot.id)
        deadline = time.monotonic() + timeout
        for job in active:
            job.done.wait(max(0.0, deadline - time.monotonic()))
        for job in active:
            if not job.done.is_set():
                self._finish(job, JobState.INTERRUPTED, message="Interrupted: the app closed while it ran.")
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._supervisors.shutdown(wait=False, cancel_futures=True)

    # -- internals -------------------------------------------------------------------------
    def _job(self, job_id: str) -> _Job:
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise KeyError(f"no job with id {job_id!r} in this runner") from None

    def _start(self, job: _Job) -> bool:
        with self._lock:
            if job.snapshot.state is not JobState.QUEUED:
                return False  # cancelled while queued
            job.snapshot = job.snapshot.evolve(state=JobState.RUNNING, started_at=time.time(), fraction=0.0)
        self._publish(job)
        return True

    def _report(self, job: _Job, fraction: float | None, message: str | None) -> None:
        now = time.time()
        changes: dict[str, Any] = {}
        if fraction is not None:
            changes["fraction"] = fraction
            changes["eta_s"] = self._eta(job, fraction, now)
        if message is not None:
            changes["message"] = message
        with self._lock:
            if job.snapshot.state.finished:
                return
            job.snapshot = job.snapshot.evolve(**changes)
            wait = job.last_progress_emit + PROGRESS_EVENT_INTERVAL_S - now
            due = wait <= 0 or fraction == 1.0
            if due:
                job.last_progress_emit = now
            elif job.trailing_emit is None:
                job.trailing_emit = threading.Timer(wait, self._emit_trailing, (job,))
                job.trailing_emit.daemon = True
                job.trailing_emit.start()
        if due:
            self._emit_progress(job)

    def _emit_trailing(self, job: _Job) -> None:
        with self._lock:
            job.trailing_emit = None
            job.last_progress_emit = time.time()
        self._emit_progress(job)

    def _emit_progress(self, job: _Job) -> None:
        with self._emit_lock:
            snap = job.snapshot
            if snap.state.active:  # a finished job's last word is its final state event
                self.events.emit(JobEvent("progress", snap))

    def _eta(self, job: _Job, fraction: float, now: float) -> float | None:
        started = job.snapshot.started_at
        if started is None or fraction < 0.01:
            return None
        active = now - started - job.paused_total
        return max(0.0, active * (1.0 - fraction) / fraction)

    def _update(self, job: _Job, *, event: str = "state", **changes: Any) -> None:
        with self._lock:
            if job.snapshot.state.finished:
                return
            job.snapshot = job.snapshot.evolve(**changes)
        if event == "state":
            self._publish(job)
        else:
            self._emit_progress(job)

    def _publish(self, job: _Job) -> None:
        """Record the job's current state in the history and tell subscribers (outside the state lock)."""
        with self._emit_lock:
            snap = job.snapshot
            if job.final_published:
                return
            job.final_published = snap.state.finished
            if self._history:
                self._history.update(snap)
            self.events.emit(JobEvent("state", snap))

    def _finish(self, job: _Job, state: JobState, *, message: str | None = None, error: str | None = None,
                tb: str | None = None, result: Any = None, only_from: JobState | None = None) -> bool:
        """Move the job to a final state (atomically, and only from ``only_from`` if given)."""
        with self._lock:
            if job.snapshot.state.finished or (only_from is not None and job.snapshot.state is not only_from):
                return False
            changes: dict[str, Any] = {"state": state, "finished_at": time.time(), "eta_s": None,
                                       "error": error, "traceback": tb}
            if message is not None:
                changes["message"] = message
            if state is JobState.SUCCEEDED:
                changes["fraction"] = 1.0
            job.result = result
            job.snapshot = job.snapshot.evolve(**changes)
            snap = job.snapshot
        if state is JobState.FAILED:
            log.error("job %r failed: %s\n%s", snap.name, error, tb or "")
        else:
            log.info("job %r %s", snap.name, state.value)
        self._publish(job)
        job.done.set()
        return True

    def _run_thread_job(self, job: _Job, fn: Callable[..., Any], args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> None:
        if not self._start(job):
            return
        ctx = JobContext(job.snapshot.id, lambda f, m: self._report(job, f, m), job.cancel, job.run)
        try:
            result = fn(ctx, *args, **kwargs)
        except JobCancelled:
            self._finish(job, JobState.CANCELLED, message="Cancelled.")
        except BaseException as exc:
            self._finish(job, JobState.FAILED, error=f"{type(exc).__name__}: {exc}", tb=traceback.format_exc())
        else:
            if job.cancel.is_set():
                self._finish(job, JobState.CANCELLED, message="Cancelled.")
            else:
                self._finish(job, JobState.SUCCEEDED, result=result)

    def _run_process_job(self, job: _Job, fn: Callable[..., Any], args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> None:
        if not self._start(job):
            return
        parent_conn, child_conn = self._mp.Pipe(duplex=False)
        process = self._mp.Process(
            target=run_in_child, name=f"nexus-job-{job.snapshot.id}", daemon=True,
            args=(fn, args, kwargs, job.snapshot.id, child_conn, job.cancel, job.run))
        try:
            process.start()
        except Exception as exc:
            self._finish(job, JobState.FAILED, error=f"The job's process could not start ({exc}).",
                         tb=traceback.format_exc())
            return
        child_conn.close()
        outcome: tuple[Any, ...] | None = None
        kill_at: float | None = None
        try:
            while outcome is None:
                if parent_conn.poll(0.1):
                    try:
                        message = parent_conn.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is None:
                        outcome = ("died",)
                    elif message[0] == "progress":
                        self._report(job, message[1], message[2])
                    elif message[0] == "log":
                        logging.getLogger(message[2]).log(message[1], "[job %s] %s", job.snapshot.name, message[3])
                    else:
                        outcome = message
                elif not process.is_alive():
                    outcome = ("died",)
                if job.cancel.is_set() and outcome is None:
                    kill_at = kill_at or time.monotonic() + CANCEL_GRACE_S
                    if time.monotonic() > kill_at:
                        process.terminate()
                        outcome = ("cancelled",)
        finally:
            parent_conn.close()
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)
        kind = outcome[0]
        if kind == "cancelled" or (kind == "result" and job.cancel.is_set()):
            self._finish(job, JobState.CANCELLED, message="Cancelled.")  # as for thread jobs
        elif kind == "result":
            self._finish(job, JobState.SUCCEEDED, result=outcome[1])
        elif kind == "error":
            self._finish(job, JobState.FAILED, error=outcome[1], tb=outcome[2])
        else:
            code = process.exitcode
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            self._finish(job, JobState.FAILED, error=f"The job's process {how} before it finished.")
