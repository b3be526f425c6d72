"""Observability as one core object: the call statistics, and the exporters the settings switch on (the
Prometheus endpoint now; OTLP spans when an endpoint is set)."""

from __future__ import annotations

from typing import Any

from nexus_core.errors import NexusError
from nexus_core.observability.job_resources import JobResources
from nexus_core.observability.metrics import MetricsServer
from nexus_core.observability.otlp import OtlpExporter
from nexus_core.observability.stats import CallStatistics
from nexus_core.store import Store


class ObservabilityService:
    def __init__(self, store: Store, calls: Any, telemetry: Any, modules: Any, settings: Any, runner: Any,
                 credentials: Any = None) -> None:
        self.stats = CallStatistics(store)
        self.credentials = credentials
        self.jobs = JobResources(store, runner, telemetry)
        self.calls, self.telemetry, self.modules, self.settings = calls, telemetry, modules, settings
        self.metrics: MetricsServer | None = None
        self.otlp: OtlpExporter | None = None

    def start_metrics(self, port: int | None = None, address: str | None = None) -> tuple[str, int]:
        """Serve ``/metrics`` (a running endpoint is restarted on the new port/address)."""
        self.stop_metrics()
        server = MetricsServer(self.calls, self.telemetry.latest, self.modules.statuses)
        try:
            bound = server.start(self.settings.metrics_port if port is None else port,
                                 address or self.settings.metrics_address)
        except NexusError:
            server.stop()
            raise
        self.metrics = server
        return bound

    def stop_metrics(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None

    def apply_settings(self) -> list[str]:
        """Start what the settings switch on, stop the rest; the problems, for the start-up notice."""
        problems: list[str] = []
        endpoint = self.settings.otlp_endpoint
        if self.otlp is not None and (endpoint is None or not self.otlp.url.startswith(endpoint.rstrip("/"))):
            self.otlp.close()
            self.otlp = None
        if endpoint and self.otlp is None:
            if not endpoint.startswith(("http://", "https://")):
                problems.append(f"otlp_endpoint {endpoint!r} in settings.json is not an http(s) URL; no spans are "
                                "sent.")
            else:
                try:
                    headers = self.otlp_headers()
                except NexusError as exc:
                    problems.append(f"OTLP spans are not sent: {exc.user_message()}")
                else:
                    self.otlp = OtlpExporter(self.calls, endpoint, headers=headers)
        if self.settings.metrics_port is None:
            self.stop_metrics()
            return problems
        try:
            self.start_metrics()
        except NexusError as exc:
            problems.append(exc.user_message())
        return problems

    def otlp_headers(self) -> dict[str, str]:
        """The configured OTLP headers with their values from the credential store (a missing one is an error)."""
        headers = {}
        for name in self.settings.otlp_header_names:
            value = self.credentials.get(otlp_header_key(name)) if self.credentials is not None else None
            if value is None:
                raise NexusError(f"the value of the OTLP header {name!r} is not in the credential store.",
                                 hint=f"Set it: nexus metrics otlp-header {name}")
            headers[name] = value
        return headers

    def set_otlp_header(self, name: str, value: str) -> None:
        """Keep a header's value in the credential store and its name in the settings (the caller saves them)."""
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise NexusError(f"{name!r} is not a header name.", hint="Use letters, digits and dashes, e.g. "
                                                                     "Authorization.")
        self.credentials.set(otlp_header_key(name), value)
        if name not in self.settings.otlp_header_names:
            self.settings.otlp_header_names.append(name)

    def close(self) -> None:
        self.jobs.close()
        self.stop_metrics()
        if self.otlp is not None:
            self.otlp.close()
            self.otlp = None


def otlp_header_key(name: str) -> str:
    return f"otlp-header:{name}"
