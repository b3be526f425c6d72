"""Machine telemetry: GPUs through NVML, CPU/RAM through psutil, sampled off the GUI thread."""

from nexus_core.telemetry.nvml import NvmlReader
from nexus_core.telemetry.sampler import MAX_INTERVAL_S, MIN_INTERVAL_S, TelemetrySampler
from nexus_core.telemetry.samples import (
    GIB,
    GpuProcess,
    GpuSample,
    GpuStatus,
    Sample,
    SystemSample,
    device_summary,
)
from nexus_core.telemetry.system import SystemReader

__all__ = ["GIB", "MAX_INTERVAL_S", "MIN_INTERVAL_S", "GpuProcess", "GpuSample", "GpuStatus", "NvmlReader",
           "Sample", "SystemReader", "SystemSample", "TelemetrySampler", "device_summary"]
