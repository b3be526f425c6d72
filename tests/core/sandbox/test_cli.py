"""``nexus sandbox run`` / ``check``: output streams, the summary line, JSON and exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nexus_core.cli_sandbox import add_parser, cmd_sandbox


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nexus")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.func is cmd_sandbox
    return args.func(args)


def script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "job.py"
    path.write_text(text)
    return str(path)


def test_run_prints_streams_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["sandbox", "run", script(tmp_path, "print('out')\nraise SystemExit(5)\n")])
    captured = capsys.readouterr()
    assert code == 5
    assert captured.out == "out\n"
    summary = captured.err.strip().splitlines()[-1]
    assert summary.startswith("[sandbox] exit 5 |") and "bubblewrap" in summary


def test_run_limit_exits_124(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["sandbox", "run", "--timeout", "1", script(tmp_path, "while True:\n    pass\n")])
    assert code == 124
    assert "limit" in capsys.readouterr().err.splitlines()[-1]


def test_run_blocked_code_reports_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["sandbox", "run", script(tmp_path, "import os\n")])
    err = capsys.readouterr().err
    assert code == 1
    assert "line 1: import of 'os'" in err


def test_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["sandbox", "run", "--json", "--mode", "validate", "--memory-mb", "300",
                    script(tmp_path, "import sys\nprint('hi')\nprint('warn', file=sys.stderr)\n")])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["stdout"] == "hi\n" and data["stderr"] == "warn\n" and data["ok"] is True
    assert set(data) >= {"exit_code", "duration_s", "limit_hit", "blocked", "used_bubblewrap", "network_log"}


@pytest.mark.parametrize("argv", [
    ["sandbox", "run", "/nonexistent/job.py"],
    ["sandbox", "run", "--timeout", "0", "{script}"],
    ["sandbox", "run", "--allow-host", "example.com", "{script}"],
])
def test_bad_input_exits_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = script(tmp_path, "print(1)\n")
    assert run_cli([a.replace("{script}", path) for a in argv]) == 2
    assert capsys.readouterr().err.startswith("nexus sandbox: ")


def test_check_prints_capabilities(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sandbox", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bubblewrap: ") and "why:" in out
    assert run_cli(["sandbox", "check", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["strength"] == ("strong" if data["bubblewrap"] else "weaker")
