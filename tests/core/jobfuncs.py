"""Job functions for the job runner tests.

Process jobs run under the multiprocessing "spawn" start method, so their functions must live at module
level in an importable module: this one (``tests.core.jobfuncs``). Thread-job helpers live here too so
both kinds of tests share them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from nexus_core.jobs import JobCancelled, JobContext

CHILD_LOGGER = "tests.core.jobfuncs.child"


# -- thread and process jobs ---------------------------------------------------------------------------
def stepped(ctx: JobContext, steps: int, delay: float) -> dict[str, Any]:
    """Report ``steps`` progress updates ``delay`` apart; return the pid it ran in and the step total."""
    total = 0
    for step in range(steps):
        ctx.sleep(delay)
        total += step
        ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
    return {"pid": os.getpid(), "total": total}


def explode_with_value_error(ctx: JobContext, text: str) -> None:
    ctx.progress(0.1, "about to fail")
    raise ValueError(text)


def loop_until_cancelled(ctx: JobContext, marker: str | None = None, max_s: float = 30.0) -> str:
    """Loop on ``ctx.check()``; write ``marker`` when the cancel is noticed (proves a cooperative stop)."""
    ctx.progress(0.0, f"pid {os.getpid()}")
    deadline = time.monotonic() + max_s
    try:
        while time.monotonic() < deadline:
            ctx.check()
            time.sleep(0.01)
    except JobCancelled:
        if marker is not None:
            Path(marker).write_text("cancelled at a check", encoding="utf-8")
        raise
    return "never cancelled"


def sleep_long(ctx: JobContext, seconds: float) -> str:
    ctx.progress(0.0, "sleeping")
    ctx.sleep(seconds)
    return "slept through"


# -- process-only jobs ---------------------------------------------------------------------------------
def raise_in_child(ctx: JobContext) -> None:
    raise RuntimeError(f"child boom in {os.getpid()}")


def die_abruptly(ctx: JobContext, how: str) -> None:
    ctx.progress(0.5, "about to die")
    time.sleep(0.1)  # let the progress message leave the pipe first
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(30)


def ignore_cancel(ctx: JobContext, max_s: float = 30.0) -> str:
    """Never calls ``ctx.check()``: only terminating the process stops it early."""
    ctx.progress(0.0, str(os.getpid()))
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return "ran to the end"


def log_from_child(ctx: JobContext, text: str) -> int:
    logging.getLogger(CHILD_LOGGER).warning("%s (pid %d)", text, os.getpid())
    logging.getLogger(CHILD_LOGGER).debug("a debug line that is not forwarded")
    return os.getpid()


def return_unpicklable(ctx: JobContext) -> Any:
    return threading.Lock()


def count_at_checks(ctx: JobContext, max_s: float = 30.0) -> int:
    """Report the iteration number as the message after every check (pausing freezes it)."""
    i = 0
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        ctx.check()
        i += 1
        ctx.progress(None, str(i))
        time.sleep(0.02)
    return i
