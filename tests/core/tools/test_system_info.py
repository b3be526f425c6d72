"""system_info: GPU/CPU/RAM from the TelemetrySampler, driven by the FakeNvml stand-in for pynvml."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexus_core.telemetry import GIB, TelemetrySampler
from nexus_core.tools import ToolContext, ToolFailure
from nexus_core.tools.builtin import system_info as system_info_module
from nexus_core.tools.builtin.system_info import system_info
from tests.core.tools.helpers import call
from tests.support.fake_nvml import FakeGpu, FakeNvml, NVMLError_LibraryNotFound


@pytest.fixture
def make_sampler() -> Iterator[Callable[[FakeNvml], TelemetrySampler]]:
    made: list[TelemetrySampler] = []

    def make(nvml: FakeNvml) -> TelemetrySampler:
        sampler = TelemetrySampler(nvml=nvml)
        made.append(sampler)
        return sampler

    yield make
    for sampler in made:
        sampler.stop()


def ctx_for(sampler: TelemetrySampler, tmp_path: Path) -> ToolContext:
    return ToolContext(tmp_path, "c1", {"telemetry": sampler})


def test_reports_gpus_cpu_and_ram(make_sampler: Callable[[FakeNvml], TelemetrySampler], tmp_path: Path) -> None:
    gpus = [FakeGpu(), FakeGpu(name="NVIDIA RTX A2000", total=12 * GIB, used=6 * GIB, util_gpu=90, temperature=77,
                               power_mw=65_500, limit_mw=70_000)]
    sampler = make_sampler(FakeNvml(gpus, driver="555.42.06"))
    result = call(system_info, {}, ctx_for(sampler, tmp_path))
    first, second = result["gpus"]
    assert first == {"index": 0, "name": "NVIDIA GeForce RTX 4090", "vram_used_gib": 3.0, "vram_total_gib": 24.0,
                     "vram_free_gib": 21.0, "vram_used_by_this_app_gib": 0.0, "utilization_percent": 37.0,
                     "memory_utilization_percent": 12.0, "temperature_c": 61.0, "power_w": 182.0,
                     "power_limit_w": 450.0}
    assert second["name"] == "NVIDIA RTX A2000" and second["vram_free_gib"] == 6.0
    assert second["utilization_percent"] == 90.0 and second["power_w"] == 65.5
    assert result["nvidia_driver"] == "555.42.06" and "gpu_note" not in result
    assert 0 <= result["cpu"]["percent"] <= 100 and result["cpu"]["logical_cores"] >= 1
    assert 0 < result["ram"]["used_gib"] <= result["ram"]["total_gib"]
    assert result["sampled_at"]


def test_fields_a_card_does_not_report_are_left_out(make_sampler: Callable[[FakeNvml], TelemetrySampler],
                                                     tmp_path: Path) -> None:
    sampler = make_sampler(FakeNvml([FakeGpu(unsupported={"power", "temperature"})]))
    gpu = call(system_info, {}, ctx_for(sampler, tmp_path))["gpus"][0]
    assert "power_w" not in gpu and "temperature_c" not in gpu and gpu["vram_total_gib"] == 24.0


def test_no_nvidia_gpu_is_said_clearly(make_sampler: Callable[[FakeNvml], TelemetrySampler], tmp_path: Path) -> None:
    sampler = make_sampler(FakeNvml(init_error=NVMLError_LibraryNotFound("NVML Shared Library Not Found")))
    result = call(system_info, {}, ctx_for(sampler, tmp_path))
    assert result["gpus"] == []
    assert result["gpu_note"].startswith("No NVIDIA GPU is available: No NVIDIA driver found")
    assert result["ram"]["total_gib"] > 0


def test_a_fresh_sample_is_reused_and_a_missing_one_is_taken(make_sampler: Callable[[FakeNvml], TelemetrySampler],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = make_sampler(FakeNvml())
    ctx = ctx_for(sampler, tmp_path)
    call(system_info, {}, ctx)  # nothing sampled yet: takes one
    assert len(sampler.samples()) == 1
    call(system_info, {}, ctx)  # fresh: reused
    assert len(sampler.samples()) == 1
    monkeypatch.setattr(system_info_module, "MAX_SAMPLE_AGE_S", -1.0)
    call(system_info, {}, ctx)  # stale: sampled again
    assert len(sampler.samples()) == 2


def test_needs_the_telemetry_service(tmp_path: Path) -> None:
    with pytest.raises(ToolFailure) as info:
        call(system_info, {}, ToolContext(tmp_path))
    assert info.value.kind == "unavailable" and "'telemetry'" in str(info.value)


def test_schema_has_no_parameters() -> None:
    assert system_info.parameters["properties"] == {}
    assert system_info.wants_context and system_info.risk == "safe"
