"""shell: exit code / output / duration, output caps, workspace-confined cwd, and killing the whole process group
on timeout or cancellation (grandchildren included)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import psutil
import pytest

from nexus_core.tools import ToolContext, ToolFailure
from nexus_core.tools.builtin import shell as shell_module
from nexus_core.tools.builtin.shell import shell
from tests.core.tools.helpers import call

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell commands")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    return root


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return ToolContext(ws)


def gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_runs_a_command_and_reports_code_output_and_duration(ctx: ToolContext, ws: Path) -> None:
    result = call(shell, {"command": "echo hello; echo oops >&2; exit 3"}, ctx)
    assert result["exit_code"] == 3
    assert result["stdout"] == "hello\n" and result["stderr"] == "oops\n"
    assert 0 <= result["duration_s"] < 5 and result["cwd"] == "."
    assert "timed_out" not in result and "note" not in result


def test_runs_in_the_workspace_or_a_folder_inside_it(ctx: ToolContext, ws: Path) -> None:
    assert call(shell, {"command": "pwd -P"}, ctx)["stdout"].strip() == str(ws.resolve())
    result = call(shell, {"command": "pwd -P && touch made-here", "cwd": "sub"}, ctx)
    assert result["stdout"].strip() == str((ws / "sub").resolve()) and result["cwd"] == "sub"
    assert (ws / "sub" / "made-here").exists()


def test_uses_bash_and_cannot_read_input(ctx: ToolContext) -> None:
    assert call(shell, {"command": "echo ${BASH_VERSION:+bash}; [[ 1 == 1 ]] && echo ok"}, ctx)["stdout"] == \
        "bash\nok\n"
    result = call(shell, {"command": "read line; echo \"got:$line\""}, ctx)
    assert result["stdout"] == "got:\n"


@pytest.mark.parametrize("cwd", ["..", "/tmp", "sub/../.."])
def test_a_cwd_outside_the_workspace_is_refused(ctx: ToolContext, cwd: str) -> None:
    with pytest.raises(ToolFailure) as info:
        call(shell, {"command": "touch should-not-exist", "cwd": cwd}, ctx)
    assert info.value.kind == "outside_workspace"
    assert not Path("/tmp/should-not-exist").exists()


def test_a_missing_cwd_or_empty_command_is_refused(ctx: ToolContext) -> None:
    with pytest.raises(ToolFailure, match="does not exist"):
        call(shell, {"command": "ls", "cwd": "nope"}, ctx)
    with pytest.raises(ToolFailure, match="empty"):
        call(shell, {"command": "  "}, ctx)


def test_a_symlinked_cwd_leading_out_is_refused(ctx: ToolContext, ws: Path, tmp_path: Path) -> None:
    (ws / "out").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ToolFailure) as info:
        call(shell, {"command": "ls", "cwd": "out"}, ctx)
    assert info.value.kind == "outside_workspace"


def test_a_timeout_kills_the_whole_process_group(ctx: ToolContext, ws: Path) -> None:
    started = time.monotonic()
    result = call(shell, {"command": "sleep 30 & echo $! > child.pid; echo started; wait", "timeout_s": 1}, ctx)
    assert time.monotonic() - started < 6
    assert result["timed_out"] is True
    assert "whole process group was killed" in result["note"]
    assert result["stdout"] == "started\n"
    grandchild = int((ws / "child.pid").read_text())
    assert gone(grandchild), "the backgrounded sleep survived the timeout"


def test_a_process_ignoring_sigterm_is_killed_too(ctx: ToolContext, ws: Path) -> None:
    command = "(trap '' TERM; sleep 30) & echo $! > child.pid; wait"
    result = call(shell, {"command": command, "timeout_s": 0.5}, ctx)
    assert result["timed_out"] is True
    assert gone(int((ws / "child.pid").read_text()))


def test_background_processes_holding_the_output_do_not_hang_the_tool(ctx: ToolContext, ws: Path) -> None:
    started = time.monotonic()
    result = call(shell, {"command": "sleep 30 & echo $! > child.pid; echo done", "timeout_s": 20}, ctx)
    assert time.monotonic() - started < 8
    assert result["exit_code"] == 0 and result["stdout"] == "done\n"
    assert "kept the output open" in result["note"]
    assert gone(int((ws / "child.pid").read_text()))


def test_cancelling_the_call_kills_the_process_group(ctx: ToolContext, ws: Path) -> None:
    async def cancel_soon() -> None:
        task = asyncio.create_task(shell.fn(ctx, command="sleep 30 & echo $! > child.pid; wait", timeout_s=30))
        for _ in range(200):  # until the grandchild has started
            if (ws / "child.pid").exists() and (ws / "child.pid").read_text().strip():
                break
            await asyncio.sleep(0.025)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_soon())
    assert gone(int((ws / "child.pid").read_text()))


def test_long_output_is_capped_head_and_tail(ctx: ToolContext) -> None:
    command = f"{sys.executable} -c \"print('START'); print('x' * 100000); print('END')\""
    result = call(shell, {"command": command}, ctx)
    out = result["stdout"]
    assert out.startswith("START\n") and out.endswith("END\n")
    assert len(out) < shell_module.OUTPUT_CAP + 200
    assert "bytes of output cut" in out


def test_the_timeout_argument_is_capped(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    result = call(shell, {"command": "true", "timeout_s": 100000}, ctx)
    assert "capped at 600 s" in result["note"]
    with pytest.raises(ToolFailure, match="timeout_s"):
        call(shell, {"command": "true", "timeout_s": -1}, ctx)


def test_schema_and_risk() -> None:
    assert shell.risk == "risky" and shell.wants_context
    params = shell.parameters
    assert params["required"] == ["command"]
    assert params["properties"]["timeout_s"]["default"] == 60
    assert params["properties"]["cwd"]["default"] == "."
    assert shell.timeout_s > shell_module.MAX_TIMEOUT_S  # the tool's own timeout fires before the loop's


def test_the_apps_own_secrets_are_not_passed_to_commands(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_CREDENTIALS_PASSPHRASE", "hunter2")
    monkeypatch.setenv("SOME_TOOL_SETTING", "kept")
    result = call(shell, {"command": "echo ${NEXUS_CREDENTIALS_PASSPHRASE:-unset} $SOME_TOOL_SETTING"}, ctx)
    assert result["stdout"] == "unset kept\n"


def test_secret_looking_variables_are_not_passed_to_commands(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak-123")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-should-not-leak")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    result = call(shell, {"command": "env"}, ctx)
    assert "HARMLESS_SETTING=visible" in result["stdout"]
    assert "sk-should-not-leak-123" not in result["stdout"]
    assert "ghp-should-not-leak" not in result["stdout"]
