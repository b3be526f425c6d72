"""Jobs view: per-job progress bars, pause/resume/cancel buttons, and the persisted history.

Rows are kept in step with the runner's events (delivered on the GUI thread by the context's bridge).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from nexus_core.cli_progress import format_eta
from nexus_core.jobs import JobEvent, JobSnapshot, JobState

COLUMNS = ["Job", "State", "Progress", "ETA", "Elapsed", "Details", ""]
COL_NAME, COL_STATE, COL_PROGRESS, COL_ETA, COL_ELAPSED, COL_DETAILS, COL_ACTIONS = range(len(COLUMNS))
STATE_LABELS = {
    JobState.QUEUED: "Queued", JobState.RUNNING: "Running", JobState.PAUSED: "Paused",
    JobState.SUCCEEDED: "Done", JobState.FAILED: "Failed", JobState.CANCELLED: "Cancelled",
    JobState.INTERRUPTED: "Interrupted",
}
HISTORY_LIMIT = 200


class _JobRow:
    def __init__(self, view: JobsView, snap: JobSnapshot) -> None:
        self.item = QTreeWidgetItem()
        self.item.setData(COL_NAME, Qt.ItemDataRole.UserRole, snap.id)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(18)
        self.pause = QToolButton()
        self.pause.setText("Pause")
        self.pause.setToolTip("Pause this job at its next safe point")
        self.pause.clicked.connect(lambda: view.toggle_pause(snap.id))
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop this job")
        self.cancel.clicked.connect(lambda: view.ctx.core.runner.cancel(snap.id))
        self.actions = QWidget()
        layout = QHBoxLayout(self.actions)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.pause)
        layout.addWidget(self.cancel)
        self.snapshot = snap

    def update(self, snap: JobSnapshot) -> None:
        self.snapshot = snap
        item = self.item
        item.setText(COL_NAME, snap.name)
        item.setToolTip(COL_NAME, f"{snap.name} ({snap.kind} job {snap.id})")
        item.setText(COL_STATE, STATE_LABELS[snap.state])
        if snap.fraction is None and snap.state is JobState.RUNNING:
            self.progress.setRange(0, 0)  # busy indicator: progress unknown
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round((snap.fraction or 0.0) * 1000))
        self.progress.setFormat(f"{(snap.fraction or 0.0) * 100:.0f}%")
        item.setText(COL_ETA, format_eta(snap.eta_s) if snap.state is JobState.RUNNING else "")
        item.setText(COL_ELAPSED, format_eta(snap.elapsed_s) if snap.elapsed_s is not None else "")
        detail = snap.error if snap.state is JobState.FAILED else snap.message
        item.setText(COL_DETAILS, detail or "")
        item.setToolTip(COL_DETAILS, detail or "")
        active = snap.state.active
        self.cancel.setVisible(active)
        self.pause.setVisible(active and snap.state is not JobState.QUEUED)
        self.pause.setText("Resume" if snap.state is JobState.PAUSED else "Pause")
        self.pause.setToolTip("Let this job go on" if snap.state is JobState.PAUSED
                              else "Pause this job at its next safe point")


class JobsView(QWidget):
    """Shown in the Jobs dock. ``failure_opened`` fires when the user opens a failed job's details."""

    failure_opened = Signal(object)  # JobSnapshot

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.rows: dict[str, _JobRow] = {}
        self.filter = QComboBox()
        self.filter.addItem("All jobs", "all")
        self.filter.addItem("Running and queued", "active")
        self.filter.addItem("Failed", "failed")
        self.filter.setToolTip("Which jobs to list")
        self.filter.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.setToolTip("Remove finished jobs from the history")
        self.clear_button.clicked.connect(self.clear_finished)
        top = QHBoxLayout()
        top.addWidget(self.filter)
        top.addWidget(self.summary, 1)
        top.addWidget(self.clear_button)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_DETAILS, QHeaderView.ResizeMode.Stretch)
        for column, width in ((COL_NAME, 220), (COL_STATE, 90), (COL_PROGRESS, 160), (COL_ETA, 70),
                              (COL_ELAPSED, 70), (COL_ACTIONS, 130)):
            self.tree.setColumnWidth(column, width)
        self.tree.itemDoubleClicked.connect(self._open_details)
        self.empty_label = QLabel("No background jobs yet. Downloads, training runs and builds appear here.")
        self.empty_label.setObjectName("muted")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_label)

        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick_elapsed)
        ctx.job_events.fired.connect(self._on_event)
        for snap in reversed(ctx.core.runner.history(HISTORY_LIMIT)):
            self._upsert(snap)
        self._refresh_summary()

    # -- queries used by the window and tests ------------------------------------------------------
    def row(self, job_id: str) -> _JobRow | None:
        return self.rows.get(job_id)

    def progress_bar(self, job_id: str) -> QProgressBar:
        return self.rows[job_id].progress

    def cancel_button(self, job_id: str) -> QToolButton:
        return self.rows[job_id].cancel

    def pause_button(self, job_id: str) -> QToolButton:
        return self.rows[job_id].pause

    # -- actions -----------------------------------------------------------------------------------
    def toggle_pause(self, job_id: str) -> None:
        runner = self.ctx.core.runner
        if runner.snapshot(job_id).state is JobState.PAUSED:
            runner.resume(job_id)
        else:
            runner.pause(job_id)

    def clear_finished(self, *, confirm: bool = True) -> None:
        finished = [r for r in self.rows.values() if r.snapshot.state.finished]
        if not finished:
            return
        if confirm and QMessageBox.question(
                self, "Clear finished jobs", f"Remove {len(finished)} finished job(s) from the history?"
        ) != QMessageBox.StandardButton.Yes:
            return
        self.ctx.core.runner.clear_history()
        for row in finished:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(row.item))
            del self.rows[row.snapshot.id]
        self._refresh_summary()

    # -- events ------------------------------------------------------------------------------------
    def _on_event(self, event: JobEvent) -> None:
        self._upsert(event.job)
        self._refresh_summary()

    def _upsert(self, snap: JobSnapshot) -> None:
        row = self.rows.get(snap.id)
        if row is None:
            row = _JobRow(self, snap)
            self.rows[snap.id] = row
            self.tree.insertTopLevelItem(0, row.item)
            self.tree.setItemWidget(row.item, COL_PROGRESS, row.progress)
            self.tree.setItemWidget(row.item, COL_ACTIONS, row.actions)
        row.update(snap)
        row.item.setHidden(not self._visible(snap))

    def _visible(self, snap: JobSnapshot) -> bool:
        mode = self.filter.currentData()
        return mode == "all" or (mode == "active" and snap.state.active) or (
            mode == "failed" and snap.state in (JobState.FAILED, JobState.INTERRUPTED))

    def _apply_filter(self) -> None:
        for row in self.rows.values():
            row.item.setHidden(not self._visible(row.snapshot))

    def _refresh_summary(self) -> None:
        active = sum(1 for r in self.rows.values() if r.snapshot.state.active)
        failed = sum(1 for r in self.rows.values() if r.snapshot.state is JobState.FAILED)
        self.summary.setText(f"{active} running · {len(self.rows)} in history" + (f" · {failed} failed" if failed
                                                                                      else ""))
        self.empty_label.setVisible(not self.rows)
        self.tree.setVisible(bool(self.rows))
        if active and not self._ticker.isActive():
            self._ticker.start()
        elif not active:
            self._ticker.stop()

    def _tick_elapsed(self) -> None:
        """Once a second: running jobs' elapsed time moves even when a job reports no progress."""
        for row in self.rows.values():
            if row.snapshot.state is JobState.RUNNING and row.snapshot.started_at:
                row.item.setText(COL_ELAPSED, format_eta(time.time() - row.snapshot.started_at))

    def _open_details(self, item: QTreeWidgetItem, _column: int) -> None:
        job_id = item.data(COL_NAME, Qt.ItemDataRole.UserRole)
        row = self.rows.get(job_id)
        if row is not None and row.snapshot.state is JobState.FAILED:
            self.failure_opened.emit(row.snapshot)
