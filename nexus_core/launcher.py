"""Installs the freedesktop launcher (``packaging/nexus-studio.desktop`` + icon) into the user's
applications menu, pointing at the set-up environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from nexus_core.atomic import atomic_write_text
from nexus_core.errors import NexusError

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING_DIR = REPO_ROOT / "packaging"
DESKTOP_ID = "nexus-studio"


def _xdg_data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher_paths(data_home: Path | None = None) -> tuple[Path, Path]:
    base = data_home or _xdg_data_home()
    return (base / "applications" / f"{DESKTOP_ID}.desktop",
            base / "icons" / "hicolor" / "scalable" / "apps" / f"{DESKTOP_ID}.svg")


def gui_command(python: Path | None = None) -> list[str]:
    """The command the launcher runs: the environment's ``nexus-studio`` script, else ``python main.py``."""
    python = python or Path(sys.executable)
    script = python.parent / "nexus-studio"
    if script.exists():
        return [str(script)]
    return [str(python), str(REPO_ROOT / "main.py")]


def install_launcher(data_home: Path | None = None, python: Path | None = None) -> Path:
    template = PACKAGING_DIR / f"{DESKTOP_ID}.desktop"
    icon = PACKAGING_DIR / f"{DESKTOP_ID}.svg"
    for needed in (template, icon):
        if not needed.exists():
            raise NexusError("A launcher file is missing from the installation.", path=needed,
                             hint="Reinstall Nexus Studio from a complete checkout.")
    desktop_file, icon_file = launcher_paths(data_home)
    icon_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(icon, icon_file)
    exec_line = " ".join(_quote_exec(arg) for arg in gui_command(python))
    text = template.read_text(encoding="utf-8").replace("@EXEC@", exec_line).replace("@ICON@", str(icon_file))
    text = text.replace("@PATH@", str(REPO_ROOT))
    atomic_write_text(desktop_file, text)
    desktop_file.chmod(0o755)
    _refresh_menu(desktop_file.parent)
    return desktop_file


def uninstall_launcher(data_home: Path | None = None) -> list[Path]:
    removed = []
    for path in launcher_paths(data_home):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _quote_exec(arg: str) -> str:
    """One Exec argument per the Desktop Entry spec: '%' doubled; arguments with reserved characters
    double-quoted with '"', '`', '$' and '\\' backslash-escaped; then, because the value is also a
    string, every backslash doubled again.
    """
    arg = arg.replace("%", "%%")
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    quoted = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return quoted.replace("\\", "\\\\")


def _refresh_menu(applications_dir: Path) -> None:
    tool = shutil.which("update-desktop-database")
    if tool:
        import subprocess

        subprocess.run([tool, str(applications_dir)], check=False, capture_output=True, timeout=30)
