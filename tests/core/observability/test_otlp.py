"""Calls as OpenTelemetry spans over OTLP/HTTP JSON, received by a loopback collector: names, GenAI
attributes, error status, batching; a collector that is down costs the chat nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nexus_core.core import Core
from nexus_core.observability.otlp import OtlpExporter
from nexus_core.providers.records import CallRecord, CallRecorder
from nexus_core.store import Store
from tests.support.ports import free_port


class Collector:
    """A loopback OTLP/HTTP receiver: keeps each POST's path and JSON body."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.headers: list[dict[str, str]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((self.path, json.loads(body)))
                outer.headers.append(dict(self.headers))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict]:
        return [s for _p, body in self.posts for rs in body["resourceSpans"] for ss in rs["scopeSpans"]
                for s in ss["spans"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


def attrs(span: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_calls_arrive_as_genai_client_spans(tmp_path: Path, collector: Collector) -> None:
    store = Store(tmp_path / "nexus.db").open()
    recorder = CallRecorder(store)
    exporter = OtlpExporter(recorder, collector.url, interval_s=0.2)
    try:
        recorder.record(CallRecord(provider="loc", request_model="m1", task_type="code_generation", tier="heavy",
                                   latency_ms=250.0, ttft_ms=40.0, input_tokens=30, output_tokens=12,
                                   finish_reasons=["stop"], started_at=1_790_000_000.0))
        recorder.record(CallRecord(provider="loc", request_model="m2", latency_ms=9.0, outcome="error",
                                   error_type="RateLimitError", error_message="slow down"))
        assert exporter.flush(10)
    finally:
        exporter.close()
        store.close()
    assert {path for path, _ in collector.posts} == {"/v1/traces"} and exporter.sent == 2
    ok, failed = sorted(collector.spans(), key=lambda s: s["name"])
    assert ok["name"] == "chat m1" and ok["kind"] == 3 and "status" not in ok
    assert int(ok["endTimeUnixNano"]) - int(ok["startTimeUnixNano"]) == 250_000_000
    assert ok["startTimeUnixNano"] == str(1_790_000_000 * 10**9) and len(ok["traceId"]) == 32
    found = attrs(ok)
    assert found["gen_ai.provider.name"] == "loc" and found["gen_ai.usage.output_tokens"] == "12"
    assert found["nexus.task_type"] == "code_generation" and found["nexus.latency_ms"] == 250.0
    assert found["gen_ai.response.finish_reasons"] == {"values": [{"stringValue": "stop"}]}
    assert failed["status"] == {"code": 2, "message": "slow down"}
    resource = collector.posts[0][1]["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "nexus-studio"}} in resource


def test_a_collector_that_is_down_drops_spans_without_holding_anything_up(tmp_path: Path) -> None:
    import time

    store = Store(tmp_path / "nexus.db").open()
    recorder = CallRecorder(store)
    exporter = OtlpExporter(recorder, f"http://127.0.0.1:{free_port()}", interval_s=0.1, retries=2)
    try:
        started = time.perf_counter()
        for _ in range(5):
            recorder.record(CallRecord(provider="p", request_model="m", latency_ms=1.0))
        assert time.perf_counter() - started < 0.5  # recording does not wait for the network
        assert exporter.flush(20) and exporter.dropped == 5 and exporter.sent == 0
    finally:
        exporter.close()
        store.close()


def test_the_settings_switch_the_exporter(nexus_home: Path, collector: Collector) -> None:
    core = Core.open(nexus_home)
    try:
        core.settings.otlp_endpoint = collector.url + "/v1/traces"
        assert core.observability.apply_settings() == [] and core.observability.otlp is not None
        core.calls.record(CallRecord(provider="p", request_model="m", latency_ms=3.0))
        assert core.observability.otlp.flush(10) and len(collector.spans()) == 1
        core.settings.otlp_endpoint = "collector:4318"
        [problem] = core.observability.apply_settings()
        assert "not an http(s) URL" in problem and core.observability.otlp is None
    finally:
        core.close()


def test_header_values_come_from_the_credential_store_never_the_settings(
        nexus_home: Path, collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from nexus_core.cli import main
    from tests.support.memory_keyring import MemoryKeyring

    secret = "Basic cGstbGY6c2stbGY="
    keyring = MemoryKeyring()
    core = Core.open(nexus_home, keyring_backend=keyring)
    try:
        core.settings.otlp_endpoint = collector.url
        core.settings.otlp_header_names = ["Authorization"]
        [problem] = core.observability.apply_settings()  # named, but no value stored yet
        assert "not in the credential store" in problem and "otlp-header Authorization" in problem
        assert core.observability.otlp is None
        core.observability.set_otlp_header("Authorization", secret)
        core.save_settings()
        assert core.observability.apply_settings() == [] and core.observability.otlp is not None
        core.calls.record(CallRecord(provider="p", request_model="m", latency_ms=3.0))
        assert core.observability.otlp.flush(10)
    finally:
        core.close()
    assert collector.headers[-1]["Authorization"] == secret
    settings_text = (nexus_home / "settings.json").read_text()
    assert "Authorization" in settings_text and secret not in settings_text
    monkeypatch.setattr("sys.stdin", io.StringIO("otlp-test-token-5b8e2c\n"))
    monkeypatch.setenv("NEXUS_CREDENTIALS_PASSPHRASE", "correct horse battery")  # a machine without a keyring
    home = nexus_home.parent / "cli-home"
    assert main(["--data-dir", str(home), "metrics", "otlp-header", "X-Scope-OrgID"]) == 0
    assert "X-Scope-OrgID" in (home / "settings.json").read_text()
    written = (home / "settings.json").read_bytes() + (home / "credentials.vault").read_bytes()
    assert b"otlp-test-token-5b8e2c" not in written  # (a unique value: known secrets are masked process-wide)
