"""Job history in the store: one row per job, written on every state change.

Rows left ``running`` by a process that no longer exists (a crash, a kill -9) are marked
``interrupted`` when a runner starts, so the history never claims a dead job is still going.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3

import psutil

from nexus_core.jobs.models import JobSnapshot, JobState
from nexus_core.store import Store

log = logging.getLogger(__name__)
_ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value, JobState.PAUSED.value)


def _process_started_at() -> float:
    return psutil.Process(os.getpid()).create_time()


class JobHistory:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.owner_pid = os.getpid()
        self.owner_started = _process_started_at()

    def insert(self, job: JobSnapshot) -> None:
        self._safe(
            "INSERT INTO jobs (id, name, kind, state, fraction, message, error, traceback, params, owner_pid,"
            " owner_started, created_at, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (job.id, job.name, job.kind, job.state.value, job.fraction, job.message, job.error, job.traceback,
             json.dumps(job.params, default=str), self.owner_pid, self.owner_started, job.created_at,
             job.started_at, job.finished_at))

    def update(self, job: JobSnapshot) -> None:
        self._safe(
            "UPDATE jobs SET state=?, fraction=?, message=?, error=?, traceback=?, started_at=?, finished_at=?"
            " WHERE id=?",
            (job.state.value, job.fraction, job.message, job.error, job.traceback, job.started_at,
             job.finished_at, job.id))

    def mark_orphans_interrupted(self, now: float) -> int:
        """Mark active rows whose owning process is gone as interrupted; returns how many."""
        rows = self.store.query(
            f"SELECT id, owner_pid, owner_started FROM jobs WHERE state IN ({','.join('?' * len(_ACTIVE))})",
            _ACTIVE)
        orphans = [r["id"] for r in rows if not _owner_alive(r["owner_pid"], r["owner_started"])]
        with self.store.transaction() as conn:
            for job_id in orphans:
                conn.execute("UPDATE jobs SET state=?, finished_at=?, message=? WHERE id=?",
                             (JobState.INTERRUPTED.value, now,
                              "Interrupted: the app stopped before this job finished.", job_id))
        if orphans:
            log.warning("marked %d job(s) from a previous run as interrupted", len(orphans))
        return len(orphans)

    def recent(self, limit: int = 200) -> list[JobSnapshot]:
        rows = self.store.query("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
        return [_row_to_snapshot(r) for r in rows]

    def clear_finished(self) -> int:
        return self.store.execute(f"DELETE FROM jobs WHERE state NOT IN ({','.join('?' * len(_ACTIVE))})",
                                  _ACTIVE)

    def _safe(self, sql: str, params: tuple[object, ...]) -> None:
        # A history write failing (disk full) must not fail the job itself.
        try:
            self.store.execute(sql, params)
        except sqlite3.Error:
            log.exception("could not record job history")


def _owner_alive(pid: int, started: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _row_to_snapshot(row: sqlite3.Row) -> JobSnapshot:
    try:
        params = json.loads(row["params"] or "{}")
    except json.JSONDecodeError:
        params = {}
    return JobSnapshot(
        id=row["id"], name=row["name"], kind=row["kind"], state=JobState(row["state"]),
        fraction=row["fraction"], message=row["message"] or "", created_at=row["created_at"],
        started_at=row["started_at"], finished_at=row["finished_at"], error=row["error"],
        traceback=row["traceback"], params=params)
