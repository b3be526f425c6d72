"""Opening the core at start-up, turning each failure into a message the user can act on."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from nexus_core.core import Core
from nexus_core.errors import NexusError, StoreCorruptError
from nexus_core.store import Store


def ask_fresh_store(error: StoreCorruptError) -> bool:
    box = QMessageBox(QMessageBox.Icon.Critical, "Nexus Studio: damaged store", error.user_message())
    fresh = box.addButton("Move it aside and start fresh", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setInformativeText("Moving it aside keeps the damaged file next to the new one; nothing is deleted.")
    box.exec()
    return box.clickedButton() is fresh


def show_fatal(error: NexusError) -> None:
    QMessageBox.critical(None, "Nexus Studio cannot start", error.user_message())


def open_core(data_dir: Path | None, *, interactive: bool,
              ask_fresh: Callable[[StoreCorruptError], bool] = ask_fresh_store,
              fatal: Callable[[NexusError], None] = show_fatal) -> Core | None:
    """The opened core, or None after the user has been told why it could not start."""
    quarantined = False
    while True:
        try:
            return Core.open(data_dir)
        except StoreCorruptError as exc:
            if quarantined or not interactive or exc.path is None or not ask_fresh(exc):
                _tell(exc, interactive, fatal)
                return None
            moved = Store.quarantine(exc.path)
            print(f"nexus-studio: the damaged store was moved to {moved}", file=sys.stderr)
            quarantined = True
        except NexusError as exc:
            _tell(exc, interactive, fatal)
            return None


def _tell(error: NexusError, interactive: bool, fatal: Callable[[NexusError], None]) -> None:
    print(f"nexus-studio: {error.user_message()}", file=sys.stderr)
    if interactive:
        fatal(error)
