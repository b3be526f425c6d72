"""Bubblewrap on its own (no guard): what the namespace hides; and the capability probe."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from nexus_core.sandbox import capabilities, sandbox_capabilities
from nexus_core.sandbox.bwrap import bwrap_argv
from nexus_core.sandbox.layout import python_layout
from tests.core.sandbox.conftest import needs_bwrap

REPO = Path(__file__).resolve().parents[3]

PROBE = r"""
import os, socket
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except OSError as exc:
        print(label, "refused", type(exc).__name__)
attempt("passwd", lambda: open("/etc/passwd").read())
attempt("repo", lambda: os.listdir(REPO))
attempt("write-usr", lambda: open("/usr/nexus-escape-test", "w"))
attempt("write-python", lambda: open(os.path.join(os.path.dirname(os.__file__), "nexus-escape-test"), "w"))
attempt("net", lambda: socket.create_connection(("1.1.1.1", 53), timeout=1))
attempt("workspace", lambda: open("ok.txt", "w").write("x"))
for line in open("/proc/self/status"):
    if line.startswith("CapEff"):
        print("capeff", line.split()[1])
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
"""


@needs_bwrap
def test_bubblewrap_alone_hides_the_system_and_the_network() -> None:
    caps = sandbox_capabilities()
    layout = python_layout()
    with tempfile.TemporaryDirectory() as tmp:
        argv = bwrap_argv(caps.bwrap_path or "bwrap", read_only=[layout.stdlib_root], writable=[tmp], workdir=tmp)
        probe = f"REPO = {str(REPO)!r}\n" + PROBE
        done = subprocess.run([*argv, layout.executable, "-I", "-S", "-c", probe], capture_output=True, text=True,
                              timeout=30, env={"PATH": "/usr/bin:/bin"})
        wrote = (Path(tmp) / "ok.txt").exists()
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert done.returncode == 0, done.stderr
    for label in ("passwd", "repo", "write-usr", "write-python", "net"):
        assert lines[label].startswith("refused"), (label, lines[label])
    assert lines["workspace"] == "ALLOWED" and wrote
    assert int(lines["capeff"], 16) == 0  # no capabilities, even when the app runs as root
    assert len(eval(lines["pids"])) <= 3  # a PID namespace of its own: bubblewrap's init and us


def test_capabilities_are_probed_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    first = sandbox_capabilities()
    monkeypatch.setattr(capabilities, "_probe", lambda: pytest.fail("probed again"))
    assert sandbox_capabilities() is first
    assert first.strength == ("strong" if first.bubblewrap else "weaker") and first.reason


def test_missing_bwrap_reports_a_weaker_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capabilities.shutil, "which", lambda name: None)
    caps = capabilities._probe()
    assert not caps.bubblewrap and caps.strength == "weaker" and "not installed" in caps.reason
