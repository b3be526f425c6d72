"""Immutable telemetry samples: what one tick of the sampler saw."""

from __future__ import annotations

from dataclasses import dataclass, field

GIB = 1024**3


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str
    used_bytes: int | None  # None where the driver does not report per-process memory
    is_self: bool  # this app or one of its child processes


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    memory_used: int
    memory_total: int
    util_gpu: float | None  # percent of time a kernel ran
    util_memory: float | None  # percent of time the memory controller was busy
    temperature_c: float | None
    power_w: float | None
    power_limit_w: float | None
    processes: tuple[GpuProcess, ...] = ()

    @property
    def self_bytes(self) -> int:
        return sum(p.used_bytes or 0 for p in self.processes if p.is_self)

    @property
    def others_bytes(self) -> int:
        """Memory used by everything but this app, including what the driver attributes to no process."""
        return max(0, self.memory_used - self.self_bytes)


@dataclass(frozen=True)
class SystemSample:
    cpu_percent: float
    cpu_count: int
    ram_used: int
    ram_total: int
    swap_used: int
    app_rss: int  # this app and its child processes


@dataclass(frozen=True)
class Sample:
    timestamp: float
    system: SystemSample
    gpus: tuple[GpuSample, ...] = ()


@dataclass(frozen=True)
class GpuStatus:
    """Whether NVML works here, and if not, a sentence the user can act on."""

    available: bool
    reason: str = ""
    driver_version: str | None = None
    device_names: tuple[str, ...] = field(default_factory=tuple)


def device_summary(status: GpuStatus, sample: Sample | None) -> str:
    """One line for a status bar: the GPU's memory and temperature, or CPU/RAM when there is no GPU."""
    if sample is None:
        return "Sampling…"
    sysm = sample.system
    ram = f"RAM {sysm.ram_used / GIB:.1f}/{sysm.ram_total / GIB:.1f} GiB"
    if not status.available or not sample.gpus:
        return f"No NVIDIA GPU · CPU {sysm.cpu_percent:.0f}% · {ram}"
    parts = []
    for gpu in sample.gpus:
        temp = f" · {gpu.temperature_c:.0f} °C" if gpu.temperature_c is not None else ""
        parts.append(f"{gpu.name} · VRAM {gpu.memory_used / GIB:.1f}/{gpu.memory_total / GIB:.1f} GiB{temp}")
    return " | ".join(parts) + f" · {ram}"
