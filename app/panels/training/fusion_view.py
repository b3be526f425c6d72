"""Fusion in the Training panel: train the projectors that let a local LLM read pictures, sound and video
(alignment, LLaVA stage 1: only the projectors learn), with the caption loss drawn live; the bundle it writes is
then set on a local provider (Models → Providers → Fusion bundle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
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


def _path_row(edit: QLineEdit, what: str, pick_folder: bool = True) -> QWidget:
    """``edit`` with a Browse… button beside it; ``what`` names the path in the button's tooltip."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    browse = QPushButton("Browse…")
    browse.setToolTip(f"Choose {what}")

    def choose() -> None:
        if pick_folder:
            chosen = QFileDialog.getExistingDirectory(row, "Choose a folder", edit.text())
        else:
            chosen, _f = QFileDialog.getOpenFileName(row, "Choose the data file", edit.text(), "JSONL (*.jsonl)")
        if chosen:
            edit.setText(chosen)

    browse.clicked.connect(choose)
    layout.addWidget(browse)
    return row


class FusionView(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.multimodal = ctx.core.multimodal
        self.handle: Any = None
        self.bundle: Path | None = None
        self.steps: list[int] = []
        self.losses: list[float] = []

        self.llm = QLineEdit()
        self.llm.setPlaceholderText("the local LLM's folder")
        self.llm.setToolTip("The folder of the local language model that learns to read attachments (it stays "
                            "frozen)")
        self.encoders = {m: QLineEdit() for m in ("vision", "audio", "video")}
        self.encoders["vision"].setPlaceholderText("CLIP, SigLIP, DINOv2… (optional)")
        self.encoders["audio"].setPlaceholderText("Whisper, Wav2Vec2… (optional)")
        self.encoders["video"].setPlaceholderText("VideoMAE (optional)")
        for modality, kind in (("vision", "pictures"), ("audio", "sound"), ("video", "video")):
            self.encoders[modality].setToolTip(f"The folder of an encoder model for {kind}; give at least one "
                                               "encoder")
        self.data = QLineEdit()
        self.data.setPlaceholderText('pairs.jsonl ({"image": "a.png", "caption": "…"}) or a folder of files + .txt')
        self.data.setToolTip("The training pairs: a JSONL file of attachments and captions, or a folder of files "
                             "each with a .txt caption")
        self.out = QLineEdit()
        self.out.setPlaceholderText("a new folder under fusion/ in the data folder")
        self.out.setToolTip("Where the trained projectors are saved as a bundle (empty: fusion/<LLM name> in the "
                            "data folder)")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(3)
        self.epochs.setToolTip("How many times training goes through all the pairs")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 1.0)
        self.lr.setSingleStep(0.0005)
        self.lr.setValue(0.001)
        self.lr.setToolTip("How big each training step is: lower is slower but steadier")
        self.tokens = QSpinBox()
        self.tokens.setRange(1, 1024)
        self.tokens.setValue(32)
        self.tokens.setToolTip("How many tokens one attachment becomes in the LLM's input: more keeps more detail")
        self.cross = QCheckBox("Cross-modal attention")
        self.cross.setToolTip("Also train an attention layer that lets the attachments look at each other")
        self.heads = QSpinBox()
        self.heads.setRange(1, 128)
        self.heads.setValue(16)
        self.heads.setToolTip("The number of attention heads of the cross-modal attention layer")
        form = QFormLayout()
        form.addRow("LLM", _path_row(self.llm, "the LLM's folder"))
        for modality, label in (("vision", "Image encoder"), ("audio", "Audio encoder"), ("video", "Video encoder")):
            form.addRow(label, _path_row(self.encoders[modality], f"the {label.lower()}'s folder"))
        form.addRow("Data", _path_row(self.data, "the data file (.jsonl)", pick_folder=False))
        form.addRow("Bundle folder", _path_row(self.out, "the folder for the bundle"))
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow("Tokens per attachment", self.tokens)
        heads_row = QHBoxLayout()
        heads_row.addWidget(self.cross)
        heads_row.addWidget(self.heads)
        form.addRow("", heads_row)
        self.start_button = QPushButton("Train projectors")
        self.start_button.setToolTip("Train the projectors in the background; the caption loss is drawn on the "
                                     "right")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running training job")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.copy_button = QPushButton("Copy bundle path")
        self.copy_button.setToolTip("Copy the trained bundle's folder, to set it on a local provider (Models → "
                                    "Providers)")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._copy)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button, self.copy_button):
            buttons.addWidget(button)
        box = QGroupBox("Train fusion projectors (the encoders and the LLM stay frozen)")
        box_layout = QVBoxLayout(box)
        box_layout.addLayout(form)
        box_layout.addLayout(buttons)
        self.plot = pg.PlotWidget(background=None)  # the theme's, as the distillation chart
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "caption loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#2e86de", width=2))
        self.status = StatusLabel()
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addWidget(box)
        left.addWidget(self.status)
        left.addStretch(1)
        layout.addLayout(left, 2)
        layout.addWidget(self.plot, 3)

        self._losses = EmitterBridge(self.multimodal.losses, self)
        self._losses.fired.connect(self._loss)
        ctx.job_events.fired.connect(self._job_event)

    def start(self) -> None:
        encoders = {m: Path(e.text().strip()).expanduser() for m, e in self.encoders.items() if e.text().strip()}
        if not self.llm.text().strip() or not encoders or not self.data.text().strip():
            self.status.show_error("Give the LLM, at least one encoder and the data.")
            return
        out = Path(self.out.text().strip()).expanduser() if self.out.text().strip() else (
            self.ctx.core.paths.root / "fusion" / Path(self.llm.text().strip()).name)
        try:
            self.handle = self.multimodal.train(
                Path(self.llm.text().strip()).expanduser(), encoders, Path(self.data.text().strip()).expanduser(),
                out, epochs=self.epochs.value(), lr=self.lr.value(), tokens=self.tokens.value(),
                cross_attention=self.cross.isChecked(), heads=self.heads.value())
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return
        self.bundle = out
        self.steps, self.losses = [], []
        self.curve.setData([], [])
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.copy_button.setEnabled(False)
        self.status.show_info("Training: the encoders and the LLM load first, then the loss appears here.")

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def _loss(self, value: tuple[str, int, int, float]) -> None:
        job_id, step, total, loss = value
        if self.handle is None or job_id != self.handle.id:
            return
        self.steps.append(step)
        self.losses.append(loss)
        self.curve.setData(self.steps, self.losses)
        self.status.show_info(f"step {step}/{total}: caption loss {loss:.4f}")

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        if self.handle is None or job.id != self.handle.id or not job.state.finished:
            return
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if job.state.value == "succeeded":
            first, last = (self.losses[0], self.losses[-1]) if self.losses else (float("nan"), float("nan"))
            self.status.show_info(f"Done: caption loss {first:.4f} → {last:.4f}. The bundle is in {self.bundle}; set "
                                  "it on a local provider (Models → Providers → Fusion bundle).")
            self.copy_button.setEnabled(True)
        elif job.state.value == "failed":
            self.status.show_error(f"Training failed: {(job.error or '').splitlines()[0]}")
        else:
            self.status.show_info(f"Training {job.state.value}.")
        self.handle = None

    def _copy(self) -> None:
        if self.bundle is not None:
            QGuiApplication.clipboard().setText(str(self.bundle))

    def shutdown(self) -> None:
        self._losses.close()
