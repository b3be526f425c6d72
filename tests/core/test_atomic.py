"""nexus_core.atomic: a reader sees the old file or the new one, never a mix, even across a kill -9."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nexus_core.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[2]


def _others(folder: Path, target: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p != target)


# -- roundtrips ------------------------------------------------------------------------------


def test_bytes_roundtrip_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    payload = bytes(range(256)) * 40
    assert atomic_write_bytes(target, payload) == target
    assert target.read_bytes() == payload
    atomic_write_bytes(str(target), b"second")  # str paths work too, and overwrite
    assert target.read_bytes() == b"second"
    assert _others(target.parent, target) == []


def test_text_roundtrip_with_encoding(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    text = "héllo · 世界\nzweite Zeile\n"
    atomic_write_text(target, text)
    assert target.read_bytes() == text.encode("utf-8")
    atomic_write_text(target, text, encoding="utf-16")
    assert target.read_bytes() == text.encode("utf-16")
    assert target.read_text(encoding="utf-16") == text


def test_json_roundtrip_is_sorted_unicode_and_newline_terminated(tmp_path: Path) -> None:
    target = tmp_path / "v.json"
    value = {"zeta": [1, 2.5, None, True], "alpha": {"nested": "ü"}, "n": -3}
    atomic_write_json(target, value)
    raw = target.read_text(encoding="utf-8")
    assert json.loads(raw) == value
    assert raw.endswith("\n")
    assert "ü" in raw  # ensure_ascii=False
    assert raw.index('"alpha"') < raw.index('"n"') < raw.index('"zeta"')  # sort_keys


# -- permissions -----------------------------------------------------------------------------


def test_keeps_existing_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret.json"
    target.write_text("{}")
    target.chmod(0o600)
    atomic_write_json(target, {"k": 1})
    assert target.stat().st_mode & 0o777 == 0o600
    target.chmod(0o640)
    atomic_write_bytes(target, b"x")
    assert target.stat().st_mode & 0o777 == 0o640


def test_new_file_mode_and_explicit_mode(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    atomic_write_bytes(fresh, b"1")
    assert fresh.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
    explicit = tmp_path / "explicit"
    explicit.write_bytes(b"old")
    explicit.chmod(0o644)
    atomic_write_bytes(explicit, b"new", mode=0o600)
    assert explicit.stat().st_mode & 0o777 == 0o600


# -- failures mid-way ------------------------------------------------------------------------


def _fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)


def _fail_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", cross_device)


def _interrupt_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)


@pytest.mark.parametrize(("breaker", "expected"), [
    (_fail_fsync, OSError),
    (_fail_replace, OSError),
    (_interrupt_write, KeyboardInterrupt),
], ids=["disk-full-at-fsync", "rename-fails", "ctrl-c-during-write"])
def test_failure_midway_keeps_old_content_and_cleans_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          breaker, expected: type[BaseException]) -> None:
    target = tmp_path / "settings.json"
    target.write_bytes(b'{"old": true}\n')
    breaker(monkeypatch)
    with pytest.raises(expected):
        atomic_write_json(target, {"new": "x" * 100_000})
    monkeypatch.undo()
    assert target.read_bytes() == b'{"old": true}\n'
    assert _others(tmp_path, target) == []


def test_data_that_cannot_be_written_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type] - the write itself fails
    assert target.read_bytes() == b"old"
    assert _others(tmp_path, target) == []


def test_target_that_is_a_folder_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "inside.txt").write_text("keep me")
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert target.is_dir()
    assert (target / "inside.txt").read_text() == "keep me"
    assert _others(tmp_path, target) == []


# -- crash safety ----------------------------------------------------------------------------

_WRITER = r"""
import sys
from pathlib import Path
from nexus_core.atomic import atomic_write_bytes
exec(sys.argv[2])  # defines PAYLOADS
target = Path(sys.argv[1])
i = 0
while True:
    atomic_write_bytes(target, PAYLOADS[i % len(PAYLOADS)])
    i += 1
    if i == 2:
        print("writing", flush=True)
"""

_PAYLOADS = r"""
import json
PAYLOADS = [
    (json.dumps({"gen": n, "fill": [chr(65 + n) * 1000] * 1500}) + "\n").encode()
    for n in range(3)
]
"""


@pytest.mark.slow
def test_kill_9_during_writes_never_leaves_a_partial_file(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    exec(_PAYLOADS, namespace)
    payloads: list[bytes] = namespace["PAYLOADS"]  # type: ignore[assignment]
    assert all(len(p) > 1_000_000 for p in payloads)
    target = tmp_path / "state.json"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    seen: set[bytes] = set()
    for kill in range(5):
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), _PAYLOADS],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == b"writing\n", (line, child.stderr.read() if child.stderr else b"")
            time.sleep(rng.uniform(0.0, 0.15))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            if child.stdout:
                child.stdout.close()
            if child.stderr:
                child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        data = target.read_bytes()
        assert data in payloads, f"kill {kill} (seed {seed}): not one complete payload ({len(data)} B)"
        assert json.loads(data)["gen"] in (0, 1, 2)
        seen.add(data)
        leftovers = _others(tmp_path, target)
        bad = [n for n in leftovers if not re.fullmatch(r"\.state\.json\..+\.tmp", n)]
        assert bad == [], f"unexpected files beside the target: {bad}"
    assert seen  # at least one complete payload was observed after the kills
