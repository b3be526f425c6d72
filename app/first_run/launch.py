"""Start-up on a first run: the wizard comes before the main window, because the data folder it asks for is where
the core opens."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.first_run.wizard import FirstRunWizard
from app.startup import open_core
from nexus_core.config import first_run_pending
from nexus_core.core import Core
from nexus_core.location import source_of
from nexus_core.paths import DataPaths, default_data_dir


def first_run_due(data_dir: Path | None) -> bool:
    folder = data_dir if data_dir is not None else default_data_dir()
    return first_run_pending(DataPaths(Path(folder).expanduser()).settings_file)


def bring_dialog_to_front() -> None:
    """Another launch during the wizard: show the wizard (there is no main window yet)."""
    dialog = QApplication.activeModalWidget()
    if dialog is not None:
        dialog.raise_()
        dialog.activateWindow()


def run_first_run(data_dir: Path | None) -> Core | None:
    """The opened core after the wizard (finished or skipped), or None when the chosen folder could not be opened
    and the person was told why."""
    folder = data_dir if data_dir is not None else default_data_dir()
    wizard = FirstRunWizard(data_dir=folder, data_dir_source="option" if data_dir is not None else source_of(folder),
                            open_core=lambda chosen: open_core(chosen, interactive=True))
    wizard.exec()
    core = wizard.core
    wizard.deleteLater()  # its pages and it refer to each other: freed here, on the GUI thread, not by a collection
    if core is None:  # skipped before choosing a folder: the usual one, and not asked again
        core = open_core(folder, interactive=True)
        if core is not None:
            core.settings.first_run_done = True
            core.save_settings()
    return core
