"""``nexus modules`` end to end in-process: exit codes, JSON, stdin-only credentials."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.cli import main
from tests.support.module_factory import make_module


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # passphrase mode, unlocked from the environment as the CLI documents
    monkeypatch.setenv("NEXUS_CREDENTIALS_PASSPHRASE", "cli passphrase")
    yield
    keyring.set_keyring(previous)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_json_lists_every_check_and_exit_codes(tmp_path: Path, capsys) -> None:
    good = make_module(tmp_path / "a")
    code, out, _ = run(capsys, "modules", "validate", str(good), "--json")
    data = json.loads(out)
    assert code == 0 and data["passed"] is True
    assert [c["name"] for c in data["checks"]] == ["manifest", "files", "compile", "ast_gate", "test_quality", "hosts",
                                                  "adapter", "tests"]
    bad = make_module(tmp_path / "b", adapter="import ctypes\n")
    code, out, _ = run(capsys, "modules", "validate", str(bad), "--json")
    data = json.loads(out)
    assert code == 1 and data["passed"] is False
    failed = {c["name"]: c["detail"] for c in data["checks"] if not c["passed"]}
    assert "adapter.py line 1: import of 'ctypes'" in failed["ast_gate"]
    code, _, err = run(capsys, "modules", "validate", str(tmp_path / "missing"))
    assert code != 0 and "does not exist" in err


def test_install_list_call_credentials_disable_remove(tmp_path: Path, capsys, monkeypatch) -> None:
    folder = make_module(tmp_path / "src", credentials=[{"name": "TOKEN", "label": "Token"}])
    code, out, err = run(capsys, "modules", "install", str(folder))
    assert code == 1 and "--yes" in err  # no terminal to ask, so nothing is installed without --yes
    code, out, _ = run(capsys, "modules", "install", str(folder), "--yes")
    assert code == 0 and "Installed lab 1.0.0: needs_credentials" in out
    code, out, _ = run(capsys, "modules", "list", "--json")
    lab = next(m for m in json.loads(out) if m["name"] == "lab")
    assert lab["missing_credentials"] == ["TOKEN"]
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-from-stdin\n"))
    code, out, _ = run(capsys, "modules", "credentials", "set", "lab", "TOKEN")
    assert code == 0 and "s3cret" not in out
    code, out, _ = run(capsys, "modules", "call", "lab", "secret_length")
    assert code == 0 and json.loads(out) == len("s3cret-from-stdin")
    code, out, _ = run(capsys, "modules", "call", "lab", "echo", "--args", '{"text": "hi", "times": 2}')
    assert json.loads(out) == {"echo": "hihi"}
    code, _, err = run(capsys, "modules", "call", "lab", "echo", "--args", "{nope")
    assert code != 0 and "--args is not valid JSON" in err
    code, _, err = run(capsys, "modules", "call", "lab", "echo", "--args", '{"times": 1}')
    assert code == 1 and "invalid_arguments" in err and "text" in err
    code, out, _ = run(capsys, "modules", "disable", "lab")
    assert code == 0 and "disabled" in out
    code, out, _ = run(capsys, "modules", "remove", "lab")
    assert code == 0 and "Removed lab" in out
    code, out, _ = run(capsys, "modules", "list")
    assert "lab " not in out and "wikipedia" in out
