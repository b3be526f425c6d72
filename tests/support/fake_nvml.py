"""A stand-in for the NVML library (pynvml) on machines without an NVIDIA GPU.

It implements the subset of pynvml's API the telemetry reader calls, with the same names, error
classes and units (bytes, milliwatts, percent), and lets a test script the readings and failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801, N818
    pass


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801, N818
    pass


class NVMLError_DriverNotLoaded(NVMLError):  # noqa: N801, N818
    pass


@dataclass
class FakeGpu:
    name: str = "NVIDIA GeForce RTX 4090"
    total: int = 24 * 1024**3
    used: int = 3 * 1024**3
    util_gpu: int = 37
    util_memory: int = 12
    temperature: int = 61
    power_mw: int = 182_000
    limit_mw: int = 450_000
    compute: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)  # e.g. {"power"} -> NVMLError_NotSupported


class FakeNvml:
    """Use as ``TelemetrySampler(nvml=FakeNvml([...]))``."""

    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: NVMLError | None = None,
                 driver: str = "560.35.03") -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.driver = driver
        self.initialised = False
        self.shutdowns = 0

    def nvmlInit(self) -> None:  # noqa: N802
        if self.init_error is not None:
            raise self.init_error
        self.initialised = True

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.initialised = False
        self.shutdowns += 1

    def _need_init(self) -> None:
        if not self.initialised:
            raise NVMLError("Uninitialized")

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        self._need_init()
        return self.driver

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._need_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:  # noqa: N802
        self._need_init()
        return self.gpus[index]

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> bytes:  # noqa: N802 - old pynvml returned bytes
        return gpu.name.encode()

    def _field(self, gpu: FakeGpu, name: str) -> None:
        self._need_init()
        if name in gpu.unsupported:
            raise NVMLError_NotSupported("Not Supported")

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> SimpleNamespace:  # noqa: N802
        self._field(gpu, "memory")
        return SimpleNamespace(total=gpu.total, used=gpu.used, free=gpu.total - gpu.used)

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> SimpleNamespace:  # noqa: N802
        self._field(gpu, "utilization")
        return SimpleNamespace(gpu=gpu.util_gpu, memory=gpu.util_memory)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:  # noqa: N802
        self._field(gpu, "temperature")
        assert sensor == NVML_TEMPERATURE_GPU
        return gpu.temperature

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:  # noqa: N802
        self._field(gpu, "power")
        return gpu.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, gpu: FakeGpu) -> int:  # noqa: N802
        self._field(gpu, "power")
        return gpu.limit_mw

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:  # noqa: N802
        self._field(gpu, "processes")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.compute]

    def nvmlDeviceGetGraphicsRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:  # noqa: N802
        self._field(gpu, "processes")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.graphics]
