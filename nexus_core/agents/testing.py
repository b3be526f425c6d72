"""Running the tests agents write: every ``test*.py`` under the workspace, with unittest, in the sandbox's
validate mode (no network, a copy of the workspace's Python files, time and memory limits)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.tools.base import ToolContext, ToolFailure, tool

REPORT_MARKER = "NEXUS_AGENT_TESTS "
MAX_BYTES = 4 * 1024 * 1024  # Python files copied into the sandbox, in all
SKIPPED_DIRS = {".git", "__pycache__", ".venv", "node_modules"}

_RUNNER = f'''import json
import sys
import unittest

report = {{"tests": 0, "failures": [], "errors": [], "skipped": 0}}
try:
    suite = unittest.defaultTestLoader.discover(".", pattern="test*.py", top_level_dir=".")
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(suite)
    report["tests"] = result.testsRun
    report["skipped"] = len(result.skipped)
    report["failures"] = [case.id() + ": " + text.strip().splitlines()[-1] for case, text in result.failures]
    report["errors"] = [case.id() + ": " + text.strip().splitlines()[-1] for case, text in result.errors]
except Exception as exc:
    report["errors"].append(type(exc).__name__ + ": " + str(exc))
print({REPORT_MARKER!r} + json.dumps(report))
'''


@dataclass
class TestReport:
    tests: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    problem: str | None = None  # the run itself failed (a limit, a blocked import, no report)
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.problem is None and self.tests > 0 and not self.failures and not self.errors

    def summary(self) -> str:
        if self.problem:
            return f"the tests could not run: {self.problem}"
        if not self.tests:
            return "no tests were found (files named test*.py)"
        failed = len(self.failures) + len(self.errors)
        return (f"{self.tests} test(s): {self.tests - failed - self.skipped} passed, {failed} failed"
                + (f", {self.skipped} skipped" if self.skipped else "") + f" in {self.duration_s:.1f} s")

    def to_dict(self) -> dict[str, Any]:
        return {"tests": self.tests, "failures": self.failures, "errors": self.errors, "skipped": self.skipped,
                "problem": self.problem, "passed": self.passed, "summary": self.summary()}


def python_files(workspace: Path) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    total = 0
    for path in sorted(workspace.rglob("*.py")):
        relative = path.relative_to(workspace)
        if any(part in SKIPPED_DIRS for part in relative.parts) or not path.is_file():
            continue
        data = path.read_bytes()
        total += len(data)
        if total > MAX_BYTES:
            raise ToolFailure(f"the workspace holds more than {MAX_BYTES // (1024 * 1024)} MiB of Python files; "
                              "the tests are not run", kind="too_large")
        files[relative.as_posix()] = data
    return files


def run_workspace_tests(workspace: Path) -> TestReport:
    from nexus_core.sandbox import Sandbox, SandboxMode

    result = Sandbox(SandboxMode.VALIDATE).run_code(_RUNNER, files=python_files(workspace),
                                                     script_name="nexus_agent_tests.py")
    line = next((ln for ln in reversed(result.stdout.splitlines()) if ln.startswith(REPORT_MARKER)), None)
    if line is None:
        why = result.limit_hit or (result.blocked[-1] if result.blocked else None)
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        return TestReport(problem=(why or "the run ended without a report") + (f" ({tail})" if tail else ""),
                          duration_s=result.duration_s)
    data = json.loads(line[len(REPORT_MARKER):])
    return TestReport(data["tests"], data["failures"], data["errors"], data["skipped"], duration_s=result.duration_s)


@tool(name="run_tests", risk="safe", timeout_s=90.0, sandboxed=True)
async def run_tests(ctx: ToolContext) -> dict[str, Any]:
    """Run every test*.py file in the workspace with unittest, in the sandbox (no network), and report the result.

    Failures name the test and the last line of its error.
    """
    workspace = Path(ctx.workspace)
    if not workspace.is_dir():
        raise ToolFailure(f"the workspace folder {workspace} does not exist", kind="unavailable")
    return (await asyncio.to_thread(run_workspace_tests, workspace)).to_dict()
