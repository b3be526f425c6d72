"""The Prometheus endpoint: call metrics under GenAI names fed by the recorder, GPU gauges from the sampler
(NVML stands in: no GPU here), module health, served on loopback and scraped over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nexus_core.cli import main
from nexus_core.core import Core
from nexus_core.modules.service import ModuleStatus
from nexus_core.observability.metrics import MetricsError, MetricsServer
from nexus_core.providers.records import CallRecord, CallRecorder
from nexus_core.store import Store
from nexus_core.telemetry import TelemetrySampler
from tests.support.fake_nvml import FakeGpu, FakeNvml


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def test_calls_gpus_and_modules_become_metrics(tmp_path: Path) -> None:
    store = Store(tmp_path / "nexus.db").open()
    recorder = CallRecorder(store)
    sampler = TelemetrySampler(nvml=FakeNvml([FakeGpu()]))
    sampler.open()
    sampler.sample_once()
    modules = [ModuleStatus("weather", "Weather", "1.0.0", "builtin", True, "running", "green", "closed"),
               ModuleStatus("rates", "Rates", "2.1.0", "builtin", True, "error", "red", "open")]
    server = MetricsServer(recorder, sampler.latest, lambda: modules)
    try:
        for latency in (120.0, 250.0, 3000.0):
            recorder.record(CallRecord(provider="loc", request_model="m1", task_type="chat", tier="standard",
                                       latency_ms=latency, ttft_ms=40.0, input_tokens=30, output_tokens=12,
                                       cost_usd=0.001))
        recorder.record(CallRecord(provider="loc", request_model="m1", task_type="chat", tier="standard",
                                   latency_ms=10.0, outcome="error", error_type="RateLimitError"))
        found = samples(server.text())
    finally:
        server.stop()
        store.close()
    duration = "gen_ai_client_operation_duration_seconds"
    assert value(found, f"{duration}_count", gen_ai_request_model="m1", error_type="") == 3
    assert value(found, f"{duration}_sum", error_type="") == pytest.approx(3.37)
    assert value(found, f"{duration}_bucket", error_type="", le="0.32") == 2  # 120 ms and 250 ms
    assert value(found, f"{duration}_count", error_type="RateLimitError") == 1
    assert value(found, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == 36
    assert value(found, "nexus_llm_cost_usd_total", gen_ai_provider_name="loc") == pytest.approx(0.003)
    assert value(found, "nexus_llm_calls_total", nexus_outcome="error") == 1
    assert value(found, "nexus_time_to_first_token_seconds_count") == 3
    gpu = FakeGpu()
    assert value(found, "nexus_gpu_memory_total_bytes", gpu="0") == gpu.total
    assert value(found, "nexus_gpu_power_watts", gpu="0") == pytest.approx(gpu.power_mw / 1000)
    assert value(found, "nexus_gpu_temperature_celsius", gpu="0") == gpu.temperature
    assert value(found, "nexus_module_health", module="weather") == 1.0
    assert value(found, "nexus_module_health", module="rates", state="error") == 0.0
    assert value(found, "nexus_ram_total_bytes") > 0


def test_the_endpoint_serves_on_loopback_and_the_core_starts_it_from_the_settings(nexus_home: Path) -> None:
    core = Core.open(nexus_home)
    try:
        assert core.observability.metrics is None  # off by default
        address, port = core.observability.start_metrics(0)
        assert address == "127.0.0.1" and port > 0
        core.calls.record(CallRecord(provider="p", request_model="m", latency_ms=5.0))
        page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert page.status_code == 200 and 'gen_ai_request_model="m"' in page.text
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(MetricsError, match=r"cannot listen on 127\.0\.0\.1") as busy:
                core.observability.start_metrics(taken.getsockname()[1])
        assert "another port" in busy.value.hint and core.observability.metrics is None
    finally:
        core.close()
    core = Core.open(nexus_home)
    try:
        core.settings.metrics_port = 0
        assert core.observability.apply_settings() == [] and core.observability.metrics is not None
        core.settings.metrics_port = None
        core.observability.apply_settings()
        assert core.observability.metrics is None
    finally:
        core.close()


def test_metrics_show_prints_an_exposition(nexus_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(nexus_home), "metrics", "show"]) == 0
    found = samples(capsys.readouterr().out)
    assert value(found, "nexus_ram_total_bytes") > 0


def test_the_grafana_dashboard_asks_only_for_metrics_the_endpoint_serves(tmp_path: Path) -> None:
    import json
    import re

    root = Path(__file__).resolve().parents[3]
    dashboard = json.loads((root / "resources" / "grafana" / "nexus-studio-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(dashboard["panels"]) >= 10 and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    store = Store(tmp_path / "nexus.db").open()
    recorder = CallRecorder(store)
    sampler = TelemetrySampler(nvml=FakeNvml([FakeGpu()]))
    sampler.open()
    sampler.sample_once()
    server = MetricsServer(recorder, sampler.latest,
                           lambda: [ModuleStatus("w", "W", "1", "builtin", True, "running", "green", "closed")])
    try:
        recorder.record(CallRecord(provider="p", request_model="m", latency_ms=5.0, ttft_ms=1.0, input_tokens=3,
                                   output_tokens=2, cost_usd=0.1, task_type="chat", tier="standard"))
        served = {s.name for f in text_string_to_metric_families(server.text()) for s in f.samples}
    finally:
        server.stop()
        store.close()
    metric_part = [re.sub(r"by \([^)]*\)|\{[^}]*\}", " ", expr) for expr in exprs]  # labels aside
    asked = {name for expr in metric_part for name in re.findall(r"\b(?:nexus|gen_ai)_\w+", expr)}
    assert asked and asked <= served, asked - served
    labels = {label for expr in exprs for label in re.findall(r"by \(([^)]*)\)", expr) for label in label.split(", ")}
    assert labels <= {"le", "gen_ai_request_model", "gen_ai_token_type", "gen_ai_provider_name", "nexus_task_type",
                      "nexus_tier"}
