"""The main window: navigation to registered panels, Jobs and Log docks, status bar, menus."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from app.context import AppContext
from app.errors import ExceptionRouter
from app.icons import app_icon, icon
from app.jobs import JobsView
from app.logview import LogView
from app.panels import Panel, PanelSpec, registered_panels
from app.ui_state import decode, load_ui_state, save_ui_state
from nexus_core import __version__
from nexus_core.jobs import JobEvent, JobSnapshot, JobState
from nexus_core.telemetry import Sample, device_summary

log = logging.getLogger(__name__)


class _PanelSlot(QWidget):
    """Holds a panel in the stack; shows a one-line notice until the panel's module has loaded."""

    def __init__(self, spec: PanelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.panel: Panel | None = None
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._notice = QLabel(f"Loading {spec.title}…")
        self._notice.setObjectName("muted")
        self._notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self._notice)

    def attach(self, panel: Panel) -> None:
        self._layout.removeWidget(self._notice)
        self._notice.hide()  # (deleted on a later event-loop turn: until then it would still paint)
        self._notice.deleteLater()
        self._layout.addWidget(panel)
        panel.show()  # Qt would otherwise show it on the next event-loop turn
        self.panel = panel


class FirstPaintWatcher(QObject):
    """Emits ``painted`` once, the first time the watched widget paints."""

    painted = Signal()

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self._done = False
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if not self._done and event.type() == QEvent.Type.Paint:
            self._done = True
            watched.removeEventFilter(self)
            self.painted.emit()
        return False


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, errors: ExceptionRouter, *, persist_state: bool = True) -> None:
        super().__init__()
        self.ctx = ctx
        self.errors = errors
        self.persist_state = persist_state
        self.confirm_close = True
        self.setWindowTitle("Nexus Studio")
        self.setWindowIcon(app_icon())
        self.resize(1360, 860)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        # -- navigation and panels ---------------------------------------------------------------
        self.specs = registered_panels()
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(176)
        self.nav.setIconSize(self.nav.iconSize() * 1.2)
        self.stack = QStackedWidget()
        self.slots: dict[str, _PanelSlot] = {}
        for spec in self.specs:
            item = QListWidgetItem(icon(spec.icon), spec.title)
            item.setData(Qt.ItemDataRole.UserRole, spec.id)
            item.setToolTip(spec.description)
            self.nav.addItem(item)
            slot = _PanelSlot(spec)
            self.slots[spec.id] = slot
            self.stack.addWidget(slot)
        self.nav.currentRowChanged.connect(self._on_nav_row)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self._current: str | None = None

        # -- docks -----------------------------------------------------------------------------
        self.jobs_view = JobsView(ctx)
        self.jobs_view.failure_opened.connect(self.show_job_failure)
        self.jobs_dock = self._dock("jobs", "Jobs", self.jobs_view)
        self.log_view = LogView(str(ctx.core.paths.log_file))
        self.log_dock = self._dock("log", "Log", self.log_view)
        self.tabifyDockWidget(self.jobs_dock, self.log_dock)
        self.jobs_dock.raise_()
        self.resizeDocks([self.jobs_dock], [190], Qt.Orientation.Vertical)

        # -- status bar ------------------------------------------------------------------------
        self.device_label = QLabel("Sampling…")
        self.device_label.setToolTip("GPU and memory at the last sample (see the Monitor panel)")
        self.jobs_button = QToolButton()
        self.jobs_button.setAutoRaise(True)
        self.jobs_button.setToolTip("Show the Jobs view")
        self.jobs_button.clicked.connect(self.show_jobs)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(self.jobs_button)
        self._update_job_count()

        self._build_menus()
        # A list view that gets the initial focus selects its first row, which would build that panel
        # before the window is painted; the panel stack takes the initial focus instead.
        self.stack.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.stack.setFocus()
        ctx.telemetry.fired.connect(self._on_sample)
        ctx.job_events.fired.connect(self._on_job_event)

    # -- panels ------------------------------------------------------------------------------------
    def panel_ids(self) -> list[str]:
        return [spec.id for spec in self.specs]

    def current_panel_id(self) -> str | None:
        return self._current

    def panel(self, panel_id: str) -> Panel:
        """The panel's widget, created on first use."""
        slot = self.slots[panel_id]
        if slot.panel is None:
            slot.attach(slot.spec.create(self.ctx))
            log.debug("panel %s created", panel_id)
        assert slot.panel is not None
        return slot.panel

    def show_panel(self, panel_id: str) -> Panel:
        if panel_id not in self.slots:
            raise KeyError(f"no panel {panel_id!r}; registered: {', '.join(self.slots)}")
        row = self.panel_ids().index(panel_id)
        if self.nav.currentRow() == row:
            self._on_nav_row(row)
        else:
            self.nav.setCurrentRow(row)  # -> _on_nav_row
        return self.panel(panel_id)

    def _on_nav_row(self, row: int) -> None:
        if row < 0:
            return
        panel_id = self.specs[row].id
        previous = self.slots[self._current].panel if self._current else None
        if previous is not None and self._current != panel_id:
            previous.panel_hidden()
        self.stack.setCurrentWidget(self.slots[panel_id])
        self._current = panel_id
        self.panel(panel_id).panel_shown()

    # -- docks and status --------------------------------------------------------------------------
    def _dock(self, name: str, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        dock.setAllowedAreas(Qt.DockWidgetArea.AllDockWidgetAreas)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        return dock

    def show_jobs(self) -> None:
        self.jobs_dock.show()
        self.jobs_dock.raise_()

    def _on_sample(self, sample: Sample) -> None:
        self.device_label.setText(device_summary(self.ctx.core.telemetry.gpu_status, sample))

    def _on_job_event(self, event: JobEvent) -> None:
        self._update_job_count()
        if event.type == "state" and event.job.state is JobState.FAILED:
            self.show_job_failure(event.job)

    def _update_job_count(self) -> None:
        count = self.ctx.core.runner.active_count()
        self.jobs_button.setText("No jobs running" if count == 0 else f"{count} job{'s' if count > 1 else ''} running")

    def show_job_failure(self, job: JobSnapshot) -> None:
        self.errors.report(f"Job failed: {job.name}", job.error or "The job failed.", job.traceback or "")

    # -- menus -------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_data = file_menu.addAction("Open data folder")
        open_data.triggered.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.core.paths.root))))
        settings_action = file_menu.addAction("Settings…")
        settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(self.show_settings)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        view = self.menuBar().addMenu("&View")
        for number, spec in enumerate(self.specs, start=1):
            action = view.addAction(icon(spec.icon), spec.title)
            if number <= 9:
                action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _=False, pid=spec.id: self.show_panel(pid))
        view.addSeparator()
        view.addAction(self.jobs_dock.toggleViewAction())
        view.addAction(self.log_dock.toggleViewAction())
        view.addSeparator()
        theme_menu = view.addMenu("Theme")
        self.theme_actions = QActionGroup(self)
        for choice, label in (("system", "Follow system"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(label, self, checkable=True)
            action.setData(choice)
            action.setChecked(self.ctx.core.settings.theme == choice)
            action.triggered.connect(lambda _=False, c=choice: self.ctx.set_theme(c))
            self.theme_actions.addAction(action)
            theme_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        shortcuts = help_menu.addAction("Keyboard shortcuts")
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_shortcuts)
        diagnostics = help_menu.addAction("Copy diagnostics")
        diagnostics.setToolTip("Copy a report for a bug report (versions, GPU, settings, providers — no secrets)")
        diagnostics.triggered.connect(self.copy_diagnostics)
        wizard = help_menu.addAction("Set-up wizard…")
        wizard.setToolTip("Run the first-run steps again: GPU check, key protection, model folders, chat model")
        wizard.triggered.connect(self.show_first_run_wizard)
        about = help_menu.addAction("About Nexus Studio")
        about.triggered.connect(self.show_about)
        open_log = help_menu.addAction("Open log file")
        open_log.triggered.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.core.paths.log_file))))

    def about_text(self) -> str:
        from nexus_core.runtime import installed_versions

        status = self.ctx.core.telemetry.open()
        gpu = ", ".join(status.device_names) if status.available else status.reason
        libs = "".join(f"<tr><td>{name}</td><td>{version or 'not installed'}</td></tr>"
                       for name, version in installed_versions().items())
        return (f"<h3>Nexus Studio {__version__}</h3><p>A local AI workstation.</p>"
                f"<p><b>GPU:</b> {gpu}" + (f" (driver {status.driver_version})" if status.driver_version else "")
                + f"</p><p><b>Data folder:</b> {self.ctx.core.paths.root}</p><table>{libs}</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About Nexus Studio", self.about_text())

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, what they do): every menu action with a shortcut, then the keys of the chat and the editor."""
        rows: list[tuple[str, str]] = []

        def walk(menu: QMenu, path: str) -> None:
            for action in menu.actions():
                if action.menu() is not None:
                    walk(action.menu(), f"{path} → {action.text().replace('&', '')}")
                elif not action.shortcut().isEmpty():
                    rows.append((action.shortcut().toString(QKeySequence.SequenceFormat.NativeText),
                                 f"{path} → {action.text().replace('&', '')}"))

        for top in self.menuBar().actions():
            if top.menu() is not None:
                walk(top.menu(), top.text().replace("&", ""))
        rows += [("Enter", "Chat: send the message"), ("Shift+Enter", "Chat: new line in the message"),
                 ("Ctrl+V", "Chat: paste text, or a picture as an attachment"),
                 ("Ctrl+Z / Ctrl+Shift+Z", "Pipeline editor: undo / redo"),
                 ("Ctrl+C / Ctrl+V", "Pipeline editor: copy / paste nodes"),
                 ("Delete", "Pipeline editor: delete the selected nodes and links"),
                 ("Mouse wheel / Space+drag", "Pipeline editor: zoom / pan")]
        return rows

    def show_settings(self) -> None:
        from app.dialogs.settings import SettingsDialog

        self.settings_dialog = SettingsDialog(self.ctx, self)
        self.settings_dialog.show()

    def show_first_run_wizard(self) -> None:
        from app.first_run.wizard import FirstRunWizard

        self.first_run_wizard = FirstRunWizard(core=self.ctx.core, parent=self)
        self.first_run_wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # its checks stop with it
        self.first_run_wizard.open()

    def show_shortcuts(self) -> None:
        from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout

        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        rows = self.shortcut_rows()
        table = QTableWidget(len(rows), 2, dialog)
        table.setHorizontalHeaderLabels(["Keys", "Does"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (keys, does) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(keys))
            table.setItem(r, 1, QTableWidgetItem(does))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        dialog.resize(620, 520)
        self.shortcuts_dialog = dialog
        dialog.show()

    def copy_diagnostics(self) -> None:
        """Collect the report off the GUI thread, then put it on the clipboard."""
        from PySide6.QtGui import QGuiApplication

        from app.workers import run_blocking
        from nexus_core.diagnostics import collect

        def done(text: str) -> None:
            QGuiApplication.clipboard().setText(text)
            self.statusBar().showMessage("Diagnostics copied: paste them into your bug report (no secrets are in "
                                         "them).", 8000)

        self._diagnostics = run_blocking(lambda: collect(self.ctx.core), parent=self, on_done=done)

    def bring_to_front(self) -> None:
        """Another launch on this data folder asked for the window."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    # -- state -------------------------------------------------------------------------------------
    def restore_ui_state(self) -> str:
        """Restore geometry and docks; returns the panel to show first."""
        state = load_ui_state(self.ctx.core.paths.ui_state_file)
        geometry, docks = decode(state.get("geometry")), decode(state.get("dock_state"))
        if geometry is not None:
            self.restoreGeometry(geometry)
        if docks is not None:
            self.restoreState(docks)
        panel = state.get("panel")
        return panel if isinstance(panel, str) and panel in self.slots else self.specs[0].id

    def save_ui_state(self) -> None:
        save_ui_state(self.ctx.core.paths.ui_state_file, geometry=self.saveGeometry(), state=self.saveState(),
                      panel=self._current)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        active = self.ctx.core.runner.active_count()
        if active and self.confirm_close:
            answer = QMessageBox.question(
                self, "Jobs are running",
                f"{active} background job{'s are' if active > 1 else ' is'} still running. "
                "Quit and cancel them?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        if self.persist_state:
            try:
                self.save_ui_state()
            except OSError:
                log.exception("could not save the window layout")
        for slot in self.slots.values():
            if slot.panel is not None:
                slot.panel.shutdown()
        self.log_view.detach()
        event.accept()
