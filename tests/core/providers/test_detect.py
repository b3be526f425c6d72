"""Local server detection against scripted servers on chosen ports (never the real default ports)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nexus_core.providers.detect import DetectedServer, detect_local_servers
from nexus_core.providers.presets import LOCAL_SERVER_PRESETS
from tests.support.llm_servers import ScriptedOpenAIServer


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _PlainHandler(BaseHTTPRequestHandler):
    """A web server that is not an LLM server: 404 HTML pages, or 200 HTML for everything."""

    protocol_version = "HTTP/1.1"
    answer_200 = False

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.answer_200:
            body = b"<html><body>My blog</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404, "Not Found")


class _Html200Handler(_PlainHandler):
    answer_200 = True


class _TagsOnlyHandler(_PlainHandler):
    """An older Ollama: no /v1/models, only /api/tags."""

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            body = json.dumps({"models": [{"name": "qwen2:7b"}, {"model": "llama3:8b"}, {"bad": 1}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404, "Not Found")


@pytest.fixture
def http_server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A plain http.server on a free port; the handler class comes from indirect parametrization."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def detect(ports: dict[str, int], timeout_s: float = 0.6) -> list[DetectedServer]:
    assert set(ports) == {p.id for p in LOCAL_SERVER_PRESETS}, "probe every preset on a chosen port"
    return asyncio.run(detect_local_servers(host="127.0.0.1", ports=ports, timeout_s=timeout_s))


def test_two_running_servers_are_found_with_their_models() -> None:
    with ScriptedOpenAIServer(models=["llama3.2:3b", "Qwen2.5:7b", "gemma:2b"], ollama=True) as ollama, \
            ScriptedOpenAIServer(models=["lmstudio-community/phi-4"]) as lmstudio:
        start = time.monotonic()
        found = detect({"ollama": ollama.port, "lmstudio": lmstudio.port, "llamacpp": closed_port(),
                        "vllm": closed_port()})
        elapsed = time.monotonic() - start

    by_id = {server.preset.id: server for server in found}
    assert sorted(by_id) == ["lmstudio", "ollama"]
    assert len(found) == 2
    assert by_id["ollama"].base_url == ollama.base_url
    assert by_id["ollama"].models == sorted(["llama3.2:3b", "Qwen2.5:7b", "gemma:2b"])
    assert by_id["lmstudio"].base_url == lmstudio.base_url
    assert by_id["lmstudio"].models == ["lmstudio-community/phi-4"]
    assert by_id["ollama"].note == ""
    assert elapsed < 2.0


@pytest.mark.parametrize("http_server", [_TagsOnlyHandler], indirect=True)
def test_ollama_without_v1_models_is_found_through_api_tags(http_server: int) -> None:
    found = detect({"ollama": http_server, "lmstudio": closed_port(), "llamacpp": closed_port(),
                    "vllm": closed_port()})
    [server] = found
    assert server.preset.id == "ollama"
    assert server.base_url == f"http://127.0.0.1:{http_server}/v1"
    assert server.models == ["llama3:8b", "qwen2:7b"]


@pytest.mark.parametrize("http_server", [_TagsOnlyHandler], indirect=True)
def test_api_tags_counts_only_for_the_ollama_preset(http_server: int) -> None:
    found = detect({"ollama": closed_port(), "lmstudio": http_server, "llamacpp": closed_port(),
                    "vllm": closed_port()})
    assert found == []


@pytest.mark.parametrize("http_server", [_PlainHandler, _Html200Handler], indirect=True)
def test_a_non_llm_http_server_is_not_reported(http_server: int) -> None:
    # on every preset's port, including Ollama's (which also probes /api/tags)
    found = detect({"ollama": http_server, "lmstudio": http_server, "llamacpp": http_server, "vllm": http_server})
    assert found == []


def test_server_that_needs_a_key_is_not_reported() -> None:
    with ScriptedOpenAIServer(api_key="sk-secret") as guarded:
        found = detect({"ollama": closed_port(), "lmstudio": closed_port(), "llamacpp": guarded.port,
                        "vllm": closed_port()})
    assert found == []


def test_server_without_models_is_reported_with_a_note() -> None:
    with ScriptedOpenAIServer(models=[]) as empty:
        found = detect({"ollama": closed_port(), "lmstudio": closed_port(), "llamacpp": closed_port(),
                        "vllm": empty.port})
    [server] = found
    assert server.preset.id == "vllm"
    assert server.models == []
    assert server.note


def test_closed_ports_answer_fast() -> None:
    start = time.monotonic()
    found = detect({p.id: closed_port() for p in LOCAL_SERVER_PRESETS})
    assert found == []
    assert time.monotonic() - start < 1.0


def test_silent_ports_are_bounded_by_the_timeout() -> None:
    """Listening sockets that accept (via the backlog) but never answer: every probe gives up at timeout_s."""
    sockets = []
    try:
        for _ in LOCAL_SERVER_PRESETS:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            sockets.append(sock)
        ports = {p.id: s.getsockname()[1] for p, s in zip(LOCAL_SERVER_PRESETS, sockets, strict=True)}
        start = time.monotonic()
        found = detect(ports, timeout_s=0.3)
        elapsed = time.monotonic() - start
    finally:
        for sock in sockets:
            sock.close()
    assert found == []
    # probes run at once: the whole detection takes about one or two timeouts, not one per port
    assert elapsed < 1.2
