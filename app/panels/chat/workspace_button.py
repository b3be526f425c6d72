"""The folder the assistant's file tools may use, shown in the chat header and changed from there.

Only the setting is written: the core reads it when each turn starts, so the next message uses the new
folder and an answer already running keeps the one it started with.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QToolButton, QWidget

from nexus_core.core import Core


class WorkspaceButton(QToolButton):
    problem = Signal(str)  # the choice could not be saved

    def __init__(self, core: Core, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._core = core
        self.setAutoRaise(True)
        self.clicked.connect(self.choose)
        self.refresh()

    def folder(self) -> Path:
        """The chosen folder, or the data folder's own workspace when none was chosen."""
        return self._core.settings.workspace_dir or self._core.paths.workspace_dir

    def refresh(self) -> None:
        """Show the setting as it is now (another pane may have changed it)."""
        folder = self.folder()
        self.setText(f"Workspace: {folder.name or folder}")
        self.setToolTip(f"{folder}\nThe folder the assistant's file tools may read and write. Click to change it.")

    def choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose the assistant's workspace folder", str(self.folder()))
        if not chosen:
            return
        settings = self._core.settings
        previous = settings.workspace_dir
        try:
            settings.workspace_dir = Path(chosen)
            self._core.save_settings()
        except (OSError, ValueError) as exc:
            settings.workspace_dir = previous
            self.problem.emit(f"Could not save the workspace folder: {exc}")
        self.refresh()
