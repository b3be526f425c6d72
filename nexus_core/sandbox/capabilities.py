"""Can this machine run bubblewrap? Probed once, cached, and told to the UI as the sandbox's strength."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nexus_core.sandbox.bwrap import bwrap_argv
from nexus_core.sandbox.layout import python_layout

Strength = Literal["strong", "weaker"]


@dataclass(frozen=True)
class Capabilities:
    """Whether bubblewrap isolates runs here, and if not, why (so the UI can say the sandbox is weaker)."""

    bubblewrap: bool
    reason: str
    strength: Strength
    bwrap_path: str | None = None


_lock = threading.Lock()
_cached: Capabilities | None = None


def sandbox_capabilities(*, refresh: bool = False) -> Capabilities:
    """The probe's answer; the first call runs a trivial sandboxed interpreter (tens of ms), later calls are free."""
    global _cached
    with _lock:
        if _cached is None or refresh:
            _cached = _probe()
        return _cached


def _weaker(reason: str, path: str | None = None) -> Capabilities:
    return Capabilities(False, reason + " Runs are contained by limits and the runtime guard only.", "weaker", path)


def _probe() -> Capabilities:
    if not sys.platform.startswith("linux"):
        return _weaker(f"bubblewrap needs Linux; this is {sys.platform}.")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return _weaker("bubblewrap (bwrap) is not installed; install the 'bubblewrap' package.")
    layout = python_layout()
    with tempfile.TemporaryDirectory(prefix="nexus-sandbox-probe-") as tmp:
        argv = bwrap_argv(bwrap, read_only=[layout.stdlib_root], writable=[tmp], workdir=tmp)
        try:
            done = subprocess.run([*argv, layout.executable, "-I", "-S", "-c", "print('ok')"], capture_output=True,
                                  text=True, timeout=20, cwd=Path(tmp), env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _weaker(f"bubblewrap could not be started: {exc}.", bwrap)
    if done.returncode != 0 or done.stdout.strip() != "ok":
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        return _weaker(f"bubblewrap cannot create a sandbox here ({detail}); user namespaces may be disabled.",
                       bwrap)
    version = _version(bwrap)
    return Capabilities(True, f"bubblewrap {version} works: private namespaces, read-only system, no network.",
                        "strong", bwrap)


def _version(bwrap: str) -> str:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "(unknown version)"
    return out.strip().rpartition(" ")[2] or "(unknown version)"
