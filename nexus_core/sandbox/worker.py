"""A long-lived sandboxed process spoken to in JSON lines: the home of a loaded module's code.

Reader threads collect stdout (one JSON message per line), stderr (kept as a bounded tail: the module's
log) and the guard's status pipe (blocked actions, limits); ``close`` kills the whole process tree and
removes the run folder, whatever state the child is in.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from nexus_core.sandbox import classify
from nexus_core.sandbox.capture import kill_group
from nexus_core.sandbox.proxy import AllowlistProxy, HostAllowlist
from nexus_core.sandbox.reaper import kill_marked

LOG_LINES = 500
MAX_MESSAGE = 4 * 1024 * 1024


@dataclass
class Launch:
    """A started child and what must be cleaned up after it."""

    proc: Popen[bytes]
    status_r: int
    token: str
    proxy: AllowlistProxy | None
    links_before: set[str] = field(default_factory=set)


class WorkerGone(Exception):  # noqa: N818 - a state the caller reacts to, not a bug
    """The process ended (crash, limit, kill) while a reply was awaited; ``reason`` says what is known."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SandboxProcess:
    def __init__(self, launch: Launch, root: Path, workspace: Path, *, bubblewrap: bool) -> None:
        self._launch = launch
        self._root = root
        self.workspace = workspace  # the child's working folder: files put here later are visible to it
        self._bubblewrap = bubblewrap
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._status = bytearray()
        self._closed = False
        self._write_lock = threading.Lock()
        for target in (self._read_stdout, self._read_stderr, self._read_status):
            threading.Thread(target=target, daemon=True, name=f"sandbox-worker-{target.__name__}").start()

    # ---- talking -----------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._launch.proc.pid

    @property
    def alive(self) -> bool:
        return not self._closed and self._launch.proc.poll() is None

    def allow_hosts(self, hosts: Iterable[str]) -> None:
        """Replace the network allowlist (integration mode): a warm spare process is given its module's hosts."""
        if self._launch.proxy is None:
            raise ValueError("this sandbox process has no network proxy (not integration mode)")
        self._launch.proxy.allowlist = HostAllowlist(hosts)

    def network_log(self) -> list[dict[str, Any]]:
        """Every request the child made through the proxy so far (host, method, status, allowed)."""
        return list(self._launch.proxy.log) if self._launch.proxy is not None else []

    def send(self, message: dict[str, Any]) -> None:
        stdin = self._launch.proc.stdin
        assert stdin is not None
        data = (json.dumps(message) + "\n").encode("utf-8")
        with self._write_lock:
            try:
                stdin.write(data)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                raise WorkerGone(self.exit_reason() or f"the worker stopped reading ({exc})") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next message; TimeoutError when none comes in time, WorkerGone when the process has ended."""
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no answer within {timeout:.0f} s") from None
        if message is None:
            self._messages.put(None)  # later callers learn it too
            raise WorkerGone(self.exit_reason() or "the worker closed its output")
        return message

    def log_lines(self) -> list[str]:
        """The worker's stderr so far (the newest LOG_LINES lines): prints, warnings, tracebacks."""
        return list(self._log)

    def blocked(self) -> list[str]:
        return classify.parse_status(bytes(self._status)).blocked

    def exit_reason(self) -> str | None:
        code = self._launch.proc.poll()
        if code is None:
            return None
        report = classify.parse_status(bytes(self._status))
        if report.limit:
            return f"the worker hit its {report.limit} limit"
        if report.blocked:
            return f"the sandbox stopped it: {report.blocked[-1]}"
        tail = next((line for line in reversed(self._log) if line.strip()), "")
        return f"the worker exited with code {code}" + (f": {tail.strip()}" if tail else "")

    # ---- readers -----------------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        stream = self._launch.proc.stdout
        assert stream is not None
        for raw in iter(lambda: stream.readline(MAX_MESSAGE), b""):
            try:
                message = json.loads(raw)
            except ValueError:
                self._log.append("(not a protocol message) " + raw.decode("utf-8", "replace").rstrip())
                continue
            if isinstance(message, dict):
                self._messages.put(message)
        self._messages.put(None)

    def _read_stderr(self) -> None:
        stream = self._launch.proc.stderr
        assert stream is not None
        for raw in iter(stream.readline, b""):
            self._log.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _read_status(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(self._launch.status_r, 65536):
                if len(self._status) < 256 * 1024:
                    self._status += chunk

    # ---- ending ------------------------------------------------------------------------------------

    def close(self, grace_s: float = 1.0) -> None:
        """Ask the child to stop (stdin closed), then kill its tree; idempotent."""
        if self._closed:
            return
        self._closed = True
        proc = self._launch.proc
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        deadline = time.monotonic() + grace_s
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        kill_group(proc)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        if not self._bubblewrap:
            kill_marked(self._launch.token)
        if self._launch.proxy is not None:
            self._launch.proxy.stop()
        with contextlib.suppress(OSError):
            os.close(self._launch.status_r)
        shutil.rmtree(self._root, ignore_errors=True)
