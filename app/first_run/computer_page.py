"""Step 2: the GPU (name, memory, driver through NVML), CUDA as PyTorch sees it, and what size of model fits.

NVML is read at once; PyTorch takes seconds to import, so CUDA is checked on a worker thread while the person
reads, and Next never waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout

from app.first_run.wizard import WizardStep, value_label
from app.workers import run_blocking
from nexus_core.firstrun import fit_advice, read_hardware
from nexus_core.runtime import torch_runtime_isolated
from nexus_core.telemetry import GIB

if TYPE_CHECKING:
    from app.first_run.wizard import FirstRunWizard


class ComputerPage(WizardStep):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.set_header("Your computer",
                        "What Nexus Studio can run here. Nothing to choose: this is to know what to expect.")
        self.gpu_label = value_label("Checking…")
        self.cuda_label = value_label("Checking…")
        self.memory_label = value_label("Checking…")
        self.advice_label = value_label("Checking…")
        form = QFormLayout()
        form.addRow("GPU", self.gpu_label)
        form.addRow("CUDA", self.cuda_label)
        form.addRow("Memory", self.memory_label)
        self.advice_label.setObjectName("muted")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advice_label)
        layout.addStretch(1)
        self._checked = False
        self.busy = False  # reading the GPU or importing PyTorch

    def enter(self) -> None:
        if self._checked:
            return
        self._checked = True
        self.busy = True
        core = self.wiz.core
        run_blocking(lambda: read_hardware(core.telemetry), parent=self, on_done=self._hardware,
                     on_error=self._hardware_failed)

    def _hardware_failed(self, error: BaseException) -> None:
        self.busy = False
        self.gpu_label.setText(f"Could not read the GPU: {error}")
        for label in (self.cuda_label, self.memory_label):
            label.setText("not checked")
        self.advice_label.clear()

    def _failed(self, label: QLabel, message: str) -> None:
        self.busy = False
        label.setText(message)

    def _hardware(self, report) -> None:
        self.wiz.state.hardware = report
        self.gpu_label.setText(report.gpu_line())
        self.memory_label.setText(f"{report.ram_bytes / GIB:.1f} GiB RAM, {report.cpu_count} CPU threads")
        self.advice_label.setText(fit_advice(report.best_vram, report.ram_bytes))
        self.cuda_label.setText("Checking PyTorch (a few seconds)…")
        run_blocking(torch_runtime_isolated, parent=self, on_done=self._torch,
                     on_error=lambda e: self._failed(self.cuda_label, f"PyTorch could not be checked: {e}"))

    def _torch(self, info: dict) -> None:
        self.busy = False
        report = self.wiz.state.hardware
        report.torch = info
        self.cuda_label.setText(report.cuda_line())
