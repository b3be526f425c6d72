"""nexus_core.launcher: the freedesktop launcher written into a (temporary) XDG data folder."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from nexus_core.launcher import PACKAGING_DIR, REPO_ROOT, gui_command, install_launcher, uninstall_launcher

_STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
_QUOTED_ESCAPES = '"`$\\'


def _unescape_string(value: str) -> str:
    """The Desktop Entry spec's escape rule for string values (applied first)."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            if i + 1 >= len(value) or value[i + 1] not in _STRING_ESCAPES:
                raise ValueError(f"invalid string escape at {i} in {value!r}")
            out.append(_STRING_ESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_exec(value: str) -> list[str]:
    """Split an Exec value into argv as the Desktop Entry spec says: string escapes, then quoting,
    then field codes (only ``%%`` may appear in a launcher that takes no files)."""
    text = _unescape_string(value)
    args: list[str] = []
    current: list[str] | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if c == " ":
            if current is not None:
                args.append("".join(current))
                current = None
            i += 1
        elif c == '"':
            current = current if current is not None else []
            i += 1
            while True:
                if i >= len(text):
                    raise ValueError(f"unterminated quote in {value!r}")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= len(text) or text[i + 1] not in _QUOTED_ESCAPES:
                        raise ValueError(f"invalid escape inside quotes in {value!r}")
                    current.append(text[i + 1])
                    i += 2
                    continue
                if c in "`$":
                    raise ValueError(f"{c!r} must be escaped inside quotes in {value!r}")
                current.append(c)
                i += 1
        else:
            if c in '\t\n"\'\\><~|&;$*?#()`':
                raise ValueError(f"reserved character {c!r} outside quotes in {value!r}")
            current = current if current is not None else []
            current.append(c)
            i += 1
    if current is not None:
        args.append("".join(current))
    expanded = []
    for arg in args:
        if "%" in arg.replace("%%", ""):
            raise ValueError(f"field code in {arg!r}")
        expanded.append(arg.replace("%%", "%"))
    return expanded


def _entries(desktop_file: Path) -> dict[str, str]:
    lines = desktop_file.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    entries = {}
    for line in lines[1:]:
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in entries, f"duplicate key {key}"
            entries[key] = value
    return entries


def _fake_venv(root: Path) -> tuple[Path, Path]:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text("#!/bin/sh\n")
    script = bin_dir / "nexus-studio"
    script.write_text("#!/bin/sh\necho nexus-studio\n")
    script.chmod(0o755)
    return python, script


def test_parse_exec_follows_the_spec() -> None:  # the helper itself, on the spec's own examples
    assert parse_exec('"/a b/c" --x') == ["/a b/c", "--x"]
    assert parse_exec(r'"/a\\\\b"') == ["/a\\b"]
    assert parse_exec(r'"/cost\\$1"') == ["/cost$1"]
    assert parse_exec("/bin/run%%") == ["/bin/run%"]
    for bad in (r'"/cost\$1"', '"/a$b"', "/a b$", "/x %f", '"open'):
        with pytest.raises(ValueError):
            parse_exec(bad)


def test_install_writes_a_complete_desktop_entry(tmp_path: Path) -> None:
    python, script = _fake_venv(tmp_path / "venv")
    data_home = tmp_path / "share"
    desktop_file = install_launcher(data_home=data_home, python=python)
    assert desktop_file == data_home / "applications" / "nexus-studio.desktop"
    text = desktop_file.read_text(encoding="utf-8")
    assert "@" not in text.replace("@@", "")  # no @PLACEHOLDER@ left
    entries = _entries(desktop_file)
    assert entries["Type"] == "Application"
    assert entries["Name"] == "Nexus Studio"
    assert parse_exec(entries["Exec"]) == [str(script)]
    icon = Path(entries["Icon"])
    assert icon.is_absolute() and icon.exists()
    assert icon == data_home / "icons" / "hicolor" / "scalable" / "apps" / "nexus-studio.svg"
    assert icon.read_bytes() == (PACKAGING_DIR / "nexus-studio.svg").read_bytes()
    assert Path(_unescape_string(entries["Path"])) == REPO_ROOT
    assert desktop_file.stat().st_mode & stat.S_IXUSR


def test_install_without_a_script_runs_main_py(tmp_path: Path) -> None:
    python = tmp_path / "bare" / "python3"
    python.parent.mkdir()
    python.write_text("")
    assert gui_command(python) == [str(python), str(REPO_ROOT / "main.py")]
    desktop_file = install_launcher(data_home=tmp_path / "share", python=python)
    assert parse_exec(_entries(desktop_file)["Exec"]) == [str(python), str(REPO_ROOT / "main.py")]


def test_install_defaults_to_xdg_data_home(tmp_path: Path) -> None:
    desktop_file = install_launcher()
    assert desktop_file == tmp_path / "xdg-data" / "applications" / "nexus-studio.desktop"
    argv = parse_exec(_entries(desktop_file)["Exec"])
    assert argv == gui_command()
    assert uninstall_launcher() == [desktop_file,
                                    tmp_path / "xdg-data" / "icons" / "hicolor" / "scalable" / "apps"
                                    / "nexus-studio.svg"]


def test_path_with_spaces_is_quoted(tmp_path: Path) -> None:
    python, script = _fake_venv(tmp_path / "my venvs" / "nexus env")
    desktop_file = install_launcher(data_home=tmp_path / "share", python=python)
    exec_value = _entries(desktop_file)["Exec"]
    assert exec_value == f'"{script}"'
    assert parse_exec(exec_value) == [str(script)]


@pytest.mark.parametrize("folder", [
    pytest.param("price $5", id="dollar"),
    pytest.param("100% done", id="percent"),
    pytest.param("it's mine", id="apostrophe"),
])
def test_path_with_reserved_characters_round_trips(tmp_path: Path, folder: str) -> None:
    python, script = _fake_venv(tmp_path / folder)
    desktop_file = install_launcher(data_home=tmp_path / "share", python=python)
    assert parse_exec(_entries(desktop_file)["Exec"]) == [str(script)]


def test_desktop_file_validates(tmp_path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate (desktop-file-utils) is not installed")
    python, _ = _fake_venv(tmp_path / "with space")
    desktop_file = install_launcher(data_home=tmp_path / "share", python=python)
    done = subprocess.run([tool, str(desktop_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in (done.stdout + done.stderr).lower()


def test_reinstall_overwrites_and_uninstall_removes_both(tmp_path: Path) -> None:
    data_home = tmp_path / "share"
    python, script = _fake_venv(tmp_path / "venv")
    first = install_launcher(data_home=data_home, python=python)
    assert install_launcher(data_home=data_home, python=python) == first
    listed = sorted(p.name for p in first.parent.iterdir() if p.name != "mimeinfo.cache")  # menu tool cache
    assert listed == ["nexus-studio.desktop"]  # no temp files left
    icon = Path(_entries(first)["Icon"])
    removed = uninstall_launcher(data_home)
    assert removed == [first, icon]
    assert not first.exists() and not icon.exists()
    assert script.exists()  # the environment itself is not touched
    assert uninstall_launcher(data_home) == []
