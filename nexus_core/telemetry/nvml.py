"""GPU readings through NVML (nvidia-ml-py). Every NVML call can fail on some card or driver; a
failing field becomes ``None`` rather than failing the whole sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any, TypeVar

import psutil

from nexus_core.telemetry.samples import GpuProcess, GpuSample, GpuStatus

log = logging.getLogger(__name__)
T = TypeVar("T")


def _load_pynvml() -> ModuleType:
    import pynvml

    return pynvml


class NvmlReader:
    """Opens NVML once and reads every GPU on each ``read()``. ``nvml`` defaults to the real pynvml."""

    def __init__(self, nvml: Any = None) -> None:
        self._nvml_override = nvml
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._names: list[str] = []
        self.status = GpuStatus(False, "NVML has not been opened yet.")

    def open(self) -> GpuStatus:
        try:
            nvml = self._nvml_override or _load_pynvml()
        except ImportError:
            self.status = GpuStatus(False, "The nvidia-ml-py package is not installed, so GPUs cannot be read.")
            return self.status
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            self.status = GpuStatus(False, _explain_init_failure(nvml, exc))
            return self.status
        self._nvml = nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._names = [_text(nvml.nvmlDeviceGetName(h)) for h in self._handles]
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except nvml.NVMLError as exc:
            self.close()
            self.status = GpuStatus(False, f"NVML started but could not list GPUs ({exc}).")
            return self.status
        if not self._handles:
            self.close()
            self.status = GpuStatus(False, "The NVIDIA driver is loaded but reports no GPU.", driver)
            return self.status
        self.status = GpuStatus(True, "", driver, tuple(self._names))
        return self.status

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
        self._nvml = None
        self._handles = []

    def read(self, self_pids: Collection[int] = ()) -> tuple[GpuSample, ...]:
        nvml = self._nvml
        if nvml is None:
            return ()
        samples = []
        for index, (handle, name) in enumerate(zip(self._handles, self._names, strict=True)):
            memory = self._try(lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            util = self._try(lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h))
            temp = self._try(lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
            power_mw = self._try(lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            limit_mw = self._try(lambda h=handle: nvml.nvmlDeviceGetEnforcedPowerLimit(h))
            samples.append(GpuSample(
                index=index, name=name,
                memory_used=int(memory.used) if memory else 0,
                memory_total=int(memory.total) if memory else 0,
                util_gpu=float(util.gpu) if util else None,
                util_memory=float(util.memory) if util else None,
                temperature_c=float(temp) if temp is not None else None,
                power_w=power_mw / 1000.0 if power_mw is not None else None,
                power_limit_w=limit_mw / 1000.0 if limit_mw is not None else None,
                processes=self._processes(handle, set(self_pids)),
            ))
        return tuple(samples)

    def _processes(self, handle: Any, self_pids: set[int]) -> tuple[GpuProcess, ...]:
        nvml = self._nvml
        seen: dict[int, GpuProcess] = {}
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            entries = self._try(lambda g=getter: getattr(nvml, g)(handle)) or []
            for entry in entries:
                pid = int(entry.pid)
                used = getattr(entry, "usedGpuMemory", None)
                used = int(used) if isinstance(used, int) and used >= 0 else None
                previous = seen.get(pid)  # a compute+graphics process is listed twice, with one total
                if previous is not None and previous.used_bytes is not None:
                    used = max(used or 0, previous.used_bytes)
                seen[pid] = GpuProcess(pid, _process_name(pid), used, pid in self_pids)
        return tuple(sorted(seen.values(), key=lambda p: -(p.used_bytes or 0)))

    def _try(self, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except self._nvml.NVMLError as exc:
            log.debug("NVML call failed: %s", exc)
            return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _process_name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return f"pid {pid}"


def _explain_init_failure(nvml: Any, exc: Exception) -> str:
    names = {
        "NVMLError_LibraryNotFound": "No NVIDIA driver found (the NVML library libnvidia-ml is not installed).",
        "NVMLError_DriverNotLoaded": "The NVIDIA driver is installed but not loaded (try rebooting, or "
                                     "check `nvidia-smi`).",
        "NVMLError_NoPermission": "This user may not query the NVIDIA driver (NVML: no permission).",
    }
    return names.get(type(exc).__name__, f"NVML could not start ({exc}).")
