"""Step 1: where conversations, settings, logs and saved keys live. On a first run the core opens here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from app.first_run.wizard import WizardStep
from app.widgets.status_label import StatusLabel
from nexus_core.errors import NexusError
from nexus_core.location import remember_data_dir
from nexus_core.paths import ENV_HOME, DataPaths, platform_data_dir

if TYPE_CHECKING:
    from app.first_run.wizard import FirstRunWizard

FIXED_BY = {"env": f"Set by the {ENV_HOME} environment variable; unset it to choose another folder here.",
            "option": "Set by --data-dir on the command line."}


class DataPage(WizardStep):
    def __init__(self, wizard: FirstRunWizard, folder: Path | None, source: str) -> None:
        super().__init__()
        self.wiz = wizard
        self.source = source
        self.set_header("Welcome to Nexus Studio",
                        "A few questions, about a minute, and you are chatting. First: where should Nexus Studio "
                        "keep your conversations, settings, logs and saved API keys?")
        self.path_edit = QLineEdit(str(folder or platform_data_dir()))
        self.path_edit.setToolTip("The data folder: created if it does not exist; it must be writable")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("Pick another folder (for example on a larger disk)")
        self.choose_button.clicked.connect(self._choose)
        self.default_button = QPushButton("Default")
        self.default_button.setToolTip(f"Use the usual place for app data on this system: {platform_data_dir()}")
        self.default_button.clicked.connect(lambda: self.path_edit.setText(str(platform_data_dir())))
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.choose_button)
        row.addWidget(self.default_button)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.status = StatusLabel()
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.note)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.path_edit.textChanged.connect(self._describe)
        self._describe()

    @property
    def fixed(self) -> bool:
        """The folder cannot change here: set from outside, or the app already runs on it (the wizard run again)."""
        return self.source in FIXED_BY or self.wiz.core is not None

    def enter(self) -> None:
        for widget in (self.path_edit, self.choose_button, self.default_button):
            widget.setEnabled(not self.fixed)
        self._describe()

    def _describe(self) -> None:
        if self.wiz.core is not None:
            self.note.setText("Nexus Studio is using this folder now. To move to another one, choose it in "
                              "Settings → Data folder; it takes effect at the next start.")
            return
        if self.source in FIXED_BY:
            self.note.setText(FIXED_BY[self.source])
            return
        folder = Path(self.path_edit.text().strip()).expanduser()
        if (folder / "nexus.db").exists():
            self.note.setText("This folder already holds Nexus Studio data; it will be used as it is.")
        else:
            self.note.setText("The folder is created if needed. Keep it on a disk with room to spare: trained "
                              "models and generated media are saved here too.")

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose the data folder", self.path_edit.text())
        if chosen:
            self.path_edit.setText(chosen)

    def chosen_folder(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def leave(self) -> bool:
        """Open the core on the chosen folder (first run); a folder that cannot be used is named, and we stay."""
        if self.wiz.core is not None:
            return True
        text = self.path_edit.text().strip()
        if not text:
            self.status.show_error("Type or choose a folder.")
            return False
        folder = self.chosen_folder()
        try:
            DataPaths.prepare(folder)
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return False
        core = self.wiz.open_core(folder)
        if core is None:
            self.status.show_error(f"Nexus Studio could not open {folder}; choose another folder.")
            return False
        self.wiz.core_opened(core)
        if self.source not in FIXED_BY:
            same_as_default = folder.resolve() == platform_data_dir().resolve()
            try:
                remember_data_dir(None if same_as_default else folder)
            except OSError as exc:
                self.wiz.state.problems.append(f"{folder} is in use now, but could not be remembered for the next "
                                               f"start ({exc.strerror or exc}); set NEXUS_HOME to it, or choose it "
                                               "again in Settings → Data folder.")
        self.status.clear_message()
        return True
