"""The GPU (through NVML: name, memory, driver), CUDA as torch sees it, and what size of model fits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nexus_core.telemetry.samples import GIB, GpuStatus

# A 4-bit quantised model needs about 0.6 GiB per billion parameters, plus ~1.5 GiB for context and the runtime.
GIB_PER_BILLION_Q4 = 0.6
RUNTIME_OVERHEAD_GIB = 1.5


@dataclass(frozen=True)
class GpuInfo:
    name: str
    vram_bytes: int


@dataclass
class HardwareReport:
    status: GpuStatus
    gpus: list[GpuInfo] = field(default_factory=list)
    ram_bytes: int = 0
    cpu_count: int = 0
    torch: dict[str, Any] | None = None  # nexus_core.runtime.torch_runtime(), once read (it imports torch)

    @property
    def best_vram(self) -> int:
        return max((g.vram_bytes for g in self.gpus), default=0)

    def gpu_line(self) -> str:
        if not self.gpus:
            return f"No NVIDIA GPU found: {self.status.reason or 'NVML reports none.'}"
        cards = ", ".join(f"{g.name} ({g.vram_bytes / GIB:.1f} GiB)" for g in self.gpus)
        driver = f", driver {self.status.driver_version}" if self.status.driver_version else ""
        return f"{cards}{driver}"

    def cuda_line(self) -> str:
        if self.torch is None:
            return "Checking PyTorch…"
        if not self.torch.get("installed"):
            error = str(self.torch.get("error") or "")
            if error.startswith("the check"):
                return f"PyTorch could not be checked: {error}"
            return "PyTorch is not installed: local models, training and media generation are unavailable."
        version = f"PyTorch {self.torch.get('version')}"
        if self.torch.get("cuda_available"):
            devices = ", ".join(self.torch.get("devices") or [])
            return f"{version} with CUDA {self.torch.get('cuda_version')}: {devices}"
        if self.gpus:
            return (f"{version} cannot use the GPU (a CPU-only build, or a driver too old for its CUDA): local "
                    "models run on the CPU, slowly. Install the CUDA build of torch to use the card.")
        return f"{version} on the CPU (no CUDA device)."


def read_hardware(telemetry: Any) -> HardwareReport:
    """One telemetry sample: GPUs with their memory, RAM, CPU count. Does not import torch."""
    sample = telemetry.sample_once()
    gpus = [GpuInfo(g.name, g.memory_total) for g in sample.gpus]
    return HardwareReport(telemetry.gpu_status, gpus, sample.system.ram_total, sample.system.cpu_count)


def fit_advice(vram_bytes: int, ram_bytes: int) -> str:
    """A rough guide to the model size that runs well here (an estimate from memory alone, and said to be one)."""
    if vram_bytes > 0:
        billions = (vram_bytes / GIB - RUNTIME_OVERHEAD_GIB) / GIB_PER_BILLION_Q4
        if billions < 1:
            return ("The GPU's memory is small: expect models of about 1B parameters on it; larger ones run "
                    "partly on the CPU.")
        return (f"Estimate: models up to about {_round_billions(billions)}B parameters at 4-bit fit in the GPU's "
                "memory; larger ones can stream layers from RAM, more slowly.")
    billions = (ram_bytes / GIB / 2 - RUNTIME_OVERHEAD_GIB) / GIB_PER_BILLION_Q4
    if billions < 1:
        return "Without a GPU and with little memory, a remote provider will answer much faster than a local model."
    return (f"Without a GPU, models up to about {_round_billions(billions)}B parameters at 4-bit run on the CPU "
            "(a few words per second); a remote provider is faster.")


def _round_billions(value: float) -> int:
    """Down to a size models come in, so the advice never promises more than fits."""
    sizes = (1, 2, 3, 4, 7, 8, 13, 14, 22, 27, 32, 34, 70, 72, 120, 235, 405)
    return max((s for s in sizes if s <= value), default=1)
