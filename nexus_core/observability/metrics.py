"""The Prometheus ``/metrics`` endpoint: LLM call metrics under OpenTelemetry's GenAI names
(``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``), time to first token and cost, the GPU,
CPU and RAM from the telemetry sampler, and each integration module's health. Off by default; it listens on
loopback unless the user gives another address.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.providers.records import CallRecord

# OpenTelemetry's GenAI client buckets: seconds for durations, tokens for usage.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
HEALTH = {"green": 1.0, "yellow": 0.5, "red": 0.0, "grey": -1.0}


class MetricsError(NexusError):
    """The metrics endpoint cannot start."""


class CallMetrics:
    """Prometheus metrics fed by every recorded call (``observe`` costs a few microseconds)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        labels = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "nexus_task_type",
                  "nexus_tier", "error_type")
        self.duration = Histogram("gen_ai_client_operation_duration_seconds", "GenAI operation duration.", labels,
                                  buckets=DURATION_BUCKETS, registry=registry)
        self.tokens = Histogram("gen_ai_client_token_usage", "Tokens used per GenAI call.",
                                (*labels[:5], "gen_ai_token_type"), buckets=TOKEN_BUCKETS, registry=registry)
        self.ttft = Histogram("nexus_time_to_first_token_seconds", "Time to the first streamed token.", labels[:5],
                              buckets=DURATION_BUCKETS, registry=registry)
        self.cost = Counter("nexus_llm_cost_usd", "Cost of LLM calls in US dollars.", labels[1:5], registry=registry)
        self.calls = Counter("nexus_llm_calls", "LLM calls by outcome.", (*labels[1:5], "nexus_outcome"),
                             registry=registry)

    def observe(self, rec: CallRecord) -> None:
        base = (rec.operation, rec.provider, rec.request_model, rec.task_type or "unknown", rec.tier or "pinned")
        if rec.latency_ms is not None and rec.latency_ms >= 0:
            self.duration.labels(*base, rec.error_type or "").observe(rec.latency_ms / 1000)
        if rec.ttft_ms is not None and rec.ttft_ms >= 0:
            self.ttft.labels(*base).observe(rec.ttft_ms / 1000)
        for kind, count in (("input", rec.input_tokens), ("output", rec.output_tokens)):
            if count:
                self.tokens.labels(*base, kind).observe(count)
        if rec.cost_usd:
            self.cost.labels(*base[1:]).inc(rec.cost_usd)
        self.calls.labels(*base[1:], rec.outcome).inc()


class MachineCollector:
    """GPU, CPU and RAM gauges from the telemetry sampler's latest sample, read at scrape time."""

    def __init__(self, latest: Callable[[], Any]) -> None:
        self.latest = latest

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        sample = self.latest()
        if sample is None:
            return
        system = sample.system
        yield GaugeMetricFamily("nexus_cpu_utilization_ratio", "CPU busy, 0–1.", value=system.cpu_percent / 100)
        yield GaugeMetricFamily("nexus_ram_used_bytes", "RAM in use.", value=system.ram_used)
        yield GaugeMetricFamily("nexus_ram_total_bytes", "RAM installed.", value=system.ram_total)
        yield GaugeMetricFamily("nexus_app_rss_bytes", "Memory of this app and its child processes.",
                                value=system.app_rss)
        gauges = {
            "memory_used_bytes": ("GPU memory in use.", lambda g: g.memory_used),
            "memory_total_bytes": ("GPU memory installed.", lambda g: g.memory_total),
            "utilization_ratio": ("GPU busy, 0–1.", lambda g: None if g.util_gpu is None else g.util_gpu / 100),
            "temperature_celsius": ("GPU temperature.", lambda g: g.temperature_c),
            "power_watts": ("GPU power draw.", lambda g: g.power_w),
            "app_memory_bytes": ("GPU memory held by this app.", lambda g: g.self_bytes),
        }
        for suffix, (text, read) in gauges.items():
            family = GaugeMetricFamily(f"nexus_gpu_{suffix}", text, labels=("gpu", "name"))
            for gpu in sample.gpus:
                value = read(gpu)
                if value is not None:
                    family.add_metric((str(gpu.index), gpu.name), float(value))
            yield family


class ModuleCollector:
    """Each integration module's health (1 green, 0.5 yellow, 0 red, -1 not running) and whether it runs."""

    def __init__(self, statuses: Callable[[], list[Any]]) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        health = GaugeMetricFamily("nexus_module_health", "Module health: 1 green, 0.5 yellow, 0 red, -1 grey.",
                                   labels=("module", "version", "state"))
        for status in self.statuses():
            health.add_metric((status.name, status.version, status.state), HEALTH.get(status.health, -1.0))
        yield health


class MetricsServer:
    """The registry, fed by the call recorder and read from the sampler and the modules at scrape time."""

    def __init__(self, recorder: Any, latest_sample: Callable[[], Any], module_statuses: Callable[[], list[Any]]
                 ) -> None:
        try:
            from prometheus_client import CollectorRegistry
        except ImportError:
            raise MetricsError("The metrics endpoint needs prometheus-client.", hint="Run ./setup.sh install.") \
                from None
        self.registry = CollectorRegistry()
        self.calls = CallMetrics(self.registry)
        self.registry.register(MachineCollector(latest_sample))
        self.registry.register(ModuleCollector(module_statuses))
        self._disconnect = recorder.recorded.connect(self.calls.observe)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] | None = None

    def start(self, port: int, address: str = "127.0.0.1") -> tuple[str, int]:
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(port, addr=address, registry=self.registry)
        except OSError as exc:
            raise MetricsError(f"The metrics endpoint cannot listen on {address}:{port}: {exc.strerror or exc}.",
                               hint="Pick another port (0 lets the system choose one).") from None
        self.address = (address, int(self._server.server_address[1]))
        return self.address

    def text(self) -> str:
        """The exposition a scrape would get."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def stop(self) -> None:
        self._disconnect()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
