"""The system_info tool: GPU, CPU and RAM state from the app's telemetry sampler.

Lets a model answer "how much VRAM is free?" or "is the GPU busy?" (e.g. before suggesting a model size)
from the same readings as the status bar, instead of guessing.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from nexus_core.telemetry.samples import GIB, GpuSample, Sample
from nexus_core.tools.base import ToolContext, tool

MAX_SAMPLE_AGE_S = 10.0


@tool(risk="safe", timeout_s=15.0)
def system_info(ctx: ToolContext) -> dict[str, Any]:
    """Get this computer's GPU (name, VRAM used/total, utilisation, temperature, power), CPU and RAM usage."""
    sampler = ctx.service("telemetry")
    sample: Sample | None = sampler.latest()
    if sample is None or time.time() - sample.timestamp > MAX_SAMPLE_AGE_S:
        sample = sampler.sample_once()
    status = sampler.gpu_status
    system = sample.system
    result: dict[str, Any] = {
        "sampled_at": datetime.fromtimestamp(sample.timestamp).astimezone().isoformat(timespec="seconds"),
        "gpus": [_gpu(g) for g in sample.gpus],
        "cpu": {"percent": round(system.cpu_percent, 1), "logical_cores": system.cpu_count},
        "ram": {"used_gib": _gib(system.ram_used), "total_gib": _gib(system.ram_total),
                "free_gib": _gib(max(0, system.ram_total - system.ram_used)), "swap_used_gib": _gib(system.swap_used),
                "this_app_gib": _gib(system.app_rss)},
    }
    if status.available and sample.gpus:
        if status.driver_version:
            result["nvidia_driver"] = status.driver_version
    else:
        result["gpu_note"] = f"No NVIDIA GPU is available: {status.reason or 'none was found'}"
    return result


def _gpu(gpu: GpuSample) -> dict[str, Any]:
    info: dict[str, Any] = {
        "index": gpu.index,
        "name": gpu.name,
        "vram_used_gib": _gib(gpu.memory_used),
        "vram_total_gib": _gib(gpu.memory_total),
        "vram_free_gib": _gib(max(0, gpu.memory_total - gpu.memory_used)),
        "vram_used_by_this_app_gib": _gib(gpu.self_bytes),
        "utilization_percent": gpu.util_gpu,
        "memory_utilization_percent": gpu.util_memory,
        "temperature_c": gpu.temperature_c,
        "power_w": round(gpu.power_w, 1) if gpu.power_w is not None else None,
        "power_limit_w": round(gpu.power_limit_w, 1) if gpu.power_limit_w is not None else None,
    }
    return {k: v for k, v in info.items() if v is not None}  # fields this card does not report are left out


def _gib(n: int) -> float:
    return round(n / GIB, 2)
