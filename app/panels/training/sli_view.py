"""Layer streaming in the Training panel: start a pass, see each layer done / in progress / to do, and the
weight read speed live against the disk's measured sequential speed."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.widgets.status_label import StatusLabel
from nexus_core.errors import NexusError
from nexus_core.jobs.models import JobEvent
from nexus_core.sli.service import SliEvent

DONE, ACTIVE, TODO = QColor("#27ae60"), QColor("#2e86de"), QColor("#c8ced6")


class LayerStrip(QWidget):
    """One cell per layer: done, the one running (filled as its batches finish), still to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layers = 0
        self.done = 0
        self.fraction = 0.0  # of the layer in progress
        self.setMinimumHeight(22)

    def set_state(self, layers: int, done: int, fraction: float = 0.0) -> None:
        self.layers, self.done, self.fraction = layers, done, fraction
        self.update()

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 - Qt's name
        if not self.layers:
            return
        painter = QPainter(self)
        width = self.width() / self.layers
        for index in range(self.layers):
            x = int(index * width)
            cell = int((index + 1) * width) - x - 1
            painter.fillRect(x, 0, cell, self.height(), DONE if index < self.done else TODO)
            if index == self.done and self.fraction > 0:
                painter.fillRect(x, 0, int(cell * self.fraction), self.height(), ACTIVE)
        painter.end()


