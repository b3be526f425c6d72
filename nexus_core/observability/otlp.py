"""OpenTelemetry export of LLM calls as spans, over OTLP/HTTP with the JSON encoding (``POST …/v1/traces``),
so any OTLP collector, Langfuse, Jaeger or Grafana Tempo can take them, without the OpenTelemetry SDK. Each
call record is one CLIENT span named "{operation} {model}" whose attributes are the record's ``gen_ai.*`` and
``nexus.*`` attributes. Spans are batched on a thread; a collector that is down costs the chat nothing (the
batch is retried a few times, then dropped with a log line)."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from nexus_core.providers.records import CallRecord

log = logging.getLogger(__name__)
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2
BATCH = 256


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 is a string in OTLP JSON
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def span(rec: CallRecord) -> dict[str, Any]:
    """The OTLP JSON span of one call record."""
    start = int(rec.started_at * 1e9)
    end = start + int((rec.latency_ms or 0.0) * 1e6)
    out: dict[str, Any] = {
        "traceId": os.urandom(16).hex(), "spanId": bytes.fromhex(rec.id[:16].ljust(16, "0")).hex(),
        "name": f"{rec.operation} {rec.request_model}", "kind": SPAN_KIND_CLIENT,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
        "attributes": [{"key": k, "value": _value(v)} for k, v in rec.attributes().items()],
    }
    if rec.outcome == "error":
        out["status"] = {"code": STATUS_ERROR, "message": rec.error_message or rec.error_type or "error"}
    return out


def payload(records: list[CallRecord], service: str = "nexus-studio", version: str = "") -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "nexus_core.providers", "version": version},
                        "spans": [span(r) for r in records]}]}]}


class OtlpExporter:
    """Listens to the call recorder; sends spans to ``endpoint`` (the collector's base URL or its full
    ``/v1/traces`` URL) every ``interval_s`` or when a batch is full."""

    def __init__(self, recorder: Any, endpoint: str, *, headers: dict[str, str] | None = None,
                 interval_s: float = 2.0, retries: int = 3) -> None:
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/v1/traces") else base + "/v1/traces"
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.interval_s, self.retries = interval_s, retries
        self.sent = 0
        self.dropped = 0
        self._queue: queue.Queue[CallRecord | None] = queue.Queue()
        self._flushed = threading.Condition()
        self._pending = 0
        self._disconnect = recorder.recorded.connect(self._enqueue)
        self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
        self._thread.start()

    def _enqueue(self, rec: CallRecord) -> None:
        with self._flushed:
            self._pending += 1
        self._queue.put(rec)

    def _run(self) -> None:
        import httpx

        from nexus_core import __version__

        with httpx.Client(timeout=5.0) as client:
            done = False
            while not done:
                batch: list[CallRecord] = []
                deadline = time.monotonic() + self.interval_s
                while len(batch) < BATCH:
                    try:
                        item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if item is None:
                        done = True
                        break
                    batch.append(item)
                if batch:
                    self._send(client, batch, __version__)

    def _send(self, client: Any, batch: list[CallRecord], version: str) -> None:
        body = payload(batch, version=version)
        for attempt in range(self.retries):
            try:
                response = client.post(self.url, json=body, headers=self.headers)
                if response.status_code < 300:
                    self.sent += len(batch)
                    break
                problem = f"HTTP {response.status_code}"
            except Exception as exc:  # the network's many failure types: none may reach the chat
                problem = type(exc).__name__
            time.sleep(min(2.0, 0.2 * 2**attempt))
        else:
            self.dropped += len(batch)
            log.warning("OTLP export to %s failed (%s); %d spans dropped", self.url, problem, len(batch))
        with self._flushed:
            self._pending -= len(batch)
            self._flushed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every span seen so far was sent or dropped."""
        with self._flushed:
            return self._flushed.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._disconnect()
        self._queue.put(None)
        self._thread.join(timeout)
