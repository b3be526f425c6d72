"""Workspace confinement shared by the file and shell tools: every path a model names must stay inside.

A model can be talked (or prompt-injected) into reading ``~/.ssh`` or writing ``/etc``; resolving each path
and checking it, and every existing parent, against the resolved workspace stops ``..``, absolute paths and
symlinks that point out of the workspace.
"""

from __future__ import annotations

import os
from pathlib import Path

from nexus_core.tools.base import ToolContext, ToolFailure


def workspace_root(ctx: ToolContext, *, create: bool = False) -> Path:
    """The workspace folder, resolved (so symlinks in its own path do not count as escapes)."""
    root = Path(ctx.workspace).expanduser()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    if not root.is_dir():
        raise ToolFailure(f"the workspace folder {root} does not exist", kind="unavailable")
    return root.resolve()


def resolve_in_workspace(ctx: ToolContext, raw: str, *, create_root: bool = False) -> Path:
    """``raw`` (relative to the workspace, or absolute inside it) as a resolved path inside the workspace."""
    root = workspace_root(ctx, create=create_root)
    text = raw.strip() or "."
    if "\x00" in text:
        raise ToolFailure(f"the path {text!r} contains a NUL character", kind="invalid_path")
    given = Path(text).expanduser() if text.startswith("~") else Path(text)
    candidate = given if given.is_absolute() else root / given
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ToolFailure(f"the path {text!r} cannot be resolved ({exc})", kind="invalid_path") from None
    lexical = Path(os.path.normpath(candidate))
    if not lexical.is_relative_to(root) and not _inside(resolved, root):
        where = "is outside" if given.is_absolute() else "leads outside"
        raise ToolFailure(f"the path {text!r} {where} the workspace ({root}); use a path relative to it",
                          kind="outside_workspace")
    if not _inside(resolved, root):
        raise ToolFailure(f"the path {text!r} resolves to {resolved}, outside the workspace (through a symlink "
                          "or '..'); only files inside the workspace can be used", kind="outside_workspace")
    for parent in _existing_parents(candidate, root):
        if not is_inside(parent, root):
            raise ToolFailure(f"the path {text!r} goes through {parent}, a link out of the workspace",
                              kind="outside_workspace")
    return resolved


def relative_name(path: Path, root: Path) -> str:
    """How a path is shown to the model: relative to the workspace, with '/' separators."""
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
    return rel or "."


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path`` still lands inside ``root`` once its symlinks are followed."""
    try:
        return _inside(path.resolve(), root)
    except (OSError, RuntimeError):
        return False


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _existing_parents(candidate: Path, root: Path) -> list[Path]:
    """Each existing folder between the workspace and ``candidate`` (by name, before resolving)."""
    try:
        rel = Path(os.path.normpath(candidate)).relative_to(root)
    except ValueError:
        return []
    parents, current = [], root
    for part in rel.parts[:-1]:
        current = current / part
        if not (current.exists() or current.is_symlink()):
            break
        parents.append(current)
    return parents
