"""Where this interpreter's files live: what the sandbox must mount read-only and may read.

The child runs the real interpreter (not the venv's symlink) with ``-I -S``, so its standard library is
found from its own prefix and third-party packages only where the mode adds site-packages explicitly.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PythonLayout:
    """The interpreter to run and the folders it needs."""

    executable: str
    stdlib_root: str  # the real base prefix: standard library and extension modules
    site_paths: tuple[str, ...]  # third-party packages, for the modes that allow them


@functools.cache
def python_layout() -> PythonLayout:
    executable = os.path.realpath(sys.executable)
    stdlib_root = os.path.realpath(sys.base_prefix)
    paths = sysconfig.get_paths()
    site: list[str] = []
    for key in ("purelib", "platlib"):
        real = os.path.realpath(paths[key])
        if real not in site and Path(real).is_dir():
            site.append(real)
    return PythonLayout(executable, stdlib_root, tuple(site))