class SliView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.sli = ctx.core.sli
        self._jobs: dict[str, Path] = {}
        self._speed: list[tuple[float, float]] = []
        self._live: Path | None = None
        self._started = 0.0

        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("model folder (larger than memory is fine)")
        self.model_edit.setToolTip("The model to run: its layers are read from disk one at a time, so it may be "
                                   "larger than memory")
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("text records or {\"input_ids\"} jsonl")
        self.data_edit.setToolTip("The records to run through the model: a JSONL file of texts or of token ids")
        self.name_edit = QLineEdit(time.strftime("pass-%Y%m%d-%H%M%S"))
        self.name_edit.setToolTip("The pass's folder name under sli/ in the data folder (letters, digits, '.', '_', "
                                  "'-')")
        self.budget_spin = QSpinBox()
        self.budget_spin.setRange(0, 10_000_000)
        self.budget_spin.setSuffix(" MB")
        self.budget_spin.setSpecialValueText("what is free")
        self.budget_spin.setToolTip("How much memory the pass may use for layers and activations (0: what is free)")
        self.topk_spin = QSpinBox()
        self.topk_spin.setRange(0, 4096)
        self.topk_spin.setSpecialValueText("none")
        self.topk_spin.setToolTip("Keep the teacher's top-k logits: a distillation teacher cache")
        self.start_button = QPushButton("Start pass")
        self.start_button.setToolTip("Start the pass in the background; the layer strip and read speed follow it")
        self.start_button.clicked.connect(self.start)
        form_box = QGroupBox("New layer-streaming pass")
        form = QFormLayout(form_box)
        for label, widget in (("Model", self.model_edit), ("Data", self.data_edit), ("Name", self.name_edit),
                              ("Memory budget", self.budget_spin), ("Top-k logits", self.topk_spin)):
            form.addRow(label, widget)
        form.addRow("", self.start_button)
        self.runs = QListWidget()
        self.runs.currentItemChanged.connect(lambda *_: self.show_selected())
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on with the selected pass from the last layer it finished")
        self.resume_button.clicked.connect(self.resume)
        left = QVBoxLayout()
        left.addWidget(form_box)
        left.addWidget(QLabel("Passes"))
        left.addWidget(self.runs, 1)
        left.addWidget(self.resume_button)

        self.strip = LayerStrip()
        self.where = QLabel("No pass selected.")
        self.plot = pg.PlotWidget(background=None)
        self.plot.setLabel("left", "weight read speed", units="B/s")
        self.plot.setLabel("bottom", "seconds")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.speed_curve = self.plot.plot([], [], pen=pg.mkPen("#2e86de", width=2), name="read")
        self.disk_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#e67e22", width=1, style=Qt.PenStyle.DashLine),
                                         label="disk", labelOpts={"position": 0.05})
        self.disk_line.setVisible(False)
        self.plot.addItem(self.disk_line)
        self.status = StatusLabel()
        right = QVBoxLayout()
        right.addWidget(QLabel("Layers"))
        right.addWidget(self.strip)
        right.addWidget(self.where)
        right.addWidget(self.plot, 1)
        left.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)

        self._progress = EmitterBridge(self.sli.progress, self)
        self._progress.fired.connect(self._on_progress)
        self._changed = EmitterBridge(self.sli.changed, self)
        self._changed.fired.connect(lambda _p: self.refresh())
        ctx.job_events.fired.connect(self._job_event)
        self.refresh()

    # ---- list --------------------------------------------------------------------------------------

    def refresh(self) -> None:
        selected = self.selected()
        self.runs.blockSignals(True)
        self.runs.clear()
        for run in self.sli.runs():
            done = max(run.next_layer, 0)
            item = QListWidgetItem(f"{run.name} — {run.status}" + (f", {done}/{run.layers} layers" if run.layers
                                                                   else ""))
            item.setData(Qt.ItemDataRole.UserRole, str(run.run_dir))
            self.runs.addItem(item)
            if selected is not None and run.run_dir == selected:
                self.runs.setCurrentItem(item)
        if self.runs.currentItem() is None and self.runs.count():
            self.runs.setCurrentRow(0)
        self.runs.blockSignals(False)
        self.show_selected()

    def selected(self) -> Path | None:
        item = self.runs.currentItem()
        return Path(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def show_selected(self) -> None:
        run_dir = self.selected()
        run = next((r for r in self.sli.runs() if r.run_dir == run_dir), None)
        self.resume_button.setEnabled(bool(run and run.status == "stopped"))
        if run is None:
            self.strip.set_state(0, 0)
            self.where.setText("No pass selected.")
            return
        if run_dir != self._live:
            self.strip.set_state(run.layers, max(run.next_layer, 0))
            self.where.setText(f"{run.status}: {max(run.next_layer, 0)} of {run.layers} layers done · {run.model}")

    # ---- actions -----------------------------------------------------------------------------------

    def start(self) -> None:
        name = self.name_edit.text().strip()
        model, data = self.model_edit.text().strip(), self.data_edit.text().strip()
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", name) or not model or not data:
            self.status.show_error("A pass needs a model folder, data and a name of letters, digits, '.', '_', '-'.")
            return
        if (self.sli.runs_dir / name).exists():
            self.status.show_error(f"A pass named {name} exists; pick another name or resume it.")
            return
        budget = self.budget_spin.value() * 2**20 or None
        try:
            handle = self.sli.start(name, model=model, data=data, memory_budget=budget, top_k=self.topk_spin.value())
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return
        self._track(handle, self.sli.runs_dir / name)

    def resume(self) -> None:
        run_dir = self.selected()
        if run_dir is not None:
            self._track(self.sli.resume(run_dir), run_dir)

    def _track(self, handle: Any, run_dir: Path) -> None:
        self._jobs[handle.id] = run_dir
        self._live, self._speed, self._started = run_dir, [], time.monotonic()
        self.speed_curve.setData([], [])
        self.status.show_info(f"{run_dir.name}: running…")

    def _on_progress(self, event: SliEvent) -> None:
        if event.run_dir != self._live:
            return
        report = event.progress
        self.strip.set_state(report.layers, max(report.layer, 0),
                             report.batch / max(1, report.batches) if report.stage == "layer" else 0.0)
        eta = f" · ETA {report.eta_s:.0f} s" if report.eta_s is not None else ""
        self.where.setText(f"{report.stage} {max(report.layer, 0) + 1}/{report.layers}, batch "
                           f"{report.batch}/{report.batches}{eta}")
        self._speed.append((time.monotonic() - self._started, report.read_bytes_per_s))
        self.speed_curve.setData([t for t, _ in self._speed], [v for _, v in self._speed])
        if event.disk_bytes_per_s:
            self.disk_line.setValue(event.disk_bytes_per_s)
            self.disk_line.setVisible(True)

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        run_dir = self._jobs.get(job.id)
        if run_dir is None or not job.state.finished:
            return
        del self._jobs[job.id]
        if job.state.value == "failed":
            self.status.show_error(f"{run_dir.name} failed: {(job.error or '').splitlines()[0]}")
        else:
            self.status.show_info(f"{run_dir.name}: {job.state.value}.")
        self._live = None
        self.refresh()

    def shutdown(self) -> None:
        self._progress.close()
        self._changed.close()
