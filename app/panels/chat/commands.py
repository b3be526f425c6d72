"""Runs core commands for the pane: a refusal (NexusError) is said in the pane, a bug opens the error dialog."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtWidgets import QWidget

from app.errors import ErrorDialog
from app.panels.chat.notice_bar import NoticeBar
from nexus_core.errors import NexusError

log = logging.getLogger(__name__)
T = TypeVar("T")


class CommandRunner:
    def __init__(self, parent: QWidget, notice_bar: NoticeBar) -> None:
        self._parent = parent
        self._notice_bar = notice_bar
        self.dialogs: list[ErrorDialog] = []  # open error dialogs (kept alive while shown)

    def run(self, action: Callable[[], T]) -> T | None:
        """``action()``'s result, or None when it failed (and the user has been told why)."""
        try:
            return action()
        except NexusError as exc:
            self._notice_bar.show_problem(exc.user_message())
        except Exception as exc:
            log.exception("chat command failed")
            dialog = ErrorDialog("The chat command failed", f"{type(exc).__name__}: {exc}",
                                 "".join(traceback.format_exception(exc)), parent=self._parent)
            dialog.setModal(False)
            dialog.finished.connect(lambda _result=0, d=dialog: self.dialogs.remove(d))
            self.dialogs.append(dialog)
            dialog.show()
        return None
