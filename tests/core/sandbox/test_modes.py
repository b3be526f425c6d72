"""Validate mode (extended imports, no network) and integration mode (allowlisted hosts through the proxy)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from nexus_core.sandbox import Limits, Sandbox, SandboxMode
from tests.core.sandbox.conftest import FAST, connections_to

SLOW_IMPORTS = Limits(wall_s=15.0, cpu_s=10, memory_mb=512, file_size_mb=8, output_bytes=200_000)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the allowed host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_validate_mode_imports_json_csv_pydantic_and_runs_unittest(use_bwrap: bool) -> None:
    code = ("import csv, io, json, unittest\nimport pydantic\n"
            "class M(pydantic.BaseModel):\n    n: int\n"
            "class T(unittest.TestCase):\n"
            "    def test_model(self):\n        self.assertEqual(M(n='3').n, 3)\n"
            "    def test_csv(self):\n        self.assertEqual(list(csv.reader(io.StringIO('a,b'))), [['a', 'b']])\n"
            "unittest.main(argv=['t'], exit=True)\n")
    result = Sandbox(SandboxMode.VALIDATE, limits=SLOW_IMPORTS, use_bubblewrap=use_bwrap).run_code(code)
    assert result.ok, result.stderr
    assert "Ran 2 tests" in result.stderr and "OK" in result.stderr


def test_validate_mode_mocked_http_works_but_real_network_is_blocked(use_bwrap: bool, loopback_listener) -> None:  # type: ignore[no-untyped-def]
    port = loopback_listener.getsockname()[1]
    code = ("import httpx\n"
            "mock = httpx.MockTransport(lambda request: httpx.Response(200, json={'ok': True}))\n"
            "print(httpx.Client(transport=mock).get('https://api.example.com/x').json())\n"
            f"httpx.get('http://127.0.0.1:{port}/', timeout=2)\n")
    result = Sandbox(SandboxMode.VALIDATE, limits=SLOW_IMPORTS, use_bubblewrap=use_bwrap).run_code(code)
    assert result.stdout == "{'ok': True}\n", result.stderr
    assert result.exit_code == 1 and any("127.0.0.1" in b for b in result.blocked), result.blocked
    assert connections_to(loopback_listener) == 0


def test_integration_mode_reaches_only_allowed_hosts(use_bwrap: bool, http_server: int, loopback_listener) -> None:  # type: ignore[no-untyped-def]
    other = loopback_listener.getsockname()[1]
    code = ("import os, httpx\n"
            "print('key', os.environ['SERVICE_API_KEY'])\n"
            f"r = httpx.get('http://127.0.0.1:{http_server}/data?q=1')\n"
            "print(r.status_code, r.text)\n"
            f"print('other', httpx.get('http://127.0.0.1:{other}/').status_code)\n")
    sandbox = Sandbox(SandboxMode.INTEGRATION, limits=SLOW_IMPORTS, allowed_hosts=[f"127.0.0.1:{http_server}"],
                      env={"SERVICE_API_KEY": "k-123"}, use_bubblewrap=use_bwrap)
    result = sandbox.run_code(code)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["key k-123", "200 hello from the allowed host", "other 403"]
    allowed, refused = result.network_log
    assert allowed["host"] == f"127.0.0.1:{http_server}" and allowed["method"] == "GET"
    assert allowed["status"] == 200 and allowed["allowed"] and allowed["bytes_received"] > 0
    assert allowed["duration_s"] >= 0
    assert refused["host"] == f"127.0.0.1:{other}" and refused["status"] == 403 and not refused["allowed"]
    assert result.blocked == [f"request to 127.0.0.1:{other} (not an allowed host)"]
    assert connections_to(loopback_listener) == 0
    assert "k-123" not in str(result.network_log)


def test_integration_mode_direct_connections_are_blocked(use_bwrap: bool, http_server: int) -> None:
    code = (f"import socket\nsocket.create_connection(('127.0.0.1', {http_server}), timeout=2)\n")
    sandbox = Sandbox(SandboxMode.INTEGRATION, limits=FAST, allowed_hosts=[f"127.0.0.1:{http_server}"],
                      use_bubblewrap=use_bwrap, extra_imports=["socket"])
    result = sandbox.run_code(code)
    assert result.exit_code == 1 and result.network_log == []
    assert any("connecting to" in b for b in result.blocked)


def test_credentials_are_never_written_to_the_run_folder(http_server: int) -> None:
    """The child may read its own run folder (bootstrap, config); the credential must be in neither."""
    code = ("import os, pathlib\n"
            "run = pathlib.Path(__file__).parents[1]\n"
            "print('\\n'.join(p.read_text() for p in run.rglob('*') if p.suffix in ('.json', '.py')))\n")
    sandbox = Sandbox(SandboxMode.INTEGRATION, limits=FAST, allowed_hosts=[f"127.0.0.1:{http_server}"],
                      env={"SERVICE_API_KEY": "k-never-on-disk"})
    result = sandbox.run_code(code)
    assert result.exit_code == 0, result.stderr
    assert '"workspace"' in result.stdout  # it did read config.json
    assert "k-never-on-disk" not in result.stdout.replace("print(", "")


def test_integration_mode_tunnels_connect_to_allowed_hosts(use_bwrap: bool, http_server: int) -> None:
    """HTTPS goes through CONNECT; here the tunnel carries plain HTTP so no certificate is needed."""
    code = ("import os, socket\n"
            "proxy = os.environ['HTTPS_PROXY'].rsplit(':', 1)\n"
            "s = socket.create_connection(('127.0.0.1', int(proxy[1])), timeout=5)\n"
            f"s.sendall(b'CONNECT 127.0.0.1:{http_server} HTTP/1.1\\r\\n\\r\\n')\n"
            "print(s.recv(100).split(b'\\r\\n')[0].decode())\n"
            "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
            "data = b''\n"
            "while chunk := s.recv(4096):\n    data += chunk\n"
            "print(data.split(b'\\r\\n\\r\\n', 1)[1].decode())\n")
    sandbox = Sandbox(SandboxMode.INTEGRATION, limits=FAST, allowed_hosts=[f"127.0.0.1:{http_server}"],
                      use_bubblewrap=use_bwrap, extra_imports=["socket"])
    result = sandbox.run_code(code)
    assert result.ok, result.stderr
    assert result.stdout.splitlines() == ["HTTP/1.1 200 Connection Established", "hello from the allowed host"]
    (entry,) = result.network_log
    assert entry["method"] == "CONNECT" and entry["status"] == 200 and entry["bytes_received"] > 0
