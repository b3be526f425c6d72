"""Without bubblewrap there is no PID namespace to tear down, so stragglers are found by a marker.

Every sandboxed process starts with ``NEXUS_SANDBOX_RUN=<token>`` in its environment; ``/proc/PID/environ``
keeps the environment a process was started with, so a process that left the group (``setsid``) is still
found and killed after the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

MARKER = "NEXUS_SANDBOX_RUN"
PASSES = 5


def kill_marked(token: str) -> int:
    """SIGKILL every process carrying this run's marker, a few passes in case one was forking; returns the count."""
    needle = f"{MARKER}={token}".encode() + b"\0"
    me = os.getpid()
    killed: set[int] = set()
    for _ in range(PASSES):
        found = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in (me, *killed):
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ + b"\0":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.add(int(entry.name))
                    found += 1
        if not found:
            break
    return len(killed)
