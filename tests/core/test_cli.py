"""nexus_core.cli: the headless ``nexus`` command, run in-process with argv lists (and once as a process)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core import __version__
from nexus_core.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_leaked_log_handler() -> Iterator[None]:
    """Core.open attaches the rotating file handler to the root logger; detach it after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler.get_name() == "nexus-file":  # only what setup_logging added; pytest's stay
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json(capsys: pytest.CaptureFixture[str], nexus_home: Path) -> None:
    code, out, _ = _run(capsys, "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert Path(info["data_dir"]) == nexus_home
    assert info["store_schema"] >= 1
    assert info["version"] == __version__
    assert Path(info["log_file"]).is_relative_to(nexus_home)
    assert isinstance(info["gpu"]["available"], bool)
    if not info["gpu"]["available"]:
        assert info["gpu"]["reason"]
    assert info["libraries"]["python"]
    assert (nexus_home / "nexus.db").exists()


def test_info_text(capsys: pytest.CaptureFixture[str], nexus_home: Path) -> None:
    code, out, _ = _run(capsys, "info")
    assert code == 0
    assert f"Nexus Studio {__version__}" in out
    assert str(nexus_home) in out


def test_monitor_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "monitor", "--count", "2", "--interval", "0.25", "--json")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    samples = [json.loads(line) for line in lines]
    for sample in samples:
        assert sample["system"]["ram_total"] > 0
        assert isinstance(sample["gpus"], list)
    assert samples[1]["timestamp"] > samples[0]["timestamp"]


def test_monitor_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "monitor", "--count", "1", "--interval", "0.25")
    assert code == 0
    assert len(out.strip().splitlines()) == 1 and "CPU" in out and "RAM" in out


def test_monitor_rejects_bad_interval(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "monitor", "--count", "1", "--interval", "0.1")
    assert code == 2
    assert out == ""
    assert "between" in err


def test_store_backup_then_jobs_lists_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    destination = tmp_path / "copies" / "my-backup.db"
    code, out, _ = _run(capsys, "store", "backup", "--to", str(destination))
    assert code == 0
    assert str(destination) in out
    assert destination.exists()
    conn = sqlite3.connect(destination)
    try:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] >= 1
    finally:
        conn.close()

    code, out, _ = _run(capsys, "jobs", "--json")
    assert code == 0
    jobs = json.loads(out)
    backups = [j for j in jobs if j["name"] == "Back up the store"]
    assert len(backups) == 1
    job = backups[0]
    assert job["state"] == "succeeded"
    assert job["params"]["destination"] == str(destination)
    assert job["fraction"] == 1.0
    assert job["finished_at"] >= job["started_at"]

    code, out, _ = _run(capsys, "jobs")
    assert code == 0 and "succeeded" in out and "Back up the store" in out


def test_store_backup_default_destination(capsys: pytest.CaptureFixture[str], nexus_home: Path) -> None:
    code, out, _ = _run(capsys, "store", "backup")
    assert code == 0
    made = list((nexus_home / "backups").glob("nexus-v*.db"))
    assert len(made) == 1 and str(made[0]) in out


def test_store_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "store", "check")
    assert code == 0
    assert "sound" in out


def test_jobs_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "jobs")
    assert code == 0 and "No jobs have run yet." in out
    assert _run(capsys, "store", "backup", "--to", str(tmp_path / "a.db"))[0] == 0
    assert _run(capsys, "store", "backup", "--to", str(tmp_path / "b.db"))[0] == 0
    assert len(json.loads(_run(capsys, "jobs", "--json")[1])) == 2
    code, out, _ = _run(capsys, "jobs", "--clear")
    assert code == 0
    assert "Removed 2 finished job(s)" in out
    assert json.loads(_run(capsys, "jobs", "--json")[1]) == []


def test_data_dir_that_is_a_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, out, err = _run(capsys, "--data-dir", str(blocker), "info", "--json")
    assert code == 2
    assert out == ""
    assert str(blocker) in err
    assert "What to do:" in err
    assert blocker.read_text() == "x"


def test_data_dir_option_overrides_nexus_home(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              nexus_home: Path) -> None:
    other = tmp_path / "other-home"
    code, out, _ = _run(capsys, "--data-dir", str(other), "info", "--json")
    assert code == 0
    assert Path(json.loads(out)["data_dir"]) == other
    assert (other / "nexus.db").exists() and not (nexus_home / "nexus.db").exists()


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_info_json_as_a_process(nexus_home: Path) -> None:
    env = dict(os.environ, NEXUS_HOME=str(nexus_home))
    done = subprocess.run([sys.executable, "-m", "nexus_core.cli", "info", "--json"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert Path(info["data_dir"]) == nexus_home
    assert info["store_schema"] >= 1


def test_console_script_help() -> None:
    script = Path(sys.executable).with_name("nexus")
    if not script.exists():
        pytest.skip(f"the 'nexus' console script is not installed beside {sys.executable}")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("info", "monitor", "jobs", "store", "launcher"):
        assert command in done.stdout
