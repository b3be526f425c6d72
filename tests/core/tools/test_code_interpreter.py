"""run_python: model-written code runs in the sandbox's code mode and reports what stopped it."""

from __future__ import annotations

import asyncio

from nexus_core.tools.builtin.code_interpreter import run_python


def _run(code: str) -> dict:
    return asyncio.run(run_python.fn(**run_python.validate({"code": code})))


def test_runs_code_and_returns_output() -> None:
    result = _run("print(sum(range(10)))")
    assert result["exit_code"] == 0
    assert result["stdout"] == "45\n"
    assert run_python.risk == "risky"


def test_blocked_code_is_reported_not_run() -> None:
    result = _run("import socket\nprint('connected')")
    assert result["ran"] is False
    assert any("socket" in b for b in result["blocked"])
    assert "connected" not in result["stdout"]


def test_errors_come_back_in_stderr() -> None:
    result = _run("raise ValueError('bad input')")
    assert result["exit_code"] != 0
    assert "ValueError: bad input" in result["stderr"]
