"""File tools confined to the conversation's workspace: list, read, write (risky) and search.

They let a model work on the user's project without shell access; every path goes through
``resolve_in_workspace`` so nothing outside the workspace is read or written, even through symlinks.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import Field

from nexus_core.atomic import atomic_write_text
from nexus_core.tools.base import ToolContext, ToolFailure, tool
from nexus_core.tools.builtin._workspace import is_inside, relative_name, resolve_in_workspace, workspace_root

MAX_LIST_ENTRIES = 500
MAX_SEARCH_FILE_BYTES = 2 * 1024 * 1024
MAX_SEARCH_FILES = 20_000
MAX_LINE_CHARS = 240
SNIFF_BYTES = 8192
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", ".tox", ".idea"})


@tool(risk="safe")
def list_files(ctx: ToolContext, path: str = ".", pattern: str = "*") -> str:
    """List files and folders in the workspace (folders end with '/', files show their size).

    Args:
        path: folder relative to the workspace, e.g. "." or "src".
        pattern: glob pattern, e.g. "*.py"; "**/*.py" searches subfolders too.
    """
    root = workspace_root(ctx)
    folder = resolve_in_workspace(ctx, path)
    if not folder.exists():
        raise ToolFailure(f"there is no folder {path!r} in the workspace", kind="not_found")
    if not folder.is_dir():
        raise ToolFailure(f"{path!r} is a file, not a folder; use read_file to read it", kind="not_a_folder")
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise ToolFailure(f"the pattern {pattern!r} must be relative and must not contain '..'", kind="invalid_path")
    lines, hidden_links, more = [], 0, False
    try:
        matches = folder.glob(pattern or "*")
        for entry in matches:
            if not is_inside(entry, root):
                hidden_links += 1
                continue
            if len(lines) >= MAX_LIST_ENTRIES:
                more = True
                break
            lines.append(_describe(entry, root))
    except (ValueError, OSError) as exc:
        raise ToolFailure(f"could not list {path!r} with pattern {pattern!r}: {exc}", kind="invalid_path") from None
    lines.sort()
    shown = relative_name(folder, root)
    header = f"{shown}: {len(lines)} entr{'y' if len(lines) == 1 else 'ies'} matching {pattern!r}"
    if more:
        header += f" (only the first {MAX_LIST_ENTRIES} are shown; use a narrower pattern)"
    if hidden_links:
        header += f" ({hidden_links} link(s) pointing outside the workspace left out)"
    return "\n".join([header, *lines])


def _describe(entry: Path, root: Path) -> str:
    name = relative_name(entry, root)
    if entry.is_dir():
        return name + "/"
    try:
        return f"{name}  ({_size(entry.stat().st_size)})"
    except OSError:
        return name


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


@tool(risk="safe")
def read_file(ctx: ToolContext, path: str, max_chars: Annotated[int, Field(ge=1, le=200_000)] = 20_000) -> str:
    """Read a text file from the workspace.

    Args:
        path: file path relative to the workspace.
        max_chars: the most characters to return; longer files are cut with a note.
    """
    target = _existing_file(ctx, path)
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(max_chars * 4 + 4)
    if _looks_binary(data[:SNIFF_BYTES]):
        raise ToolFailure(f"{path!r} is a binary file ({_size(size)}); read_file reads text files only",
                          kind="binary")
    text = data.decode("utf-8", errors="replace")
    if len(text) <= max_chars and len(data) >= size:
        return text
    return (text[:max_chars] + f"\n[… truncated: showing the first {max_chars} characters of {path} "
            f"({_size(size)}); call read_file with a larger max_chars to see more]")


@tool(risk="risky")
def write_file(ctx: ToolContext, path: str, content: str, append: bool = False) -> str:
    """Create or overwrite a text file in the workspace (parent folders are created as needed).

    Args:
        path: file path relative to the workspace.
        content: the text to write.
        append: add to the end of the file instead of replacing it.
    """
    target = resolve_in_workspace(ctx, path, create_root=True)
    if target.is_dir():
        raise ToolFailure(f"{path!r} is a folder; give a file path", kind="not_a_file")
    if target.exists() and not target.is_file():
        raise ToolFailure(f"{path!r} is not a regular file", kind="not_a_file")
    existing = ""
    if append and target.exists():
        raw = target.read_bytes()
        if _looks_binary(raw[:SNIFF_BYTES]):
            raise ToolFailure(f"{path!r} is a binary file; cannot append text to it", kind="binary")
        existing = raw.decode("utf-8", errors="replace")
    existed = target.exists()
    try:
        atomic_write_text(target, existing + content)
    except OSError as exc:
        raise ToolFailure(f"could not write {path!r}: {exc.strerror or exc}", kind="io_error") from None
    name = relative_name(target, workspace_root(ctx))
    verb = "appended" if append and existed else ("overwrote" if existed else "created")
    return f"{verb} {name}: {len(content)} characters written ({_size(target.stat().st_size)} now)"


@tool(risk="safe")
def search_files(ctx: ToolContext, query: str, path: str = ".", max_results: Annotated[int, Field(ge=1, le=500)] = 50,
                 pattern: str = "*", regex: bool = False) -> str:
    """Search text files in the workspace for a string (case-insensitive), like grep; lines come as file:line:text.

    Args:
        query: the text to look for (or a regular expression when regex is true).
        path: folder (or file) to search, relative to the workspace.
        max_results: the most matching lines to return.
        pattern: only search files whose name matches this glob, e.g. "*.py".
        regex: treat query as a Python regular expression.
    """
    if not query:
        raise ToolFailure("the query is empty", kind="invalid_arguments")
    try:
        matcher = re.compile(query if regex else re.escape(query), re.IGNORECASE)
    except re.error as exc:
        raise ToolFailure(f"invalid regular expression {query!r}: {exc}", kind="invalid_arguments") from None
    root = workspace_root(ctx)
    start = resolve_in_workspace(ctx, path)
    if not start.exists():
        raise ToolFailure(f"there is no file or folder {path!r} in the workspace", kind="not_found")
    results: list[str] = []
    scanned = 0
    for file in _walk(start, root, pattern or "*"):
        scanned += 1
        if scanned > MAX_SEARCH_FILES:
            results.append(f"[stopped after {MAX_SEARCH_FILES} files; search a narrower path]")
            break
        if _search_file(file, root, matcher, results, max_results):
            results.append(f"[stopped at {max_results} results; narrow the search or raise max_results]")
            break
    if not results:
        return f"no matches for {query!r} in {relative_name(start, root)} ({scanned} files searched)"
    return "\n".join(results)


def _walk(start: Path, root: Path, pattern: str) -> Iterator[Path]:
    if start.is_file():
        yield start
        return
    for folder, dirs, files in os.walk(start):  # does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if fnmatch.fnmatch(name, pattern):
                file = Path(folder) / name
                if is_inside(file, root):
                    yield file


def _search_file(file: Path, root: Path, matcher: re.Pattern[str], results: list[str], limit: int) -> bool:
    """Append matches from one file; True when the result limit is reached."""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SEARCH_FILE_BYTES:
            return False
        data = file.read_bytes()
    except OSError:
        return False
    if _looks_binary(data[:SNIFF_BYTES]):
        return False
    name = relative_name(file, root)
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if matcher.search(line):
            text = line.strip()
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + "…"
            results.append(f"{name}:{number}:{text}")
            if len(results) >= limit:
                return True
    return False


def _existing_file(ctx: ToolContext, path: str) -> Path:
    target = resolve_in_workspace(ctx, path)
    if not target.exists():
        raise ToolFailure(f"there is no file {path!r} in the workspace; list_files shows what is there",
                          kind="not_found")
    if target.is_dir():
        raise ToolFailure(f"{path!r} is a folder; use list_files to see inside it", kind="not_a_file")
    if not target.is_file():  # a FIFO or device would block or never end
        raise ToolFailure(f"{path!r} is not a regular file", kind="not_a_file")
    return target


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or mostly bytes that are not text, mean binary (images, archives, executables…)."""
    if b"\x00" in head:
        return True
    if not head:
        return False
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the sniff window
            return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls / len(head) > 0.05 or _invalid_utf8_ratio(head) > 0.3


def _invalid_utf8_ratio(head: bytes) -> float:
    text = head.decode("utf-8", errors="replace")
    return text.count("\ufffd") / max(1, len(text))
