"""Job states, snapshots and events: the progress protocol every long task in the app speaks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the process that ran it ended (crash, kill) before the job finished

    @property
    def finished(self) -> bool:
        return self in _FINISHED

    @property
    def active(self) -> bool:
        return not self.finished


_FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED})

JobKind = Literal["thread", "process"]


class JobCancelled(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a job by ``ctx.check()`` once the user has cancelled it."""


@dataclass(frozen=True)
class JobSnapshot:
    """What is known about one job at one moment; immutable so it can cross threads freely."""

    id: str
    name: str
    kind: JobKind
    state: JobState
    fraction: float | None = None
    message: str = ""
    eta_s: float | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    traceback: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> JobSnapshot:
        return replace(self, **changes)

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at


@dataclass(frozen=True)
class JobEvent:
    """Emitted on every state change and (throttled) progress update; carries the new snapshot."""

    type: Literal["state", "progress"]
    job: JobSnapshot
