"""The workspace folder: files handed in before a run, the listing after it, links that point out removed.

A link made inside the sandbox to ``/etc/passwd`` is harmless there but not to a caller who later opens
the workspace's files on the host, so such links are deleted when the run ends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Set
from pathlib import Path, PurePosixPath

from nexus_core.errors import NexusError

MAX_LISTED = 10_000


def write_files(workspace: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        rel = PurePosixPath(name)
        if not name or rel.is_absolute() or ".." in rel.parts or "\0" in name:
            raise NexusError(f"The sandbox file name {name!r} must be a relative path inside the workspace.",
                             hint="Use names like 'data.csv' or 'inputs/data.csv'.")
        target = workspace.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


def _walk(workspace: Path):  # type: ignore[no-untyped-def]
    for folder, dirs, names in os.walk(workspace, followlinks=False):
        base = Path(folder)
        for name in names + [d for d in dirs if (base / d).is_symlink()]:
            yield base / name


def list_files(workspace: Path) -> list[str]:
    """Relative paths of the workspace's files (links included, not followed), sorted."""
    found: list[str] = []
    for path in _walk(workspace):
        found.append(path.relative_to(workspace).as_posix())
        if len(found) >= MAX_LISTED:
            break
    return sorted(found)


def escaping_links(workspace: Path) -> set[str]:
    """Relative names of the links whose target lies outside the workspace."""
    root = os.path.realpath(workspace)
    found: set[str] = set()
    for path in _walk(workspace):
        if path.is_symlink():
            target = os.path.realpath(path)
            if target != root and not target.startswith(root + os.sep):
                found.add(path.relative_to(workspace).as_posix())
    return found


def remove_escaping_links(workspace: Path, keep: Set[str] = frozenset()) -> list[str]:
    """Delete links pointing outside the workspace, except those in ``keep`` (the caller's, from before the run)."""
    removed = sorted(escaping_links(workspace) - keep)
    for name in removed:
        (workspace / name).unlink(missing_ok=True)
    return removed
