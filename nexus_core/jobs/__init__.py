"""Background jobs: one runner for the whole app (see ``runner.JobRunner``)."""

from nexus_core.jobs.context import JobContext
from nexus_core.jobs.models import JobCancelled, JobEvent, JobKind, JobSnapshot, JobState
from nexus_core.jobs.runner import JobHandle, JobRunner

__all__ = ["JobCancelled", "JobContext", "JobEvent", "JobHandle", "JobKind", "JobRunner", "JobSnapshot",
           "JobState"]
