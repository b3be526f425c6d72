"""run_python: model-written code runs in the sandbox's code mode and reports what stopped it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus_core.config import Settings
from nexus_core.sandbox import sandbox_capabilities
from nexus_core.tools.base import ToolContext, ToolFailure
from nexus_core.tools.builtin.code_interpreter import run_python


def _run(code: str, settings: Settings | None = None) -> dict:
    ctx = ToolContext(Path.cwd(), services={"settings": settings} if settings is not None else {})
    return asyncio.run(run_python.fn(ctx, **run_python.validate({"code": code})))


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


def test_the_settings_set_the_time_limit() -> None:
    settings = Settings(sandbox_code_time_s=1.5)
    result = _run("import time\nwhile True:\n    time.sleep(0.05)", settings)
    assert result["limit_hit"] == "wall_time" and result["duration_s"] < 10


def test_the_settings_set_the_memory_limit() -> None:
    small = _run("data = bytearray(200 * 1024 * 1024)\nprint(len(data))", Settings(sandbox_code_memory_mb=64))
    assert small["exit_code"] != 0 and "209715200" not in small["stdout"]
    large = _run("data = bytearray(200 * 1024 * 1024)\nprint(len(data))", Settings(sandbox_code_memory_mb=1024))
    assert large["stdout"] == "209715200\n"


def test_requiring_bubblewrap_refuses_rather_than_running_weaker(monkeypatch) -> None:
    settings = Settings(sandbox_require_bubblewrap=True)
    if sandbox_capabilities().bubblewrap:
        assert _run("print(1)", settings)["isolation"] == "bubblewrap"
    try:
        with monkeypatch.context() as patch:
            patch.setenv("PATH", "/nonexistent")  # a machine without bwrap: the demand cannot be met
            assert not sandbox_capabilities(refresh=True).bubblewrap
            with pytest.raises(ToolFailure, match="bubblewrap"):
                _run("print(1)", settings)
            assert _run("print(1)", Settings())["isolation"].startswith("weaker")  # not required: it runs
    finally:
        sandbox_capabilities(refresh=True)
