"""The child side of a process job: runs the function, streams progress/logs/result over a pipe.

Process jobs suit CPU-heavy pure-Python work and work that may crash (native code): the GUI process
keeps its interpreter lock and survives a segfault in the child.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from nexus_core.jobs.context import JobContext
from nexus_core.jobs.models import JobCancelled


class _PipeLogHandler(logging.Handler):
    def __init__(self, conn: Connection) -> None:
        super().__init__(logging.INFO)
        self._conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._conn.send(("log", record.levelno, record.name, record.getMessage()))
        except (OSError, ValueError):
            pass


def run_in_child(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], job_id: str,
                 conn: Connection, cancel_event: Any, run_event: Any) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_PipeLogHandler(conn)]
    root.setLevel(logging.INFO)

    def report(fraction: float | None, message: str | None) -> None:
        conn.send(("progress", fraction, message))

    ctx = JobContext(job_id, report, cancel_event, run_event)
    try:
        result = fn(ctx, *args, **kwargs)
    except JobCancelled:
        conn.send(("cancelled",))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    else:
        try:
            conn.send(("result", result))
        except Exception as exc:
            conn.send(("error", f"The job's result could not be sent back ({type(exc).__name__}: {exc})", ""))
    finally:
        conn.close()
