"""Start-up as a user gets it: the real entry points in subprocesses, and every start-up failure path."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.main import GUI_SWITCH_INTERVAL_S
from app.startup import open_core
from nexus_core.errors import NexusError, StoreCorruptError, StoreTooNewError

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], home: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NEXUS_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_window_is_painted_before_torch_or_any_panel_code_loads(tmp_path: Path, nexus_home: Path) -> None:
    report = tmp_path / "startup.json"
    result = _run(["--startup-report", str(report)], nexus_home)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["heavy_modules"] == [], f"imported before the first paint: {data['heavy_modules']}"
    assert data["painted_at"] > 0
    assert data["switch_interval_s"] == pytest.approx(GUI_SWITCH_INTERVAL_S)  # see benchmarks/responsiveness.py


def test_screenshot_command_renders_every_panel(tmp_path: Path, nexus_home: Path) -> None:
    from app.panels import load_builtin_panels

    out = tmp_path / "shots"
    result = _run(["--screenshot", str(out)], nexus_home, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = {"main_window.png", "dock-jobs.png", "dock-log.png"} | {f"{s.id}.png" for s in load_builtin_panels()}
    assert expected <= {p.name for p in out.iterdir()}
    for name in expected:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000, name


def test_newer_store_exits_with_a_clear_message_and_leaves_the_file(tmp_path: Path, nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True)
    db = nexus_home / "nexus.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    before = db.read_bytes()
    result = _run(["--screenshot", str(tmp_path / "shots")], nexus_home)
    assert result.returncode == 2
    assert "newer Nexus Studio" in result.stderr and str(db) in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before


def test_data_dir_that_is_a_file_exits_with_a_clear_message(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = _run(["--screenshot", str(tmp_path / "shots")], blocker)
    assert result.returncode == 2
    assert str(blocker) in result.stderr and "What to do" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_store_can_be_moved_aside_and_a_fresh_one_started(nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True)
    (nexus_home / "nexus.db").write_bytes(b"this is not sqlite" * 100)
    asked: list[StoreCorruptError] = []
    core = open_core(None, interactive=True, ask_fresh=lambda e: asked.append(e) or True,
                     fatal=lambda e: pytest.fail(f"unexpected fatal: {e}"))
    assert core is not None
    try:
        assert len(asked) == 1 and asked[0].path == nexus_home / "nexus.db"
        kept = list(nexus_home.glob("nexus.db.damaged-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == b"this is not sqlite" * 100
        assert core.store.schema_version >= 1
    finally:
        core.close()


def test_corrupt_store_and_the_user_declines_keeps_everything(nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True)
    (nexus_home / "nexus.db").write_bytes(b"garbage" * 100)
    told: list[NexusError] = []
    assert open_core(None, interactive=True, ask_fresh=lambda e: False, fatal=told.append) is None
    assert isinstance(told[0], StoreCorruptError)
    assert (nexus_home / "nexus.db").read_bytes() == b"garbage" * 100


def test_newer_store_is_reported_not_replaced(nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True)
    with sqlite3.connect(nexus_home / "nexus.db") as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
        conn.execute("INSERT INTO schema_version VALUES (50, 'future', 0)")
    told: list[NexusError] = []
    asked: list[object] = []
    assert open_core(None, interactive=True, ask_fresh=asked.append, fatal=told.append) is None
    assert isinstance(told[0], StoreTooNewError) and not asked


def test_damaged_settings_are_repaired_and_reported_at_start(nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True)
    (nexus_home / "settings.json").write_text('{"theme": "purple", "monitor_interval_s": 2.0}')
    core = open_core(None, interactive=False)
    assert core is not None
    try:
        assert core.settings.theme == "system" and core.settings.monitor_interval_s == 2.0
        assert any("'theme'" in p and "settings.json" in p for p in core.problems)
    finally:
        core.close()
