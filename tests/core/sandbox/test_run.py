"""Ordinary runs: output, stdin, workspace files, exit codes, the environment, input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_core.errors import NexusError
from nexus_core.sandbox import Sandbox, SandboxMode, runner
from tests.core.sandbox.conftest import FAST


def test_prints_and_reads_stdin(use_bwrap: bool) -> None:
    code = "import json\nname = input()\nprint(json.dumps({'hello': name}))\n"
    result = Sandbox(limits=FAST, use_bubblewrap=use_bwrap).run_code(code, stdin="Ada\n")
    assert result.ok, result.stderr
    assert result.stdout == '{"hello": "Ada"}\n'
    assert result.exit_code == 0
    assert result.used_bubblewrap is use_bwrap
    assert result.limit_hit is None and result.blocked == []


def test_given_files_are_in_the_workspace_and_new_files_are_listed(use_bwrap: bool) -> None:
    code = ("import csv\n"
            "rows = list(csv.reader(open('inputs/data.csv')))\n"
            "open('out.txt', 'w').write(str(len(rows)))\n"
            "print(open('blob.bin', 'rb').read())\n")
    files = {"inputs/data.csv": "a,b\n1,2\n3,4\n", "blob.bin": b"\x00\x01"}
    result = Sandbox(limits=FAST, use_bubblewrap=use_bwrap).run_code(code, files=files)
    assert result.ok, result.stderr
    assert result.stdout == "b'\\x00\\x01'\n"
    assert result.files == ["blob.bin", "inputs/data.csv", "out.txt"]


def test_a_given_workspace_is_kept_with_the_results(tmp_path: Path) -> None:
    result = Sandbox(limits=FAST, workspace=tmp_path).run_code("open('result.txt', 'w').write('42')")
    assert result.ok, result.stderr
    assert (tmp_path / "result.txt").read_text() == "42"


def test_exit_code_and_traceback_point_at_the_users_line(use_bwrap: bool) -> None:
    result = Sandbox(limits=FAST, use_bubblewrap=use_bwrap).run_code("x = 1\n\nraise ValueError('boom')\n")
    assert result.exit_code == 1 and not result.ok
    assert "line 3" in result.stderr and "ValueError: boom" in result.stderr
    assert "bootstrap" not in result.stderr  # the guard's own frames are hidden


def test_system_exit_code_is_the_scripts(use_bwrap: bool) -> None:
    sandbox = Sandbox(SandboxMode.VALIDATE, limits=FAST, use_bubblewrap=use_bwrap)
    assert sandbox.run_code("import sys\nsys.exit(3)").exit_code == 3
    assert sandbox.run_code("import sys\nsys.exit(137)").exit_code == 137  # not mistaken for a SIGKILL


def test_syntax_errors_are_reported_by_python() -> None:
    result = Sandbox(limits=FAST).run_code("def broken(:\n    pass\n")
    assert result.exit_code == 1 and "SyntaxError" in result.stderr


def test_environment_is_empty_but_for_what_the_caller_gives(monkeypatch: pytest.MonkeyPatch, use_bwrap: bool) -> None:
    monkeypatch.setenv("NEXUS_PARENT_SECRET", "parent-secret-value")
    code = "import os\nprint(sorted(os.environ))\nprint(os.environ.get('GIVEN'))\n"
    result = Sandbox(SandboxMode.VALIDATE, limits=FAST, env={"GIVEN": "yes"}, use_bubblewrap=use_bwrap).run_code(code)
    assert result.ok, result.stderr
    assert "NEXUS_PARENT_SECRET" not in result.stdout and "parent-secret-value" not in result.stdout
    assert result.stdout.splitlines()[1] == "yes"


def test_run_file_reads_the_script(tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("print('hi from file')\nraise SystemExit(4)\n")
    result = Sandbox(limits=FAST).run_file(script)
    assert result.stdout == "hi from file\n" and result.exit_code == 4


def test_missing_script_is_a_user_error_with_path_and_hint(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(NexusError) as caught:
        Sandbox(limits=FAST).run_file(missing)
    assert caught.value.path == missing and caught.value.hint


@pytest.mark.parametrize("name", ["/etc/evil", "../up.txt", "a/../../b", ""])
def test_file_names_must_stay_inside_the_workspace(name: str) -> None:
    with pytest.raises(NexusError):
        Sandbox(limits=FAST).run_code("print(1)", files={name: "x"})


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(NexusError):
        Sandbox(workspace=tmp_path / "missing")
    with pytest.raises(NexusError):
        Sandbox(SandboxMode.CODE, allowed_hosts=["example.com"])
    with pytest.raises(NexusError):
        Sandbox(env={"BAD=NAME": "x"})
    with pytest.raises(NexusError, match="never be allowed"):
        Sandbox(extra_imports=["ctypes"])
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        Sandbox("shell")


def test_links_pointing_out_are_removed_after_the_run_but_the_callers_are_kept(tmp_path: Path) -> None:
    (tmp_path / "callers-link").symlink_to("/etc/hostname")
    made_during_run = tmp_path / "made-link"

    def sneak_link_in(*args: object, **kwargs: object) -> object:  # stands in for a link the guard missed
        made_during_run.symlink_to("/etc/passwd")
        return original(*args, **kwargs)

    original = runner.run_loop
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "run_loop", sneak_link_in)
        result = Sandbox(limits=FAST, workspace=tmp_path).run_code("print('hi')")
    assert (tmp_path / "callers-link").is_symlink()
    assert not made_during_run.is_symlink()
    assert result.blocked == ["removed the link 'made-link', which pointed outside the workspace"]
