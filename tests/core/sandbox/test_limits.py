"""Limits: wall clock (whole process group), CPU, memory, file size, threads, output cap, no deadlocks."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from nexus_core.sandbox import Limits, Sandbox, SandboxMode
from nexus_core.sandbox.capture import run_loop
from nexus_core.sandbox.reaper import MARKER, kill_marked
from tests.core.sandbox.conftest import FAST, GRACE_S


def alive(pid: int) -> bool:
    """Running (zombies count as gone: nobody may reap them in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_wall_timeout_kills_the_whole_process_group() -> None:
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & echo $!; sleep 30"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    started = time.monotonic()
    captured = run_loop(proc, b"", read_fd, deadline=started + 1.0, cap=10_000)
    os.close(read_fd)
    grandchild = int(captured.stdout.decode().split()[0])
    assert captured.timed_out
    assert time.monotonic() - started < 1.0 + GRACE_S
    time.sleep(0.1)
    assert not alive(proc.pid) and not alive(grandchild)


def test_processes_that_left_the_group_are_found_by_their_marker() -> None:
    token = "test-token-" + os.urandom(4).hex()
    escaped = subprocess.Popen(["sleep", "30"], env={MARKER: token, "PATH": "/usr/bin:/bin"},
                               start_new_session=True)
    try:
        environ = Path(f"/proc/{escaped.pid}/environ")
        deadline = time.monotonic() + 5
        while token.encode() not in environ.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has exec'd: before that it still shows the parent's environment
        assert kill_marked(token) == 1
        escaped.wait(timeout=5)
        assert escaped.returncode == -9
    finally:
        escaped.kill()


def test_wall_clock_limit(use_bwrap: bool) -> None:
    limits = replace(FAST, wall_s=1.5)
    code = "import time\nprint('start', flush=True)\ntime.sleep(30)\n"
    result = Sandbox(limits=limits, use_bubblewrap=use_bwrap).run_code(code)
    assert result.limit_hit == "wall_time" and result.exit_code is None and not result.ok
    assert result.stdout == "start\n"
    assert limits.wall_s <= result.duration_s < limits.wall_s + GRACE_S


def test_cpu_limit(use_bwrap: bool) -> None:
    limits = replace(FAST, cpu_s=1, wall_s=10.0)  # wall time to spare: the CPU limit must be the one that stops it
    result = Sandbox(limits=limits, use_bubblewrap=use_bwrap).run_code("while True:\n    pass\n")
    assert result.limit_hit == "cpu_time", result
    assert result.duration_s < limits.wall_s


def test_memory_limit(use_bwrap: bool) -> None:
    # CPU and wall allowances with room to spare: on a loaded machine the interpreter's start-up alone once used
    # a 1 s CPU allowance, and the run was (rightly) stopped for CPU time before it could reach the memory limit.
    limits = replace(FAST, cpu_s=5, wall_s=10.0)
    sandbox = Sandbox(limits=limits, use_bubblewrap=use_bwrap)
    result = sandbox.run_code("b = [bytearray(20_000_000) for _ in range(100)]")
    assert result.limit_hit == "memory" and "MemoryError" in result.stderr


def test_file_size_limit(use_bwrap: bool) -> None:
    code = "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(bytes(1_000_000))\n"
    result = Sandbox(limits=FAST, use_bubblewrap=use_bwrap).run_code(code)
    assert result.limit_hit == "file_size"


def test_thread_bomb_meets_the_process_limit() -> None:
    code = "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n"
    result = Sandbox(SandboxMode.VALIDATE, limits=FAST).run_code(code)
    assert result.limit_hit == "processes"
    assert result.duration_s < FAST.wall_s  # it ends at once, not when the sleeping threads would


def test_output_cap_stops_the_run_and_bounds_memory(use_bwrap: bool) -> None:
    limits = Limits(wall_s=5.0, cpu_s=5, output_bytes=100_000)
    result = Sandbox(limits=limits, use_bubblewrap=use_bwrap).run_code("while True:\n    print('x' * 10_000)\n")
    assert result.limit_hit == "output" and result.output_truncated
    assert len(result.stdout) <= limits.output_bytes
    assert result.duration_s < 2.0


def test_stderr_is_capped_too() -> None:
    limits = Limits(wall_s=5.0, cpu_s=5, output_bytes=50_000)
    code = "import sys\nwhile True:\n    sys.stderr.write('e' * 5_000)\n"
    result = Sandbox(SandboxMode.VALIDATE, limits=limits).run_code(code)
    assert result.limit_hit == "output" and len(result.stderr) <= 50_000


def test_big_stdin_and_output_do_not_deadlock(use_bwrap: bool) -> None:
    code = ("import sys\ndata = sys.stdin.read()\n"
            "for _ in range(20):\n    print('o' * 4000)\n    print('e' * 4000, file=sys.stderr)\n"
            "print(len(data))\n")
    stdin = "i" * 3_000_000
    result = Sandbox(SandboxMode.VALIDATE, limits=Limits(wall_s=10.0, cpu_s=5), use_bubblewrap=use_bwrap).run_code(
        code, stdin=stdin)
    assert result.ok, result.stderr[-500:]
    assert result.stdout.splitlines()[-1] == str(len(stdin))
    assert len(result.stderr) == 20 * 4001


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="wall_s"):
        Limits(wall_s=0)
