"""The Jobs view: every background job with its progress, controls and history."""

from app.jobs.view import JobsView

__all__ = ["JobsView"]
