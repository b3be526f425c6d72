"""The data folder the user picked (first-run wizard or settings), remembered outside any data folder.

A data folder cannot say where it is itself, so the choice lives in a small JSON file in the platform's
user-config folder. ``$NEXUS_HOME`` and ``--data-dir`` still win over it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from nexus_core.atomic import atomic_write_json
from nexus_core.paths import APP_NAME

log = logging.getLogger(__name__)


def location_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True)) / "location.json"


def chosen_data_dir() -> Path | None:
    """The remembered folder, or None when none was chosen (or the file cannot be read: logged, then ignored)."""
    path = location_file()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("%s cannot be read (%s); using the default data folder. Choose the folder again in "
                    "Settings to rewrite it.", path, exc)
        return None
    folder = raw.get("data_dir") if isinstance(raw, dict) else None
    if not isinstance(folder, str) or not folder.strip():
        log.warning("%s has no 'data_dir' text; using the default data folder.", path)
        return None
    return Path(folder).expanduser()


def remember_data_dir(folder: Path | str | None) -> Path:
    """Use ``folder`` from the next start on (None forgets the choice: back to the platform default)."""
    path = location_file()
    if folder is None:
        path.unlink(missing_ok=True)
        return path
    return atomic_write_json(path, {"data_dir": str(Path(folder).expanduser().resolve())})


def source_of(root: Path | str) -> str:
    """Why an open data folder is the one in use: "env" ($NEXUS_HOME), "chosen", "default", or "option" (--data-dir
    or a folder given by a program)."""
    import os

    from nexus_core.paths import ENV_HOME, platform_data_dir

    root = Path(root).expanduser().resolve()
    if os.environ.get(ENV_HOME, "").strip():
        return "env"
    chosen = chosen_data_dir()
    if chosen is not None and chosen.resolve() == root:
        return "chosen"
    return "default" if root == platform_data_dir().resolve() else "option"
