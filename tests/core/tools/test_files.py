"""list_files / read_file / write_file / search_files: results, and confinement to the workspace (.., absolute
paths, symlinks that lead out)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus_core.tools import ToolContext, ToolFailure
from nexus_core.tools.builtin.files import list_files, read_file, search_files, write_file
from tests.core.tools.helpers import call, param_descriptions


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("TOP SECRET outside the workspace\n")
    return folder


@pytest.fixture
def ws(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "README.md").write_text("# Demo\nHello workspace\n")
    (root / "src" / "main.py").write_text("import os\n\ndef main():\n    print('Hello from main')\n")
    (root / "src" / "pkg" / "util.py").write_text("def helper():\n    return 'hello util'\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("hello from git internals\n")
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    (root / "inner_link.txt").symlink_to(root / "README.md")
    return root


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return ToolContext(ws, conversation_id="c1")


def refused(tool_args: tuple, ctx: ToolContext) -> ToolFailure:
    tool, args = tool_args
    with pytest.raises(ToolFailure) as info:
        call(tool, args, ctx)
    return info.value


# ---- list_files ---------------------------------------------------------------------------------------------


def test_list_files_shows_folders_and_sizes(ctx: ToolContext) -> None:
    text = call(list_files, {}, ctx)
    lines = text.splitlines()
    assert lines[0].startswith(".: ")
    assert "src/" in lines and ".git/" in lines
    assert any(line.startswith("README.md  (") and line.endswith(" B)") for line in lines)
    assert any(line.startswith("inner_link.txt") for line in lines)
    assert not any("escape" in line for line in lines[1:])
    assert "link(s) pointing outside the workspace left out" in lines[0]


def test_list_files_with_patterns(ctx: ToolContext) -> None:
    assert call(list_files, {"path": "src", "pattern": "*.py"}, ctx).splitlines()[1:] == ["src/main.py  (52 B)"]
    deep = call(list_files, {"pattern": "**/*.py"}, ctx).splitlines()[1:]
    assert [line.split()[0] for line in deep] == ["src/main.py", "src/pkg/util.py"]


def test_list_files_failures(ctx: ToolContext) -> None:
    assert "no folder 'nope'" in str(refused((list_files, {"path": "nope"}), ctx))
    assert "is a file" in str(refused((list_files, {"path": "README.md"}), ctx))
    assert "must not contain '..'" in str(refused((list_files, {"pattern": "../*"}), ctx))
    assert refused((list_files, {"path": ".."}), ctx).kind == "outside_workspace"
    assert refused((list_files, {"path": "escape_dir"}), ctx).kind == "outside_workspace"


# ---- read_file ----------------------------------------------------------------------------------------------


def test_read_file_returns_the_text(ctx: ToolContext) -> None:
    assert call(read_file, {"path": "src/main.py"}, ctx) == "import os\n\ndef main():\n    print('Hello from main')\n"
    assert call(read_file, {"path": "./src/../README.md"}, ctx) == "# Demo\nHello workspace\n"
    assert call(read_file, {"path": "inner_link.txt"}, ctx) == "# Demo\nHello workspace\n"


def test_an_absolute_path_inside_the_workspace_is_allowed(ctx: ToolContext, ws: Path) -> None:
    assert call(read_file, {"path": str(ws / "README.md")}, ctx).startswith("# Demo")


def test_read_file_truncates_with_a_note(ctx: ToolContext, ws: Path) -> None:
    (ws / "big.txt").write_text("abcdefghij" * 1000)
    text = call(read_file, {"path": "big.txt", "max_chars": 25}, ctx)
    assert text.startswith("abcdefghijabcdefghijabcde\n[… truncated: showing the first 25 characters of big.txt")


def test_read_file_refuses_binary_files(ctx: ToolContext) -> None:
    failure = refused((read_file, {"path": "image.png"}), ctx)
    assert failure.kind == "binary" and "'image.png' is a binary file" in str(failure)


def test_read_file_reads_non_ascii_text(ctx: ToolContext, ws: Path) -> None:
    (ws / "fr.txt").write_text("Crème brûlée — déjà vu\n", encoding="utf-8")
    assert call(read_file, {"path": "fr.txt"}, ctx) == "Crème brûlée — déjà vu\n"


def test_read_file_missing_or_folder(ctx: ToolContext) -> None:
    assert "no file 'nope.txt'" in str(refused((read_file, {"path": "nope.txt"}), ctx))
    assert "is a folder" in str(refused((read_file, {"path": "src"}), ctx))


@pytest.mark.parametrize("path", ["../outside/secret.txt", "src/../../outside/secret.txt", "/etc/passwd",
                                  "escape.txt", "escape_dir/secret.txt", "~/.bashrc"])
def test_read_file_refuses_paths_outside_the_workspace(ctx: ToolContext, path: str) -> None:
    failure = refused((read_file, {"path": path}), ctx)
    assert failure.kind == "outside_workspace"
    assert repr(path) in str(failure)
    assert "SECRET" not in str(failure) and "root:" not in str(failure)


def test_a_path_through_an_outside_absolute_prefix_is_refused(ctx: ToolContext, outside: Path) -> None:
    failure = refused((read_file, {"path": str(outside / "secret.txt")}), ctx)
    assert "is outside the workspace" in str(failure)


# ---- write_file ---------------------------------------------------------------------------------------------


def test_write_file_creates_parents_and_overwrites_atomically(ctx: ToolContext, ws: Path) -> None:
    result = call(write_file, {"path": "notes/today/plan.md", "content": "step 1\n"}, ctx)
    assert result.startswith("created notes/today/plan.md: 7 characters")
    assert (ws / "notes" / "today" / "plan.md").read_text() == "step 1\n"
    assert call(write_file, {"path": "notes/today/plan.md", "content": "new\n"}, ctx).startswith("overwrote")
    assert (ws / "notes" / "today" / "plan.md").read_text() == "new\n"
    assert sorted(p.name for p in (ws / "notes" / "today").iterdir()) == ["plan.md"]  # no temp files left


def test_write_file_appends(ctx: ToolContext, ws: Path) -> None:
    assert call(write_file, {"path": "README.md", "content": "More\n", "append": True}, ctx).startswith("appended")
    assert (ws / "README.md").read_text() == "# Demo\nHello workspace\nMore\n"


@pytest.mark.parametrize("path", ["../evil.txt", "/tmp/nexus-evil.txt", "escape.txt", "escape_dir/new.txt",
                                  "escape_dir/sub/new.txt", "src/../../evil.txt"])
def test_write_file_refuses_paths_outside_the_workspace(ctx: ToolContext, outside: Path, path: str) -> None:
    before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    failure = refused((write_file, {"path": path, "content": "pwned"}), ctx)
    assert failure.kind == "outside_workspace"
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before
    assert not (outside.parent / "evil.txt").exists() and not Path("/tmp/nexus-evil.txt").exists()


def test_write_file_refuses_a_folder(ctx: ToolContext) -> None:
    assert "is a folder" in str(refused((write_file, {"path": "src", "content": "x"}), ctx))


def test_write_file_is_risky_and_requires_path_and_content() -> None:
    assert write_file.risk == "risky"
    assert write_file.parameters["required"] == ["path", "content"]
    assert write_file.parameters["properties"]["append"]["type"] == "boolean"


# ---- search_files -------------------------------------------------------------------------------------------


def test_search_files_reports_file_line_text(ctx: ToolContext) -> None:
    lines = call(search_files, {"query": "hello"}, ctx).splitlines()
    assert lines == ["README.md:2:Hello workspace", "inner_link.txt:2:Hello workspace",
                     "src/main.py:4:print('Hello from main')", "src/pkg/util.py:2:return 'hello util'"]


def test_search_files_options(ctx: ToolContext) -> None:
    assert call(search_files, {"query": "hello", "path": "src", "pattern": "util*"}, ctx) == \
        "src/pkg/util.py:2:return 'hello util'"
    assert call(search_files, {"query": r"def \w+\(\)", "regex": True}, ctx).splitlines() == \
        ["src/main.py:3:def main():", "src/pkg/util.py:1:def helper():"]
    capped = call(search_files, {"query": "hello", "max_results": 2}, ctx).splitlines()
    assert len(capped) == 3 and capped[-1].startswith("[stopped at 2 results")
    assert call(search_files, {"query": "zebra"}, ctx).startswith("no matches for 'zebra'")


def test_search_files_skips_binary_vcs_and_outside_files(ctx: ToolContext, ws: Path) -> None:
    (ws / "data.bin").write_bytes(b"hello\x00world")
    text = call(search_files, {"query": "e"}, ctx)
    assert "data.bin" not in text and ".git" not in text and "image.png" not in text
    assert "SECRET" not in call(search_files, {"query": "secret"}, ctx)
    assert refused((search_files, {"query": "x", "path": "../outside"}), ctx).kind == "outside_workspace"
    assert "invalid regular expression" in str(refused((search_files, {"query": "(", "regex": True}), ctx))


def test_tools_fail_clearly_when_the_workspace_is_missing(tmp_path: Path) -> None:
    ctx = ToolContext(tmp_path / "not-there")
    assert "does not exist" in str(refused((list_files, {}), ctx))
    call(write_file, {"path": "first.txt", "content": "hi"}, ctx)  # writing creates the workspace
    assert (tmp_path / "not-there" / "first.txt").read_text() == "hi"


def test_a_workspace_behind_a_symlink_still_works(tmp_path: Path, ws: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(ws, target_is_directory=True)
    ctx = ToolContext(alias)
    assert call(read_file, {"path": "README.md"}, ctx).startswith("# Demo")
    assert call(read_file, {"path": str(alias / "README.md")}, ctx).startswith("# Demo")
    assert refused((read_file, {"path": "escape.txt"}), ctx).kind == "outside_workspace"


def test_schemas_describe_every_parameter() -> None:
    for tool in (list_files, read_file, write_file, search_files):
        assert tool.wants_context
        assert all(param_descriptions(tool).values()), tool.name
    assert read_file.parameters["properties"]["max_chars"]["default"] == 20000
    assert search_files.parameters["properties"]["max_results"]["default"] == 50


def test_special_files_and_symlink_loops_are_refused_without_hanging(ctx: ToolContext, ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    (ws / "loop_a").symlink_to(ws / "loop_b")
    (ws / "loop_b").symlink_to(ws / "loop_a")
    assert "not a regular file" in str(refused((read_file, {"path": "pipe"}), ctx))
    assert "not a regular file" in str(refused((write_file, {"path": "pipe", "content": "x"}), ctx))
    assert "pipe" not in call(search_files, {"query": "hello"}, ctx)
    assert refused((read_file, {"path": "loop_a"}), ctx).kind in ("invalid_path", "not_found")
