"""The Library tab: model folders, the models found in them, details, load/unload, and "use for task".

A thin view over ``core.library``: scans and loads are jobs on the core's job runner (they show in the
Jobs dock and never block the window); this tab only draws what the library and the manager report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.panels.models.library_details import LibraryDetails
from app.panels.models.library_table import LibraryTable
from app.widgets.status_label import StatusLabel
from nexus_core.jobs.models import JobEvent, JobState
from nexus_core.models.detect import CATEGORIES
from nexus_core.models.library import LibraryEntry
from nexus_core.models.scan import hf_cache_dir
from nexus_core.routing.classify import TASK_LABELS, TaskType

DEVICES = ["auto", "cpu", "cuda"]
DTYPES = ["auto", "float32", "bfloat16", "float16"]
CHAT_CATEGORIES = ("causal_lm", "multimodal")


class LibraryTab(QWidget):
    use_for_task_requested = Signal(object, str)  # TaskType, "provider/model"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.library = ctx.core.library
        self.runner = ctx.core.runner
        self._scan_job: str | None = None
        self._rescan_pending = False
        self._load_jobs: dict[str, Path] = {}  # job id → folder
        self._loading: dict[Path, str] = {}  # resolved folder → "Loading 40%"
        # Replaceable in tests: the folder picker and the custom-code consent question.
        self.choose_folder: Callable[[], str | None] = self._ask_folder
        self.confirm_custom_code: Callable[[str], bool] = self._ask_custom_code

        self.folders = QListWidget()
        self.folders.setMaximumHeight(60)
        self.folders.setToolTip("Folders scanned for models (sub-folders included)")
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("Add a folder to scan for models, then rescan")
        self.add_folder_button.clicked.connect(self.add_folder)
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.setToolTip("Stop scanning the selected folder (nothing is deleted)")
        self.remove_folder_button.clicked.connect(self.remove_folder)
        self.hf_cache_check = QCheckBox(f"Include the Hugging Face cache ({hf_cache_dir()})")
        self.hf_cache_check.setChecked(ctx.core.settings.scan_hf_cache)
        self.hf_cache_check.setToolTip("Also list the models Hugging Face tools downloaded to their cache "
                                       "(saved as a setting)")
        self.hf_cache_check.toggled.connect(self._hf_cache_toggled)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Scan the model folders again in the background")
        self.rescan_button.clicked.connect(self.rescan)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(self.add_folder_button)
        folder_buttons.addWidget(self.remove_folder_button)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name or architecture")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Show only the models whose name or architecture has this text")
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.category_combo = QComboBox()
        self.category_combo.addItem("All categories", None)
        for category in CATEGORIES:
            self.category_combo.addItem(category, category)
        self.category_combo.setToolTip("Show only one kind of model (causal LM, speech recognition, diffusion…)")
        self.category_combo.currentIndexChanged.connect(self._apply_filter)
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.category_combo)
        filter_row.addWidget(self.hf_cache_check)
        filter_row.addWidget(self.rescan_button)

        self.table = LibraryTable()
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.details = LibraryDetails()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([720, 300])

        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("Where to load: auto picks the GPU when there is one")
        self.dtype_combo = QComboBox()
        self.dtype_combo.addItems(DTYPES)
        self.dtype_combo.setToolTip("Precision: auto is bfloat16 on a GPU that has it, float32 on the CPU")
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the selected model into memory in the background, on the device and "
                                    "precision chosen beside")
        self.load_button.clicked.connect(self.load_selected)
        self.unload_button = QPushButton("Unload")
        self.unload_button.setToolTip("Free the memory the selected model takes")
        self.unload_button.clicked.connect(self.unload_selected)
        self.use_button = QToolButton()
        self.use_button.setText("Use for task")
        self.use_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.use_menu = QMenu(self.use_button)
        for task in TaskType:
            action = self.use_menu.addAction(TASK_LABELS[task])
            action.triggered.connect(lambda _checked=False, t=task: self.use_for_task(t))
        self.use_button.setMenu(self.use_menu)
        self.use_button.setToolTip("Run this model for one kind of task: opens the assignment with it filled in")
        self.status = StatusLabel()
        self.scan_errors = StatusLabel()
        actions = QHBoxLayout()
        actions.addWidget(QLabel("Device"))
        actions.addWidget(self.device_combo)
        actions.addWidget(QLabel("Dtype"))
        actions.addWidget(self.dtype_combo)
        actions.addWidget(self.load_button)
        actions.addWidget(self.unload_button)
        actions.addWidget(self.use_button)
        actions.addWidget(self.status, 1)
        actions.addStretch(1)
        actions.addWidget(self.count_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(folder_row)
        layout.addLayout(filter_row)
        layout.addWidget(self.scan_errors)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)

        ctx.library_changed.fired.connect(self.refresh)
        ctx.models_changed.fired.connect(self.refresh)
        ctx.job_events.fired.connect(self._job_event)
        self.refresh()

    # ---- state -----------------------------------------------------------------------------------

    def refresh(self, _payload: object = None) -> None:
        self.folders.clear()
        self.folders.addItems([str(p) for p in self.library.folders()])
        loaded = {m.info.path.resolve(): m for m in self.library.manager.loaded()}
        entries = self.library.entries()
        self.table.show_entries(entries, loaded, self._loading)
        self._apply_filter()
        errors = self.library.errors()
        if errors:
            self.scan_errors.show_error(f"{len(errors)} folder(s) could not be read; hover for details.")
            self.scan_errors.setToolTip("\n".join(f"{p}: {why}" for p, why in errors))
        else:
            self.scan_errors.clear_message()
        self._selection_changed()

    def _apply_filter(self, *_args: object) -> None:
        self.table.apply_filter(self.filter_edit.text(), self.category_combo.currentData())
        total = self.table.rowCount()
        shown = self.table.visible_rows()
        scanning = " · scanning…" if self._scan_job else ""
        self.count_label.setText((f"{shown} of {total} models" if shown != total else f"{total} models") + scanning)

    def selected_entry(self) -> LibraryEntry | None:
        path = self.table.selected_path()
        return next((e for e in self.library.entries() if e.info.path == path), None) if path else None

    def _selection_changed(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            self.details.show_nothing()
            for widget in (self.load_button, self.unload_button, self.use_button):
                widget.setEnabled(False)
            return
        loaded = self.library.loaded(entry.info.path)
        busy = entry.info.path.resolve() in self._loading
        self.details.show_entry(entry, loaded, self.library.failure(entry.info.path))
        loadable = entry.support.supported or entry.support.needs_trust_remote_code
        self.load_button.setEnabled(loaded is None and not busy and loadable)
        self.unload_button.setEnabled(loaded is not None)
        self.use_button.setEnabled(entry.support.supported and entry.info.category in CHAT_CATEGORIES
                                   and entry.info.has_tokenizer)

    # ---- folders and scanning --------------------------------------------------------------------

    def ensure_scanned(self) -> None:
        """The first time the tab is shown: scan in the background."""
        if not self.library.scanned_once and self._scan_job is None:
            self.rescan()

    def rescan(self) -> None:
        """Scan in the background; asked while a scan runs, scan again once it ends (the folders changed)."""
        if self._scan_job is not None:
            self._rescan_pending = True
            return
        self._rescan_pending = False
        handle = self.runner.submit(self.library.scan, name="Scan model folders")
        self._scan_job = handle.id
        self._apply_filter()

    def _ask_folder(self) -> str | None:
        return QFileDialog.getExistingDirectory(self, "Add a model folder") or None

    def add_folder(self) -> None:
        chosen = self.choose_folder()
        if not chosen:
            return
        if not Path(chosen).is_dir():
            self.status.show_error(f"{chosen} is not a folder.")
            return
        if self.library.add_folder(chosen):
            self.rescan()
        else:
            self.status.show_info(f"{chosen} is already in the list.")

    def remove_folder(self) -> None:
        item = self.folders.currentItem()
        if item is not None and self.library.remove_folder(item.text()):
            self.rescan()

    def _hf_cache_toggled(self, on: bool) -> None:
        self.ctx.core.settings.scan_hf_cache = on
        self.ctx.core.save_settings()
        self.rescan()

    # ---- loading ---------------------------------------------------------------------------------

    def _ask_custom_code(self, name: str) -> bool:
        answer = QMessageBox.question(self, "Run the model's own code?",
                                      f"{name} ships its own Python code, which will run with your permissions "
                                      "when it loads. Load it only if you trust where it came from.")
        return answer == QMessageBox.StandardButton.Yes

    def load_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        trust = False
        if entry.support.needs_trust_remote_code:
            if not self.confirm_custom_code(entry.info.name):
                return
            trust = True
        path = entry.info.path
        handle = self.runner.submit(self.library.load, path, device=self.device_combo.currentText(),
                                    dtype=self.dtype_combo.currentText(), trust_remote_code=trust,
                                    name=f"Load model {entry.info.name}", params={"path": str(path)})
        self._load_jobs[handle.id] = path
        self._loading[path.resolve()] = "Loading…"
        self.status.show_info(f"Loading {entry.info.name}…")
        self.refresh()

    def unload_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and self.library.unload(entry.info.path):
            self.status.show_info(f"Unloaded {entry.info.name}.")

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        if job.id == self._scan_job and job.state.finished:
            self._scan_job = None
            if job.state is JobState.FAILED:
                self.status.show_error(f"The scan failed: {job.error}")
            if self._rescan_pending:
                self.rescan()
            self._apply_filter()
            return
        path = self._load_jobs.get(job.id)
        if path is None:
            return
        key = path.resolve()
        if not job.state.finished:
            if job.fraction is not None:
                self._loading[key] = f"Loading {job.fraction:.0%}"
                self.refresh()
            return
        del self._load_jobs[job.id]
        self._loading.pop(key, None)
        if job.state is JobState.SUCCEEDED:
            self.status.show_info(f"Loaded {path.name}.")
        elif job.state is JobState.FAILED:
            failure = self.library.failure(path)
            self.status.show_error(f"{path.name} did not load: {failure.message if failure else job.error}")
        self.refresh()

    # ---- use for task ----------------------------------------------------------------------------

    def use_for_task(self, task: TaskType) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        ref = self.ctx.core.providers.local_provider_for(entry.info.path)
        self.use_for_task_requested.emit(task, ref)
