"""Test-wide settings: Qt offscreen, and a data folder (and HF cache) per test so no test touches real user data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def nexus_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "nexus-home"
    monkeypatch.setenv("NEXUS_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # where the chosen data folder is kept
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # never list the real Hugging Face cache
    return home
