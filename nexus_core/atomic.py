"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over the
target (atomic on POSIX and Windows) and fsync the folder so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path | str, data: bytes, *, mode: int | None = None) -> Path:
    """Replace ``path`` with ``data`` atomically; keeps the existing file's permissions by default."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)  # noqa: PTH101 - works on the path mkstemp returned
        os.replace(tmp_name, target)  # noqa: PTH105
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)  # noqa: PTH108
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: Path | str, text: str, *, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: Path | str, value: Any, *, indent: int = 2) -> Path:
    return atomic_write_text(path, json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=True) + "\n")


def _fsync_dir(folder: Path) -> None:
    """Persist the directory entry of a rename; not supported on every platform, so best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stamped_sibling(path: Path, label: str, suffix: str = "") -> Path:
    """A new, unused name beside ``path``: ``<name>.<label>-<YYYYmmdd-HHMMSS>[-N]<suffix>``.

    Used for kept copies (damaged files, backups) so that two in the same second never overwrite each other.
    """
    base = f"{path.name}.{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate = path.with_name(base + suffix)
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{base}-{counter}{suffix}")
        counter += 1
    return candidate
