"""Feed stdin, read stdout/stderr/status, enforce the wall clock and the output cap: one selector loop.

One thread and a selector instead of a thread per pipe, so nothing deadlocks when the child fills one pipe
while we write another, and output past the cap is never held in memory: the run is stopped instead.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from dataclasses import dataclass, field
from subprocess import Popen
from typing import Any

STATUS_CAP = 256 * 1024
CHUNK = 65536
DRAIN_GRACE_S = 0.3  # after the child is gone, how long an escaped holder of its pipes may keep them open


@dataclass
class Captured:
    """What the loop collected and why it stopped."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    status: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    timed_out: bool = False
    overflow: bool = False
    wait_status: int | None = None
    rusage: Any = None  # resource.struct_rusage; not imported so the package still imports off Linux


def kill_group(proc: Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (it has its own session, so this is exactly its tree)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_loop(proc: Popen[bytes], stdin_data: bytes, status_fd: int, *, deadline: float, cap: int) -> Captured:
    """Drive the child until it exits and its pipes close, or the deadline / output cap stops it."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out = Captured()
    buffers = {proc.stdout.fileno(): (out.stdout, cap), proc.stderr.fileno(): (out.stderr, cap),
               status_fd: (out.status, STATUS_CAP)}
    sel = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    pending = memoryview(stdin_data)
    stdin_fd = proc.stdin.fileno()
    if pending:
        os.set_blocking(stdin_fd, False)
        sel.register(stdin_fd, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                out.timed_out = True
                break
            if exited_at is None and _exited(proc):
                exited_at = now
            if exited_at is not None and now - exited_at > DRAIN_GRACE_S:
                break  # the child is gone; whoever still holds its pipes is killed below
            for key, _ in sel.select(min(deadline - now, 0.1 if exited_at is None else 0.05)):
                if key.fd == stdin_fd:
                    pending = _feed(sel, proc, pending)
                elif _read_into(sel, key.fd, *buffers[key.fd]) and key.fd != status_fd:
                    out.truncated = out.overflow = True
            if out.overflow:
                break
    finally:
        sel.close()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    if not (out.timed_out or out.overflow or exited_at is not None) and not _wait_exit(proc, deadline):
        out.timed_out = True
    kill_group(proc)  # anything left in its group; the unreaped child keeps the group id from being reused
    _reap(proc, out)
    return out


def _read_into(sel: selectors.BaseSelector, fd: int, buf: bytearray, limit: int) -> bool:
    """Append what is readable, up to ``limit``; True when more arrived than fits."""
    try:
        data = os.read(fd, CHUNK)
    except BlockingIOError:
        return False
    if not data:
        sel.unregister(fd)
        return False
    room = max(limit - len(buf), 0)
    buf += data[:room]
    return len(data) > room


def _feed(sel: selectors.BaseSelector, proc: Popen[bytes], pending: memoryview) -> memoryview:
    assert proc.stdin is not None
    try:
        written = os.write(proc.stdin.fileno(), pending[:CHUNK])
        pending = pending[written:]
    except BlockingIOError:
        return pending
    except OSError:  # the child closed stdin or died: the rest is not wanted
        pending = pending[:0]
    if not pending:
        sel.unregister(proc.stdin.fileno())
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return pending


def _exited(proc: Popen[bytes]) -> bool:
    """Has the child exited? Leaves it unreaped (WNOWAIT) so its process group id stays ours to kill."""
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _wait_exit(proc: Popen[bytes], deadline: float) -> bool:
    """Wait (polling, unreaped) for the child to exit; False if the deadline came first."""
    delay = 0.0005
    while not _exited(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True


def _reap(proc: Popen[bytes], out: Captured) -> None:
    """wait4 the child: its rusage includes reaped descendants (bubblewrap's sandboxed interpreter)."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:
        return
    out.wait_status, out.rusage = status, usage
    proc.returncode = os.waitstatus_to_exitcode(status)
