"""Which limit stopped a run, from the evidence: our own kills, the child's report, signals, CPU used."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field

from nexus_core.sandbox.capture import Captured
from nexus_core.sandbox.modes import Limits
from nexus_core.sandbox.result import LimitName

CPU_MARGIN_S = 0.2
_STDERR_HINTS: tuple[tuple[str, LimitName], ...] = (
    ("MemoryError", "memory"),
    ("File too large", "file_size"),
    ("can't start new thread", "processes"),
    ("Resource temporarily unavailable", "processes"),
)


@dataclass
class ChildReport:
    """What the bootstrap told us on the status pipe."""

    blocked: list[str] = field(default_factory=list)
    limit: LimitName | None = None
    exit_code: int | None = None


def parse_status(raw: bytes) -> ChildReport:
    report = ChildReport()
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("blocked"), str) and record["blocked"] not in report.blocked:
            report.blocked.append(record["blocked"])
        if record.get("limit") in ("memory", "file_size", "processes"):
            report.limit = record["limit"]
        if isinstance(record.get("exit"), int):
            report.exit_code = record["exit"]
    return report


def exit_code_of(captured: Captured, report: ChildReport, *, bubblewrap: bool) -> int | None:
    """The script's exit code; a death by signal N is -N. bubblewrap reports a signal as 128+N."""
    if captured.timed_out or captured.overflow or captured.wait_status is None:
        return None
    code = os.waitstatus_to_exitcode(captured.wait_status)
    if bubblewrap and code > 128 and report.exit_code != code and (code - 128) in signal.valid_signals():
        return -(code - 128)
    return code


def limit_hit(captured: Captured, report: ChildReport, exit_code: int | None, limits: Limits,
              stderr_tail: str, *, bubblewrap: bool, duration_s: float) -> LimitName | None:
    """The limit that ended the run, or None.

    A SIGKILL we did not send is RLIMIT_CPU's hard limit (the soft one sends SIGXCPU first). Under bubblewrap
    the interpreter's CPU time is not in the rusage we get (bubblewrap does not always reap it), so there it
    is recognised by the SIGKILL after at least half the CPU allowance of wall time.
    """
    if captured.overflow:
        return "output"
    if report.limit:  # the child met a limit first, even if it then hung until the wall clock
        return report.limit
    if captured.timed_out:
        return "wall_time"
    if exit_code is None or exit_code == 0:
        return None
    cpu = (captured.rusage.ru_utime + captured.rusage.ru_stime) if captured.rusage else 0.0
    if exit_code == -signal.SIGXCPU:
        return "cpu_time"
    if exit_code == -signal.SIGKILL and (cpu >= limits.cpu_s - CPU_MARGIN_S
                                         or (bubblewrap and duration_s >= limits.cpu_s / 2)):
        return "cpu_time"
    if exit_code == -signal.SIGXFSZ:
        return "file_size"
    for hint, name in _STDERR_HINTS:
        if hint in stderr_tail:
            return name
    return None
