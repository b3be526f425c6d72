"""The Modules panel: the health matrix of integration modules and everything done to one of them.

A thin view over ``core.modules``: every action that may take time (start, stop, health check, install,
remove) is a job on the core's runner; the table redraws when the service reports a change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
)

from app.context import AppContext
from app.panels.modules.credentials_dialog import CredentialsDialog
from app.panels.modules.details import ModuleDetails
from app.panels.modules.install_dialog import InstallDialog
from app.panels.modules.modules_table import ModulesTable
from app.panels.registry import Panel
from app.widgets.status_label import StatusLabel
from nexus_core.jobs.models import JobEvent, JobState
from nexus_core.jobs.runner import JobHandle
from nexus_core.modules.registry import ModuleRecord, ModuleRegistryError
from nexus_core.modules.service import credential_key
from nexus_core.modules.validate import ValidationReport

START_TIPS = {False: "Start the selected module so its tools can be used", True: "Stop the selected module"}
ENABLE_TIPS = {True: "Disable the selected module: it stops and does not start with the app",
               False: "Enable the selected module again"}


class ModulesPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.modules = ctx.core.modules
        self._jobs: dict[str, tuple[str, Callable[[Any], None] | None, JobHandle]] = {}  # job id → what, on success
        # Replaceable in tests: the folder picker and the yes/no questions.
        self.choose_folder: Callable[[], str | None] = lambda: QFileDialog.getExistingDirectory(
            self, "Install a module from a folder") or None
        self.confirm: Callable[[str, str], bool] = self._ask
        self.install_dialog: InstallDialog | None = None
        self.credentials_dialog: CredentialsDialog | None = None

        title = QLabel("Modules")
        title.setObjectName("panelTitle")
        self.install_button = QPushButton("Install from folder…")
        self.install_button.setToolTip("Check a module's folder, show what it asks for, then install it if you "
                                       "approve")
        self.install_button.clicked.connect(self.install_from_folder)
        self.start_all_button = QPushButton("Start all")
        self.start_all_button.setToolTip("Start every enabled module that has its credentials")
        self.start_all_button.clicked.connect(
            lambda: self._job("Start modules", lambda _c: self.modules.start_enabled()))
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.start_all_button)
        header.addWidget(self.install_button)

        self.table = ModulesTable()
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.details = ModuleDetails()
        self.details.rollback_requested.connect(self.rollback)
        self.details.refresh_log_requested.connect(self._refresh_log)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.start_button = QPushButton("Start")
        self.start_button.setToolTip(START_TIPS[False])
        self.start_button.clicked.connect(self.toggle_running)
        self.enable_button = QPushButton("Disable")
        self.enable_button.setToolTip(ENABLE_TIPS[True])
        self.enable_button.clicked.connect(self.toggle_enabled)
        self.health_button = QPushButton("Check health")
        self.health_button.setToolTip("Ask the selected module whether its service works (result in the details)")
        self.health_button.clicked.connect(self.check_health)
        self.credentials_button = QPushButton("Credentials…")
        self.credentials_button.setToolTip("Enter or forget the API keys and passwords the selected module needs")
        self.credentials_button.clicked.connect(self.edit_credentials)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop the selected module, archive its files and forget its credentials "
                                      "(asks first)")
        self.remove_button.clicked.connect(self.remove)
        self.status = StatusLabel()
        actions = QHBoxLayout()
        for button in (self.start_button, self.enable_button, self.health_button, self.credentials_button,
                       self.remove_button):
            actions.addWidget(button)
        actions.addWidget(self.status, 1)
        actions.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)
        ctx.module_events.fired.connect(self.refresh)
        ctx.job_events.fired.connect(self._job_event)
        self.refresh()

    # ---- drawing -----------------------------------------------------------------------------------

    def refresh(self, _name: object = None) -> None:
        self.table.blockSignals(True)  # one selection update after the redraw, not one per cell
        try:
            self.table.show_statuses(self.modules.statuses())
        finally:
            self.table.blockSignals(False)
        problems = self.modules.registry.problems
        if problems:
            self.status.show_error("Unreadable module folders: " + "; ".join(f"{p}: {w}" for p, w in problems))
        self._selection_changed()

    def selected(self) -> str | None:
        return self.table.selected_name()

    def _selection_changed(self) -> None:
        name = self.selected()
        buttons = (self.start_button, self.enable_button, self.health_button, self.credentials_button,
                   self.remove_button)
        details = None  # all read in one go: a job may remove the module between two reads
        try:
            status = self.modules.status(name) if name else None
            record = self.modules.registry.record(name) if name else None
            if name and status is not None and record is not None:
                details = (status, record, self._credential_state(name, record), self.modules.registry.health(name),
                           self.modules.registry.versions(name), self.modules.log_lines(name))
        except ModuleRegistryError:  # removed by a job a moment ago; the next refresh drops its row
            details = None
        if details is None:
            for button in buttons:
                button.setEnabled(False)
            return
        self.details.show_module(*details)
        running = status.state == "running"
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setToolTip(START_TIPS[running])
        self.start_button.setEnabled(status.enabled and (running or status.state != "needs_credentials"))
        self.enable_button.setText("Disable" if status.enabled else "Enable")
        self.enable_button.setToolTip(ENABLE_TIPS[status.enabled])
        self.enable_button.setEnabled(True)
        self.health_button.setEnabled(status.enabled and status.state != "needs_credentials")
        self.credentials_button.setEnabled(bool(record.manifest.credentials))
        self.remove_button.setEnabled(status.source == "installed")

    def _credential_state(self, name: str, record: ModuleRecord) -> dict[str, bool]:
        creds = self.ctx.core.credentials
        if getattr(creds, "locked", False):
            return {}
        return {c.name: bool(creds.get(credential_key(name, c.name))) for c in record.manifest.credentials}

    def _refresh_log(self) -> None:
        name = self.selected()
        if name:
            self.details.show_log(self.modules.log_lines(name))

    # ---- jobs --------------------------------------------------------------------------------------

    def _job(self, what: str, fn: Callable[[Any], Any], on_done: Callable[[Any], None] | None = None) -> str:
        """Run ``fn(ctx)`` as a job; ``on_done(result)`` runs on the GUI thread when it succeeds."""
        handle = self.ctx.core.runner.submit(fn, name=what)
        self._jobs[handle.id] = (what, on_done, handle)
        self.status.show_info(f"{what}…")
        return handle.id

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        entry = self._jobs.get(job.id)
        if entry is None or not job.state.finished:
            return
        del self._jobs[job.id]
        what, on_done, handle = entry
        if job.state is JobState.SUCCEEDED:
            self.status.show_info(f"{what}: done.")
            if on_done is not None:
                on_done(handle.result(timeout=5))
        elif job.state is JobState.FAILED:
            self.status.show_error(f"{what} failed: {(job.error or '').splitlines()[0] if job.error else ''}")
        self.refresh()

    # ---- actions -----------------------------------------------------------------------------------

    def _ask(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def toggle_running(self) -> None:
        name = self.selected()
        if name is None:
            return
        if self.modules.status(name).state == "running":
            self._job(f"Stop {name}", lambda _c: self.modules.unload(name))
        else:
            self._job(f"Start {name}", lambda _c: self.modules.load(name))

    def toggle_enabled(self) -> None:
        name = self.selected()
        if name is None:
            return
        if self.modules.status(name).enabled:
            self._job(f"Disable {name}", lambda _c: self.modules.disable(name))
        else:
            self.modules.enable(name)

    def check_health(self) -> None:
        name = self.selected()
        if name is not None:
            self._job(f"Health check of {name}", lambda _c: self.modules.health_check(name))

    def rollback(self, name: str, version: str) -> None:
        if self.confirm("Roll back", f"Make {name} {version} the active version?"):
            self._job(f"Roll {name} back to {version}", lambda _c: self.modules.rollback(name, version))

    def remove(self) -> None:
        name = self.selected()
        if name is not None and self.confirm("Remove module", f"Stop {name}, archive its files and forget its "
                                                              "credentials?"):
            self._job(f"Remove {name}", lambda _c: self.modules.remove(name))

    def edit_credentials(self) -> None:
        name = self.selected()
        if name is None:
            return
        try:
            record = self.modules.registry.record(name)
        except ModuleRegistryError as exc:  # removed a moment ago
            self.status.show_error(exc.user_message())
            return
        dialog = CredentialsDialog(name, record.manifest.credentials, self._credential_state(name, record), self)
        self.credentials_dialog = dialog
        dialog.accepted.connect(lambda: self._save_credentials(name, dialog))
        dialog.open()

    def _save_credentials(self, name: str, dialog: CredentialsDialog) -> None:
        values = dialog.values()
        forgotten = set(dialog.forgotten) - set(values)
        for key in forgotten:
            self.modules.forget_credential(name, key)
        for edit in dialog.edits.values():
            edit.clear()  # the typed secret does not linger in a widget

        def store(_ctx: Any) -> None:
            for key, value in values.items():
                self.modules.set_credential(name, key, value)

        if values:
            self._job(f"Save credentials of {name}", store)

    def install_from_folder(self) -> None:
        """Validate in the background, then show the report; one click installs it."""
        chosen = self.choose_folder()
        if not chosen:
            return
        folder = Path(chosen)
        self._job(f"Validate {folder.name}", lambda _c: self.modules.validate(folder), on_done=self._show_report)

    def _show_report(self, report: ValidationReport) -> None:
        dialog = InstallDialog(report, self)
        self.install_dialog = dialog
        dialog.accepted.connect(lambda: self._job(
            f"Install {report.manifest.name if report.manifest else report.folder.name}",
            lambda _c: self.modules.install(report.folder, approved_by="user")))
        dialog.open()
