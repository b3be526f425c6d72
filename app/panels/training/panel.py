"""The Training panel: start a distillation run, watch every loss term live, pause/resume/cancel, see results.

A thin view over ``core.distill``: runs are jobs (the Jobs dock shows them too); step events arrive
through a bridge and are drawn at most a few times a second.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.panels.registry import Panel
from app.panels.training.fusion_view import FusionView
from app.panels.training.sli_view import SliView
from app.widgets.status_label import StatusLabel
from nexus_core.distill.data import PRESETS
from nexus_core.distill.service import StepEvent
from nexus_core.distill.state import DistillConfig
from nexus_core.errors import NexusError
from nexus_core.jobs.models import JobEvent

COLOURS = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308", "#14b8a6"]
SHOWN_TERMS = ("total", "logit_kl", "logit_rkl", "logit_jsd", "hidden_mse", "ce")
REDRAW_MS = 250


class TrainingPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.distill = ctx.core.distill
        self.runner = ctx.core.runner
        self._jobs: dict[str, Path] = {}  # job id → run dir
        self._live: dict[str, list[tuple[int, float]]] = {}
        self._live_dir: Path | None = None
        self._started_at = 0.0

        title = QLabel("Training")
        title.setObjectName("panelTitle")
        self.teacher_edit = QLineEdit()
        self.teacher_edit.setPlaceholderText("teacher model folder (several: DOMAIN=PATH, comma-separated)")
        self.teacher_edit.setToolTip("The model the student learns from; several teachers each teach their own "
                                     "domain of the data")
        self.student_edit = QComboBox()
        self.student_edit.setEditable(True)
        self.student_edit.addItems(["half"])
        self.student_edit.setToolTip("'half': half the teacher's width and depth; or a model folder or config.json")
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("a data file or folder (.jsonl .csv .txt .parquet, saved datasets)")
        self.data_edit.setToolTip("The texts the teacher shows the student; a small part is held out for Evaluate")
        self.name_edit = QLineEdit(time.strftime("run-%Y%m%d-%H%M%S"))
        self.name_edit.setToolTip("The run's name: its checkpoints and the trained student are saved under it")
        self.preset_combo = QComboBox()
        for preset, size in PRESETS.items():
            self.preset_combo.addItem(f"{preset} ({size} samples)", preset)
        self.preset_combo.setCurrentIndex(1)
        self.preset_combo.setToolTip("How many samples of the data are used: debug for a quick check, production "
                                     "for the real thing")
        self.loss_combo = QComboBox()
        self.loss_combo.addItems(["kl", "rkl", "jsd"])
        self.loss_combo.setToolTip("How the student's output is compared with the teacher's: KL divergence, "
                                   "reverse KL or Jensen-Shannon")
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.1, 20.0)
        self.temperature_spin.setValue(2.0)
        self.temperature_spin.setToolTip("Softens both outputs before comparing them: higher passes on more of the "
                                         "teacher's second choices")
        self.hidden_spin = QDoubleSpinBox()
        self.hidden_spin.setRange(0.0, 100.0)
        self.hidden_spin.setValue(0.0)
        self.hidden_spin.setToolTip("Weight of matching the teacher's hidden states as well as its outputs (0: "
                                    "outputs only)")
        self.critical_edit = QLineEdit()
        self.critical_edit.setPlaceholderText("e.g. 3,7 or auto")
        self.critical_edit.setToolTip("Student layers whose hidden-state match counts ten times more; auto measures "
                                      "which matter most")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 10_000_000)
        self.steps_spin.setSpecialValueText("all the data")
        self.steps_spin.setToolTip("Stop after this many training steps (0: go through all the epochs)")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10_000)
        self.epochs_spin.setToolTip("How many times training goes through the data")
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setValue(5e-4)
        self.lr_spin.setToolTip("How big each training step is: lower is slower but steadier")
        self.start_button = QPushButton("Start run")
        self.start_button.setToolTip("Start distilling in the background; the losses are drawn on the right")
        self.start_button.clicked.connect(self.start)
        form_box = QGroupBox("New run")
        form = QFormLayout(form_box)
        for label, widget in (("Teacher(s)", self.teacher_edit), ("Student", self.student_edit),
                              ("Data", self.data_edit), ("Run name", self.name_edit),
                              ("Sample size", self.preset_combo),
                              ("Loss", self.loss_combo), ("Temperature", self.temperature_spin),
                              ("Hidden-state weight", self.hidden_spin), ("Critical layers", self.critical_edit),
                              ("Epochs", self.epochs_spin), ("Max steps", self.steps_spin),
                              ("Learning rate", self.lr_spin)):
            form.addRow(label, widget)
        self.more_button = QPushButton("More settings ▸")
        self.more_button.setCheckable(True)
        self.more_button.setFlat(True)
        self.more_button.setToolTip("Show or hide batch size, memory savers and the attention kernel")
        self.more_button.toggled.connect(self._show_more)
        form.addRow("", self.more_button)
        self.advanced = self._advanced_settings()
        self.advanced.setVisible(False)
        form.addRow(self.advanced)
        form.addRow("", self.start_button)

        self.runs = QListWidget()
        self.runs.currentItemChanged.connect(lambda *_: self.show_selected())
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on with the selected run from its last checkpoint")
        self.resume_button.clicked.connect(self.resume)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause the selected run, or let a paused one continue")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Stop (saves a checkpoint)")
        self.cancel_button.setToolTip("Stop the selected run; it saves a checkpoint first, so Resume can go on")
        self.cancel_button.clicked.connect(self.cancel)
        self.eval_button = QPushButton("Evaluate")
        self.eval_button.setToolTip("Measure the student on the held-out data: perplexity and agreement with the "
                                    "teacher")
        self.eval_button.clicked.connect(self.evaluate)
        run_buttons = QHBoxLayout()
        for button in (self.resume_button, self.pause_button, self.cancel_button, self.eval_button):
            run_buttons.addWidget(button)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(form_box)
        lv.addWidget(QLabel("Runs"))
        lv.addWidget(self.runs, 1)
        lv.addLayout(run_buttons)

        self.plot = pg.PlotWidget(background=None)
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.curves: dict[str, Any] = {}
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = StatusLabel()
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.plot, 1)
        rv.addWidget(self.details)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([420, 800])
        distill_page = QWidget()
        page_layout = QVBoxLayout(distill_page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(splitter, 1)
        page_layout.addWidget(self.status)
        self.sli_view = SliView(ctx)
        self.fusion_view = FusionView(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(distill_page, "Distillation")
        self.tabs.addTab(self.sli_view, "Layer streaming")
        self.tabs.addTab(self.fusion_view, "Fusion")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)

        self._steps = EmitterBridge(self.distill.steps, self)
        self._steps.fired.connect(self._step)
        self._runs_changed = EmitterBridge(self.distill.changed, self)
        self._runs_changed.fired.connect(lambda _p: self.refresh_runs())
        ctx.job_events.fired.connect(self._job_event)
        self._redraw = QTimer(self)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self._draw_live)
        self._redraw.start()
        self.refresh_runs()

    def _advanced_settings(self) -> QWidget:
        """Batch shape, memory savers (LoRA, teacher cache, gradient checkpointing) and the attention kernel."""
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(4)
        self.batch_spin.setToolTip("Samples per training step: more is faster but needs more memory")
        self.accum_spin = QSpinBox()
        self.accum_spin.setRange(1, 4096)
        self.accum_spin.setToolTip("Add up this many batches before each weight update: a larger batch in the same "
                                   "memory")
        self.length_spin = QSpinBox()
        self.length_spin.setRange(8, 131072)
        self.length_spin.setValue(256)
        self.length_spin.setToolTip("Texts are cut into blocks of at most this many tokens")
        self.ce_spin = QDoubleSpinBox()
        self.ce_spin.setRange(0.0, 100.0)
        self.ce_spin.setToolTip("Weight of the ordinary next-token loss on the data itself (0: learn from the "
                                "teacher only)")
        self.lora_spin = QSpinBox()
        self.lora_spin.setRange(0, 1024)
        self.lora_spin.setSpecialValueText("off (train all weights)")
        self.lora_spin.setToolTip("Train LoRA adapters of this rank on a trained student folder")
        self.cache_spin = QSpinBox()
        self.cache_spin.setRange(0, 4096)
        self.cache_spin.setSpecialValueText("off (teachers stay loaded)")
        self.cache_spin.setToolTip("Cache the teachers' top-k outputs first, then train without them in memory")
        self.checkpointing_check = QCheckBox("Recompute activations (less memory, slower)")
        self.checkpointing_check.setToolTip("Gradient checkpointing: keep fewer activations and recompute them, to "
                                            "fit a bigger model or batch")
        self.attention_combo = QComboBox()
        self.attention_combo.addItems(["auto", "sdpa", "eager"])
        self.attention_combo.setToolTip("The attention kernel: auto uses SDPA where the model supports it, else "
                                        "eager")
        for label, widget in (("Batch size", self.batch_spin), ("Gradient accumulation", self.accum_spin),
                              ("Max sequence length", self.length_spin), ("Cross-entropy weight", self.ce_spin),
                              ("LoRA rank", self.lora_spin), ("Teacher cache top-k", self.cache_spin),
                              ("Gradient checkpointing", self.checkpointing_check),
                              ("Attention", self.attention_combo)):
            form.addRow(label, widget)
        return box

    def _show_more(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.more_button.setText("Fewer settings ▾" if shown else "More settings ▸")

    # ---- runs list ---------------------------------------------------------------------------------

    def refresh_runs(self) -> None:
        selected = self.selected_run()
        self.runs.blockSignals(True)
        self.runs.clear()
        for summary in self.distill.runs():
            text = summary.name + (f" — {summary.state.status}, step {summary.state.step}" if summary.state
                                   else f" — unreadable: {summary.problem}")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, str(summary.run_dir))
            self.runs.addItem(item)
            if selected is not None and Path(str(summary.run_dir)) == selected:
                self.runs.setCurrentItem(item)
        if self.runs.currentItem() is None and self.runs.count():
            self.runs.setCurrentRow(0)
        self.runs.blockSignals(False)
        self.show_selected()

    def selected_run(self) -> Path | None:
        item = self.runs.currentItem()
        return Path(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _job_for(self, run_dir: Path | None) -> str | None:
        return next((job for job, path in self._jobs.items() if path == run_dir), None)

    def show_selected(self) -> None:
        run_dir = self.selected_run()
        summary = next((s for s in self.distill.runs() if s.run_dir == run_dir), None)
        running = self._job_for(run_dir) is not None
        self.resume_button.setEnabled(bool(summary and summary.state and summary.state.status != "finished"
                                           and not running))
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.eval_button.setEnabled(bool(summary and summary.state and summary.state.step > 0 and not running))
        if summary is None or summary.state is None:
            self.details.setText(summary.problem if summary else "No run selected.")
            self._draw({})
            return
        state = summary.state
        series: dict[str, list[tuple[int, float]]] = {}
        for entry in state.history:
            for key in SHOWN_TERMS:
                if key in entry:
                    series.setdefault(key, []).append((int(entry["step"]), float(entry[key])))
        if run_dir == self._live_dir and self._live:
            series = self._live
        self._draw(series)
        config = state.config
        results = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in state.results.items())
        self.details.setText(f"{state.status} · step {state.step} · teachers {', '.join(config.teachers.values())} · "
                             f"student {config.student}{_extras(config)}"
                             f" · loss {config.divergence} T={config.temperature:g}\n"
                             f"{state.data_summary}" + (f"\nResults: {results}" if results else ""))

    def _draw(self, series: dict[str, list[tuple[int, float]]]) -> None:
        for key, points in series.items():
            curve = self.curves.get(key)
            if curve is None:
                colour = COLOURS[len(self.curves) % len(COLOURS)]
                curve = self.curves[key] = self.plot.plot([], [], name=key, pen=pg.mkPen(colour, width=2))
            curve.setData([p[0] for p in points], [p[1] for p in points])
        for key, curve in self.curves.items():
            if key not in series:
                curve.setData([], [])

    # ---- actions -----------------------------------------------------------------------------------

    def _config(self) -> DistillConfig:
        teachers: dict[str, str] = {}
        for part in [p.strip() for p in self.teacher_edit.text().split(",") if p.strip()]:
            domain, sep, path = part.partition("=")
            teachers[domain if sep else ""] = path if sep else part
        if not teachers or not self.data_edit.text().strip():
            raise NexusError("A run needs a teacher and data.", hint="Fill in Teacher(s) and Data.")
        critical: list[int] | str = []
        text = self.critical_edit.text().strip()
        if text == "auto":
            critical = "auto"
        elif text:
            if not re.fullmatch(r"\d+(\s*,\s*\d+)*", text):
                raise NexusError("Critical layers are layer numbers like 3,7, or 'auto'.")
            critical = [int(x) for x in text.split(",")]
        return DistillConfig(teachers=teachers, student=self.student_edit.currentText().strip() or "half",
                             data=self.data_edit.text().strip(), sample_size=PRESETS[self.preset_combo.currentData()],
                             epochs=self.epochs_spin.value(), max_steps=self.steps_spin.value() or None,
                             lr=self.lr_spin.value(),
                             divergence=self.loss_combo.currentText(), temperature=self.temperature_spin.value(),
                             hidden_weight=self.hidden_spin.value(), critical_layers=critical,
                             batch_size=self.batch_spin.value(), grad_accum=self.accum_spin.value(),
                             max_length=self.length_spin.value(), ce_weight=self.ce_spin.value(),
                             lora_rank=self.lora_spin.value(), teacher_cache_top_k=self.cache_spin.value(),
                             gradient_checkpointing=self.checkpointing_check.isChecked(),
                             attention=self.attention_combo.currentText())

    def start(self) -> None:
        name = self.name_edit.text().strip()
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", name):
            self.status.show_error("The run name may use letters, digits, '.', '_' and '-'.")
            return
        try:
            handle = self.distill.start(name, self._config())
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return
        self._track(handle, self.distill.runs_dir / name)
        self.name_edit.setText(time.strftime("run-%Y%m%d-%H%M%S"))

    def resume(self) -> None:
        run_dir = self.selected_run()
        if run_dir is not None:
            try:
                self._track(self.distill.resume(run_dir), run_dir)
            except NexusError as exc:
                self.status.show_error(exc.user_message())

    def _track(self, handle: Any, run_dir: Path) -> None:
        self._jobs[handle.id] = run_dir
        self._live, self._live_dir = {}, run_dir
        self._started_at = time.monotonic()
        self.status.show_info(f"Training {run_dir.name}…")
        self.refresh_runs()

    def toggle_pause(self) -> None:
        job = self._job_for(self.selected_run())
        if job is None:
            return
        if self.runner.snapshot(job).state.value == "paused":
            self.runner.resume(job)
            self.pause_button.setText("Pause")
        else:
            self.runner.pause(job)
            self.pause_button.setText("Continue")

    def cancel(self) -> None:
        job = self._job_for(self.selected_run())
        if job is not None:
            self.runner.cancel(job)

    def evaluate(self) -> None:
        run_dir = self.selected_run()
        if run_dir is not None:
            self.distill.evaluate(run_dir)
            self.status.show_info(f"Evaluating {run_dir.name}…")

    # ---- live updates ------------------------------------------------------------------------------

    def _step(self, event: StepEvent) -> None:
        if event.run_dir != self._live_dir:
            return
        for key in SHOWN_TERMS:
            if key in event.report.parts:
                self._live.setdefault(key, []).append((event.report.step, event.report.parts[key]))
        elapsed = time.monotonic() - self._started_at
        done, total = event.report.step, event.report.total_steps
        eta = elapsed / max(1, len(self._live.get("total", []))) * (total - done)
        self.status.show_info(f"{event.run_dir.name}: step {done}/{total} · loss "
                              f"{event.report.parts.get('total', 0):.4f} · lr {event.report.lr:.2e} · "
                              f"ETA {eta:.0f} s")
        self._dirty = True

    def _draw_live(self) -> None:
        if getattr(self, "_dirty", False) and self.selected_run() == self._live_dir:
            self._dirty = False
            self._draw(self._live)

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        if job.id in self._jobs and job.state.finished:
            run_dir = self._jobs.pop(job.id)
            if job.state.value == "failed":
                self.status.show_error(f"{run_dir.name} failed: {(job.error or '').splitlines()[0]}")
            else:
                self.status.show_info(f"{run_dir.name}: {job.state.value}.")
            self.refresh_runs()

    def shutdown(self) -> None:
        self.sli_view.shutdown()
        self.fusion_view.shutdown()
        self._redraw.stop()
        self._steps.close()
        self._runs_changed.close()


def _extras(config: DistillConfig) -> str:
    """The non-default training switches of a run, for its one-line description."""
    extras = [label for label, on in ((f"LoRA r={config.lora_rank}", config.lora_rank),
                                      (f"teacher cache top-{config.teacher_cache_top_k}", config.teacher_cache_top_k),
                                      ("gradient checkpointing", config.gradient_checkpointing)) if on]
    return f" ({', '.join(extras)})" if extras else ""
