"""Window geometry, dock layout and the last panel, kept in ``ui-state.json`` in the data folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray

from nexus_core.atomic import atomic_write_json

log = logging.getLogger(__name__)
UI_STATE_VERSION = 1


def load_ui_state(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); the default window layout is used and the file will be rewritten",
                    path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != UI_STATE_VERSION:
        return {}
    return data


def save_ui_state(path: Path, *, geometry: QByteArray, state: QByteArray, panel: str | None) -> None:
    atomic_write_json(path, {
        "version": UI_STATE_VERSION,
        "geometry": bytes(geometry.toBase64().data()).decode("ascii"),
        "dock_state": bytes(state.toBase64().data()).decode("ascii"),
        "panel": panel,
    })


def decode(value: object) -> QByteArray | None:
    if not isinstance(value, str) or not value:
        return None
    return QByteArray.fromBase64(value.encode("ascii"))
