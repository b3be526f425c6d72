"""The shell tool (risky: the agent loop asks the user first): run a command in the workspace.

The command gets its own process group so a timeout (or a cancelled turn) kills everything it started,
grandchildren included; output is captured head + tail with a cap so a chatty command cannot flood the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Annotated, Any

from pydantic import Field

from nexus_core.tools.base import ToolContext, ToolFailure, tool
from nexus_core.tools.builtin._workspace import relative_name, resolve_in_workspace, workspace_root

DEFAULT_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 600.0
OUTPUT_CAP = 20_000  # bytes kept per stream: the first and the last half
PIPE_GRACE_S = 2.0  # after the shell exits, how long background processes may keep its output open
KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL
WINDOWS = sys.platform == "win32"
PRIVATE_ENV_PREFIXES = ("NEXUS_CREDENTIALS",)  # the app's own secrets (the credential-store passphrase)
# Variables that usually hold secrets (API keys, tokens, passwords) are not handed to model-written commands.
SECRET_ENV_NAME = re.compile(r"(?i)(api[_-]?key|token|secret|password|passphrase|credential)")


@tool(risk="risky", timeout_s=MAX_TIMEOUT_S + 30.0)
async def shell(ctx: ToolContext, command: str, cwd: str = ".",
                timeout_s: Annotated[float, Field(gt=0)] = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Run a shell command (bash) in the workspace and return its exit code, output and duration.

    Args:
        command: the command line, e.g. "ls -la" or "python -m pytest -q"; it cannot read input.
        cwd: folder to run in, relative to the workspace.
        timeout_s: stop the command (and everything it started) after this many seconds; at most 600.
    """
    if not command.strip():
        raise ToolFailure("the command is empty", kind="invalid_arguments")
    root = workspace_root(ctx)
    folder = resolve_in_workspace(ctx, cwd)
    if not folder.is_dir():
        raise ToolFailure(f"the working folder {cwd!r} does not exist in the workspace", kind="not_found")
    limit = min(float(timeout_s), MAX_TIMEOUT_S)
    started = time.monotonic()
    try:
        proc = await _spawn(command, folder)
    except OSError as exc:
        raise ToolFailure(f"could not start the shell: {exc}", kind="io_error") from None
    out, err = _Capture(OUTPUT_CAP), _Capture(OUTPUT_CAP)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = asyncio.gather(_pump(proc.stdout, out), _pump(proc.stderr, err))
    timed_out, notes = False, []
    try:
        try:
            await asyncio.wait_for(_exited(proc), limit)
        except TimeoutError:
            timed_out = True
            await _kill_group(proc)
            notes.append(f"the command ran past {limit:g} s and was stopped; its whole process group was killed")
        try:
            await asyncio.wait_for(asyncio.shield(pumps), PIPE_GRACE_S)
        except TimeoutError:  # background processes still hold stdout/stderr open
            await _kill_group(proc)
            notes.append("processes left running in the background kept the output open and were stopped")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pumps), PIPE_GRACE_S)
    finally:
        if proc.returncode is None:  # cancelled (turn stopped, loop timeout): leave nothing running
            await asyncio.shield(_kill_group(proc))
        if not pumps.done():
            pumps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumps
    if float(timeout_s) > MAX_TIMEOUT_S and not timed_out:
        notes.append(f"the timeout was capped at {MAX_TIMEOUT_S:g} s")
    result: dict[str, Any] = {
        "exit_code": proc.returncode,
        "stdout": out.text(),
        "stderr": err.text(),
        "duration_s": round(time.monotonic() - started, 2),
        "cwd": relative_name(folder, root),
    }
    if timed_out:
        result["timed_out"] = True
    if notes:
        result["note"] = "; ".join(notes)
    return result


async def _spawn(command: str, folder: os.PathLike[str]) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(PRIVATE_ENV_PREFIXES) and not SECRET_ENV_NAME.search(k)}
    env |= {"PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}
    pipes: dict[str, Any] = {"stdin": asyncio.subprocess.DEVNULL, "stdout": asyncio.subprocess.PIPE,
                             "stderr": asyncio.subprocess.PIPE, "cwd": folder, "env": env}
    if WINDOWS:
        return await asyncio.create_subprocess_shell(
            command, creationflags=subprocess.CREATE_NEW_PROCESS_GROUP, **pipes)  # type: ignore[attr-defined]
    bash = shutil.which("bash")
    if bash:
        return await asyncio.create_subprocess_exec(bash, "-c", command, start_new_session=True, **pipes)
    return await asyncio.create_subprocess_shell(command, start_new_session=True, **pipes)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's process group, then SIGKILL whatever is left of it."""
    if WINDOWS:
        await asyncio.to_thread(subprocess.run, ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
                                capture_output=True, check=False)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # the group id is the shell's pid (start_new_session)
        if sig == signal.SIGTERM:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_exited(proc), KILL_GRACE_S)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_exited(proc), KILL_GRACE_S)


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """Wait for the shell itself to exit. ``proc.wait()`` (Python 3.11) also waits for its pipes to close,
    which background processes can hold open forever."""
    while proc.returncode is None:
        await asyncio.sleep(0.05)
    return proc.returncode


async def _pump(stream: asyncio.StreamReader, capture: _Capture) -> None:
    while chunk := await stream.read(65536):
        capture.add(chunk)


class _Capture:
    """Keeps the first and last ``cap // 2`` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.half = cap // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.half:
            del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        dropped = self.total - len(self.head) - len(self.tail)
        if dropped <= 0:
            return head + tail
        return f"{head}\n[… {dropped} bytes of output cut: showing the first and last {self.half} …]\n{tail}"
