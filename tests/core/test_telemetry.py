"""nexus_core.telemetry: psutil readings, NVML readings (real pynvml and the FakeNvml stand-in), sampler."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from nexus_core.telemetry import (
    GIB,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    GpuProcess,
    GpuSample,
    GpuStatus,
    NvmlReader,
    Sample,
    SystemReader,
    SystemSample,
    TelemetrySampler,
    device_summary,
)
from tests.support.fake_nvml import (
    FakeGpu,
    FakeNvml,
    NVMLError,
    NVMLError_DriverNotLoaded,
    NVMLError_LibraryNotFound,
)

NO_SUCH_PID = 2**22 + 12345  # above Linux's pid_max ceiling, so never a live process


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def child_pid() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait(10)


@pytest.fixture
def sampler_factory() -> Iterator[Callable[..., TelemetrySampler]]:
    made: list[TelemetrySampler] = []

    def make(**kwargs: object) -> TelemetrySampler:
        sampler = TelemetrySampler(**kwargs)  # type: ignore[arg-type]
        made.append(sampler)
        return sampler

    yield make
    for sampler in made:
        sampler.stop()


# -- system readings -------------------------------------------------------------------------


def test_system_reader_gives_sane_values(child_pid: int) -> None:
    reader = SystemReader()
    pids = reader.app_pids()
    assert os.getpid() in pids and child_pid in pids
    sample = reader.read()
    assert sample.ram_total > 0
    assert 0 < sample.ram_used <= sample.ram_total
    assert sample.cpu_count >= 1
    assert 0.0 <= sample.cpu_percent <= 100.0 * sample.cpu_count
    assert sample.swap_used >= 0
    assert 1024**2 < sample.app_rss < sample.ram_total
    # the child's memory counts towards the app's
    child_rss = reader.read({child_pid}).app_rss
    assert 0 < child_rss < sample.app_rss


def test_system_reader_skips_vanished_pids() -> None:
    reader = SystemReader()
    assert reader.read({NO_SUCH_PID}).app_rss == 0


# -- real NVML (none on this machine; also right where there is a GPU) ------------------------


def test_real_nvml_reports_status_in_human_terms() -> None:
    reader = NvmlReader()
    try:
        status = reader.open()
        if status.available:
            assert status.device_names and all(name.strip() for name in status.device_names)
            assert status.driver_version
            gpus = reader.read({os.getpid()})
            assert len(gpus) == len(status.device_names)
            assert all(g.memory_total > 0 and 0 <= g.memory_used <= g.memory_total for g in gpus)
        else:
            assert len(status.reason.strip()) > 10, status.reason
            assert status.device_names == ()
            assert reader.read() == ()
    finally:
        reader.close()


# -- FakeNvml ---------------------------------------------------------------------------------


def test_fake_gpu_values_are_converted() -> None:
    gpu = FakeGpu(name="Test GPU", total=16 * GIB, used=5 * GIB, util_gpu=37, util_memory=12, temperature=61,
                  power_mw=182_500, limit_mw=450_000)
    fake = FakeNvml([gpu], driver="555.1")
    reader = NvmlReader(fake)
    status = reader.open()
    assert status == GpuStatus(True, "", "555.1", ("Test GPU",))
    (sample,) = reader.read()
    assert sample.index == 0 and sample.name == "Test GPU"
    assert (sample.memory_used, sample.memory_total) == (5 * GIB, 16 * GIB)
    assert sample.util_gpu == pytest.approx(37.0) and sample.util_memory == pytest.approx(12.0)
    assert sample.temperature_c == pytest.approx(61.0)
    assert sample.power_w == pytest.approx(182.5)
    assert sample.power_limit_w == pytest.approx(450.0)
    assert sample.processes == ()
    reader.close()
    assert fake.shutdowns == 1 and not fake.initialised
    assert reader.read() == ()


def test_two_gpus_are_indexed() -> None:
    reader = NvmlReader(FakeNvml([FakeGpu(name="A", used=1), FakeGpu(name="B", used=2)]))
    assert reader.open().device_names == ("A", "B")
    assert [(g.index, g.name, g.memory_used) for g in reader.read()] == [(0, "A", 1), (1, "B", 2)]
    reader.close()


def test_unsupported_fields_become_none_without_failing_the_sample() -> None:
    gpu = FakeGpu(unsupported={"power", "temperature", "utilization", "processes"},
                  compute=[(os.getpid(), 5)])
    reader = NvmlReader(FakeNvml([gpu]))
    reader.open()
    (sample,) = reader.read({os.getpid()})
    assert sample.power_w is None and sample.power_limit_w is None
    assert sample.temperature_c is None
    assert sample.util_gpu is None and sample.util_memory is None
    assert sample.processes == ()
    assert (sample.memory_used, sample.memory_total) == (gpu.used, gpu.total)
    reader.close()


def test_unsupported_memory_reads_as_zero() -> None:
    reader = NvmlReader(FakeNvml([FakeGpu(unsupported={"memory"})]))
    reader.open()
    (sample,) = reader.read()
    assert (sample.memory_used, sample.memory_total) == (0, 0)
    assert sample.power_w == pytest.approx(182.0)
    reader.close()


@pytest.mark.parametrize(("error", "expected"), [
    (NVMLError_LibraryNotFound("NVML Shared Library Not Found"), "No NVIDIA driver"),
    (NVMLError_DriverNotLoaded("Driver Not Loaded"), "not loaded"),
    (NVMLError("Unknown Error 999"), "Unknown Error 999"),
])
def test_init_failure_is_explained(error: NVMLError, expected: str) -> None:
    fake = FakeNvml(init_error=error)
    reader = NvmlReader(fake)
    status = reader.open()
    assert not status.available
    assert expected in status.reason
    assert reader.read() == ()
    reader.close()
    assert fake.shutdowns == 0  # never initialised, never shut down


def test_zero_gpus_gives_a_reason() -> None:
    fake = FakeNvml([])
    reader = NvmlReader(fake)
    status = reader.open()
    assert not status.available
    assert "no GPU" in status.reason
    assert status.driver_version == fake.driver
    assert fake.shutdowns == 1
    assert reader.read() == ()


def test_per_process_memory_is_attributed(child_pid: int) -> None:
    me = os.getpid()
    other = 1  # init: alive, not ours
    gpu = FakeGpu(used=10 * GIB,
                  compute=[(me, 2 * GIB), (child_pid, 3 * GIB), (other, 1 * GIB), (NO_SUCH_PID, None)])
    sampler = TelemetrySampler(nvml=FakeNvml([gpu]))
    try:
        (sample,) = sampler.sample_once().gpus
    finally:
        sampler.stop()
    by_pid = {p.pid: p for p in sample.processes}
    assert set(by_pid) == {me, child_pid, other, NO_SUCH_PID}
    assert by_pid[me].is_self and by_pid[child_pid].is_self
    assert not by_pid[other].is_self and not by_pid[NO_SUCH_PID].is_self
    assert by_pid[me].used_bytes == 2 * GIB and by_pid[NO_SUCH_PID].used_bytes is None
    assert by_pid[NO_SUCH_PID].name == f"pid {NO_SUCH_PID}"
    assert by_pid[me].name  # psutil's name for this process
    assert sample.self_bytes == 5 * GIB
    assert sample.others_bytes == sample.memory_used - sample.self_bytes == 5 * GIB
    # largest first
    sizes = [p.used_bytes or 0 for p in sample.processes]
    assert sizes == sorted(sizes, reverse=True)


def test_pid_in_compute_and_graphics_lists_is_merged() -> None:
    me = os.getpid()
    gpu = FakeGpu(compute=[(me, 1 * GIB), (4242, None)], graphics=[(me, 2 * GIB), (4242, 3 * GIB)])
    reader = NvmlReader(FakeNvml([gpu]))
    reader.open()
    (sample,) = reader.read({me})
    reader.close()
    pids = [p.pid for p in sample.processes]
    assert sorted(pids) == sorted({me, 4242})  # one entry per pid
    mine = next(p for p in sample.processes if p.pid == me)
    assert mine.is_self
    assert mine.used_bytes is not None and mine.used_bytes >= 2 * GIB
    assert next(p for p in sample.processes if p.pid == 4242).used_bytes == 3 * GIB


def test_others_bytes_never_negative() -> None:
    gpu = GpuSample(0, "g", memory_used=GIB, memory_total=2 * GIB, util_gpu=None, util_memory=None,
                    temperature_c=None, power_w=None, power_limit_w=None,
                    processes=(GpuProcess(1, "a", 3 * GIB, True), GpuProcess(2, "b", None, True)))
    assert gpu.self_bytes == 3 * GIB
    assert gpu.others_bytes == 0


# -- sampler ----------------------------------------------------------------------------------


def test_sample_once_stores_and_emits(sampler_factory) -> None:
    sampler = sampler_factory(nvml=FakeNvml([FakeGpu(name="Fake")]))
    received: list[Sample] = []
    sampler.sampled.connect(received.append)
    assert sampler.latest() is None
    first = sampler.sample_once()
    second = sampler.sample_once()
    assert received == [first, second]
    assert sampler.samples() == [first, second]
    assert sampler.latest() is second
    assert second.timestamp >= first.timestamp
    assert second.system.ram_total > 0
    assert [g.name for g in second.gpus] == ["Fake"]
    assert sampler.gpu_status.available


def test_samples_older_than_the_window_are_dropped(sampler_factory) -> None:
    sampler = sampler_factory(window_s=0.3, nvml=FakeNvml([]))
    first = sampler.sample_once()
    time.sleep(0.45)
    second = sampler.sample_once()
    third = sampler.sample_once()
    kept = sampler.samples()
    assert first not in kept
    assert kept[-1] is third
    assert kept == [s for s in (first, second, third) if s.timestamp >= third.timestamp - 0.3]
    sampler.window_s = 0.0  # shrinking the window takes effect on the next sample
    fourth = sampler.sample_once()
    assert sampler.samples() == [s for s in (second, third, fourth) if s.timestamp >= fourth.timestamp]
    assert fourth in sampler.samples()


@pytest.mark.parametrize("bad", [0.1, 6, 0, -1, MIN_INTERVAL_S - 0.01, MAX_INTERVAL_S + 0.01])
def test_interval_validation(bad: float) -> None:
    with pytest.raises(ValueError, match="between"):
        TelemetrySampler(interval_s=bad, nvml=FakeNvml([]))
    sampler = TelemetrySampler(interval_s=MIN_INTERVAL_S, nvml=FakeNvml([]))
    with pytest.raises(ValueError, match="between"):
        sampler.interval_s = bad
    assert sampler.interval_s == MIN_INTERVAL_S
    sampler.interval_s = MAX_INTERVAL_S
    assert sampler.interval_s == MAX_INTERVAL_S


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nexus-telemetry"]


@pytest.mark.slow
def test_background_thread_samples_pauses_resumes_and_stops(sampler_factory) -> None:
    fake = FakeNvml([FakeGpu()])
    sampler = sampler_factory(interval_s=0.25, nvml=fake)
    threads: set[str] = set()
    sampler.sampled.connect(lambda _s: threads.add(threading.current_thread().name))
    sampler.start()
    sampler.start()  # a second start does not add a thread
    assert len(_sampler_threads()) == 1
    assert _wait_for(lambda: len(sampler.samples()) >= 3), "no samples from the background thread"
    assert threads == {"nexus-telemetry"}
    stamps = [s.timestamp for s in sampler.samples()]
    assert stamps == sorted(stamps)
    assert all(s.gpus for s in sampler.samples())

    sampler.pause()
    assert sampler.paused
    time.sleep(0.6)  # let a sample that was already under way finish
    paused_count = len(sampler.samples())
    time.sleep(0.8)
    assert len(sampler.samples()) == paused_count

    sampler.resume()
    assert not sampler.paused
    assert _wait_for(lambda: len(sampler.samples()) >= paused_count + 2), "no samples after resume()"

    sampler.stop()
    assert _sampler_threads() == []
    assert fake.shutdowns == 1 and not fake.initialised
    stopped_count = len(sampler.samples())
    time.sleep(0.6)
    assert len(sampler.samples()) == stopped_count


# -- summary line -----------------------------------------------------------------------------


def _system(cpu: float = 12.4, used: int = 3 * GIB, total: int = 16 * GIB) -> SystemSample:
    return SystemSample(cpu_percent=cpu, cpu_count=8, ram_used=used, ram_total=total, swap_used=0,
                        app_rss=GIB)


def _gpu(name: str, used: int, total: int, temp: float | None) -> GpuSample:
    return GpuSample(0, name, used, total, 50.0, 10.0, temp, 100.0, 300.0)


def test_device_summary_without_a_gpu() -> None:
    assert device_summary(GpuStatus(False, "No driver"), None) == "Sampling…"
    text = device_summary(GpuStatus(False, "No driver"), Sample(0.0, _system()))
    assert text == "No NVIDIA GPU · CPU 12% · RAM 3.0/16.0 GiB"
    # available status but a sample without GPUs: still the CPU line
    busy = Sample(0.0, _system(cpu=99.6))
    assert device_summary(GpuStatus(True), busy).startswith("No NVIDIA GPU · CPU 100%")


def test_device_summary_with_gpus() -> None:
    status = GpuStatus(True, "", "560", ("RTX", "A100"))
    one = Sample(0.0, _system(), (_gpu("RTX", 6 * GIB, 24 * GIB, 61.4),))
    assert device_summary(status, one) == "RTX · VRAM 6.0/24.0 GiB · 61 °C · RAM 3.0/16.0 GiB"
    two = Sample(0.0, _system(),
                 (_gpu("RTX", 6 * GIB, 24 * GIB, None), _gpu("A100", GIB // 2, 80 * GIB, 40.0)))
    assert device_summary(status, two) == ("RTX · VRAM 6.0/24.0 GiB | A100 · VRAM 0.5/80.0 GiB · 40 °C"
                                           " · RAM 3.0/16.0 GiB")
