"""Step 4: where models live on disk: the Hugging Face cache and any folders the person adds. A scan shows what
was found, and which of those can answer a chat inside Nexus Studio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
)

from app.first_run.wizard import WizardStep
from app.workers import run_blocking
from nexus_core.models.scan import hf_cache_dir

if TYPE_CHECKING:
    from app.first_run.wizard import FirstRunWizard

CHAT_CATEGORIES = {"causal_lm", "multimodal"}


class ModelsPage(WizardStep):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.set_header("Models on this computer",
                        "Nexus Studio lists the models it finds in these folders (Hugging Face format), to chat "
                        "with, distil, or generate speech and images.")
        self.hf_check = QCheckBox(f"Hugging Face cache ({hf_cache_dir()})")
        self.hf_check.setToolTip("Also list the models downloaded with Hugging Face tools (transformers, "
                                 "huggingface-cli)")
        self.folder_list = QListWidget()
        self.folder_list.setToolTip("Your own model folders; each is searched a few levels deep")
        self.folder_list.currentItemChanged.connect(self._selection_changed)
        self.add_button = QPushButton("Add folder…")
        self.add_button.setToolTip("Add a folder that holds models (each in its own sub-folder, with config.json)")
        self.add_button.clicked.connect(self._choose)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop listing the selected folder (nothing on disk is deleted)")
        self.remove_button.clicked.connect(self._remove_selected)
        self.hf_check.toggled.connect(self._hf_toggled)
        buttons = QVBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.folder_list, 1)
        row.addLayout(buttons)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hf_check)
        layout.addWidget(QLabel("Your model folders:"))
        layout.addLayout(row)
        layout.addWidget(self.result_label)
        self._scans = 0
        self._shown_scan = 0

    @property
    def library(self):
        return self.wiz.core.library

    def enter(self) -> None:
        self.hf_check.blockSignals(True)
        self.hf_check.setChecked(self.wiz.core.settings.scan_hf_cache)
        self.hf_check.blockSignals(False)
        self._show_folders()
        self.scan()

    def _show_folders(self) -> None:
        self.folder_list.clear()
        for folder in self.library.folders():
            self.folder_list.addItem(str(folder))
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.remove_button.setEnabled(self.folder_list.currentItem() is not None)

    def add_folder(self, folder: str) -> None:
        if self.library.add_folder(folder):
            self._show_folders()
            self.scan()

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder with models")
        if chosen:
            self.add_folder(chosen)

    def _remove_selected(self) -> None:
        item = self.folder_list.currentItem()
        if item is not None and self.library.remove_folder(item.text()):
            self._show_folders()
            self.scan()

    def _hf_toggled(self, on: bool) -> None:
        self.wiz.core.settings.scan_hf_cache = on
        self.wiz.core.save_settings()
        self.scan()

    def scan(self) -> None:
        """Scans may overlap when folders change quickly; only the latest one's result is shown."""
        self._scans += 1
        number = self._scans
        self.result_label.setText("Looking for models…")
        run_blocking(self.library.scan, parent=self, on_done=lambda summary: self._scanned(number, summary),
                     on_error=lambda e: self._failed(number, e))

    def _failed(self, number: int, error: BaseException) -> None:
        if number == self._scans:
            self._shown_scan = number
            self.result_label.setText(f"The scan failed: {error}")

    @property
    def scanning(self) -> bool:
        return self._shown_scan != self._scans

    def _scanned(self, number: int, summary) -> None:
        if number != self._scans:
            return
        self._shown_scan = number
        chat = [e for e in summary.entries if e.info.category in CHAT_CATEGORIES and e.support.supported]
        self.wiz.state.chat_models = chat
        self.wiz.state.model_count = len(summary.entries)
        if not summary.entries:
            text = ("No models found yet. That is fine: a local server such as Ollama, or a hosted provider, can "
                    "answer instead (next step).")
        else:
            text = (f"Found {len(summary.entries)} model{'s' if len(summary.entries) != 1 else ''}; "
                    f"{len(chat)} can chat here.")
        if summary.errors:
            text += f" {len(summary.errors)} folder(s) could not be read: " + "; ".join(
                f"{path}: {why}" for path, why in summary.errors[:3])
        self.result_label.setText(text)
