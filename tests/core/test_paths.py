"""nexus_core.paths: where user data lives, and a clear error when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_core.errors import DataDirError, NexusError
from nexus_core.paths import ENV_HOME, DataPaths, default_data_dir


def test_nexus_home_is_honoured(nexus_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_data_dir() == nexus_home
    other = tmp_path / "elsewhere"
    monkeypatch.setenv(ENV_HOME, f"  {other}  ")
    assert default_data_dir() == other


def test_nexus_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(ENV_HOME, "~/nexus-data")
    assert default_data_dir() == tmp_path / "nexus-data"


def test_empty_nexus_home_falls_back_to_platform_folder(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_HOME, "   ")
    folder = default_data_dir()
    assert folder.is_absolute()
    assert "nexus-studio" in folder.parts[-1]
    assert folder.is_relative_to(tmp_path / "xdg-data")  # platformdirs honours XDG_DATA_HOME


def test_prepare_creates_the_tree(nexus_home: Path) -> None:
    assert not nexus_home.exists()
    paths = DataPaths.prepare()
    assert paths.root == nexus_home
    for folder in (paths.root, paths.logs_dir, paths.backups_dir):
        assert folder.is_dir()
    assert paths.logs_dir.parent == paths.root and paths.log_file.parent == paths.logs_dir
    assert paths.store_file.parent == paths.root and paths.settings_file.parent == paths.root
    assert [p.name for p in paths.root.iterdir() if p.name.startswith(".write-probe")] == []
    again = DataPaths.prepare(nexus_home)  # idempotent
    assert again == paths


def test_prepare_with_explicit_root(tmp_path: Path) -> None:
    paths = DataPaths.prepare(tmp_path / "explicit" / "deep")
    assert paths.root == tmp_path / "explicit" / "deep"
    assert paths.backups_dir.is_dir()


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    occupied = tmp_path / "data"
    occupied.write_text("I am a file")
    with pytest.raises(DataDirError) as info:
        DataPaths.prepare(occupied)
    message = str(info.value)
    assert str(occupied) in message
    assert "is a file" in message
    assert "What to do:" in message and ENV_HOME in message
    assert isinstance(info.value, NexusError) and info.value.path == occupied
    assert occupied.read_text() == "I am a file"


def test_data_dir_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    root = blocker / "nexus"
    monkeypatch.setenv(ENV_HOME, str(root))
    with pytest.raises(DataDirError) as info:
        DataPaths.prepare()
    message = str(info.value)
    assert str(root) in message
    assert "cannot be written" in message
    assert "What to do:" in message and ENV_HOME in message
    assert isinstance(info.value.__cause__, OSError)
