"""Icons shipped in ``resources/icons`` and the app icon from ``packaging/``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

ROOT = Path(__file__).resolve().parents[1]
ICONS_DIR = ROOT / "resources" / "icons"
APP_ICON = ROOT / "packaging" / "nexus-studio.svg"


@cache
def icon(name: str) -> QIcon:
    path = ICONS_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


@cache
def app_icon() -> QIcon:
    return QIcon(str(APP_ICON)) if APP_ICON.exists() else QIcon()
