"""The module service over a real core: load, call (through the sandbox worker), tools, breaker, rate limit,
credentials, install/versions/rollback/remove, crashes and timeouts. HTTP goes to a loopback server."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import fail

from nexus_core.core import Core
from nexus_core.errors import NexusError
from nexus_core.modules.service import ModuleValidationError
from nexus_core.modules.worker import ModuleCallError
from tests.support.module_factory import make_module


class JsonServer:
    """127.0.0.1 stand-in for the services modules call: ``routes[path] = (status, body)``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                status, body = server.routes.get(self.path.split("?")[0], (404, {"error": "no route"}))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def server() -> Iterator[JsonServer]:
    s = JsonServer()
    yield s
    s.close()


@pytest.fixture
def core(nexus_home: Path) -> Iterator[Core]:
    c = Core.open(nexus_home, keyring_backend=fail.Keyring())  # passphrase mode: the vault is a file in the data dir
    c.credentials.unlock("correct horse battery staple")
    yield c
    c.close()


@pytest.fixture
def lab(core: Core, tmp_path: Path, server: JsonServer) -> str:
    folder = make_module(tmp_path / "src")
    core.modules.install(folder, approved_by="test", load=False)
    core.modules.set_config("lab", {"base_url": server.base_url})
    return "lab"


def test_install_records_validation_and_approval_and_versions(core: Core, lab: str, nexus_home: Path) -> None:
    status = core.modules.status(lab)
    assert status.source == "installed" and status.version == "1.0.0" and status.state == "stopped"
    installed = nexus_home / "modules" / "lab" / "versions" / "v1"
    manifest = json.loads((installed / "manifest.json").read_text())
    assert manifest["validation"]["passed"] is True and manifest["approval"]["approved_by"] == "test"
    assert {c["name"] for c in manifest["validation"]["checks"]} >= {"manifest", "compile", "ast_gate", "tests"}


def test_load_call_and_tools(core: Core, lab: str, server: JsonServer) -> None:
    server.routes["/data"] = (200, {"value": 42})
    status = core.modules.load(lab)
    assert status.state == "running" and status.health == "green"
    assert status.operations == ["crash", "echo", "fetch", "secret_length", "slow"]
    assert core.modules.call(lab, "echo", {"text": "ab", "times": 3}) == {"echo": "ababab"}
    assert core.modules.call(lab, "fetch", {"path": "/data"}) == {"value": 42}
    assert server.hits == ["/data"]
    tool = core.tools.get("lab__echo")
    assert tool is not None and tool.parameters["properties"]["text"]["type"] == "string"
    assert "Repeat some text" in tool.description
    assert tool.fn(**tool.validate({"text": "x"})) == {"echo": "x"}
    with pytest.raises(ModuleCallError) as caught:
        core.modules.call(lab, "echo", {"text": "x", "times": "many"})
    assert caught.value.kind == "invalid_arguments" and "times" in caught.value.what
    kinds = [h.kind for h in core.modules.registry.health(lab)]
    assert "load" in kinds and "call" in kinds
    core.modules.unload(lab)
    assert core.tools.get("lab__echo") is None


def test_repeated_failures_open_the_circuit(core: Core, lab: str, server: JsonServer) -> None:
    server.routes["/down"] = (503, {"error": "maintenance"})
    for _ in range(3):
        with pytest.raises(ModuleCallError) as caught:
            core.modules.call(lab, "fetch", {"path": "/down"})
        assert caught.value.kind == "upstream" and "HTTP 503" in caught.value.what
    hits = len(server.hits)
    with pytest.raises(ModuleCallError) as caught:
        core.modules.call(lab, "fetch", {"path": "/down"})
    assert caught.value.kind == "circuit_open" and len(server.hits) == hits  # refused without calling out
    status = core.modules.status(lab)
    assert status.breaker == "open" and status.health == "red"


def test_a_crash_and_a_timeout_restart_the_worker(core: Core, lab: str) -> None:
    core.modules.load(lab)
    with pytest.raises(ModuleCallError) as caught:
        core.modules.call(lab, "crash", {})
    assert caught.value.kind == "crash"
    assert core.modules.call(lab, "echo", {"text": "back"}) == {"echo": "back"}  # a new worker
    with pytest.raises(ModuleCallError) as caught:
        core.modules.call(lab, "slow", {"seconds": 30})
    assert caught.value.kind == "timeout"
    assert core.modules.call(lab, "echo", {"text": "again"}) == {"echo": "again"}


def test_rate_limit(core: Core, lab: str) -> None:
    core.modules.load(lab)
    core.modules._state(lab).limiter.burst = 2.0
    core.modules._state(lab).limiter._tokens = 2.0
    core.modules._state(lab).limiter.rate = 0.001
    core.modules.call(lab, "echo", {"text": "1"})
    core.modules.call(lab, "echo", {"text": "2"})
    with pytest.raises(ModuleCallError) as caught:
        core.modules.call(lab, "echo", {"text": "3"})
    assert caught.value.kind == "rate_limited"


def test_credentials_are_injected_flagged_when_missing_and_never_written_in_plaintext(
        core: Core, tmp_path: Path, nexus_home: Path) -> None:
    folder = make_module(tmp_path / "src2", "keyed", credentials=[{"name": "TOKEN", "label": "Token"}])
    status = core.modules.install(folder, approved_by="test")
    assert status.state == "needs_credentials" and status.missing_credentials == ["TOKEN"]
    assert status.health == "yellow"
    with pytest.raises(ModuleCallError) as caught:
        core.modules.call("keyed", "echo", {"text": "x"})
    assert caught.value.kind == "credentials"
    secret = "tok-5ecret-VALUE-0123456789"
    core.modules.set_credential("keyed", "TOKEN", secret)
    assert core.modules.call("keyed", "secret_length", {}) == len(secret)
    assert core.modules.status("keyed").state == "running"
    with pytest.raises(NexusError, match="declares no credential"):
        core.modules.set_credential("keyed", "OTHER", "x")
    core.close()
    for path in nexus_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_versions_rollback_and_remove(core: Core, lab: str, tmp_path: Path, nexus_home: Path) -> None:
    newer = make_module(tmp_path / "src3", adapter=make_adapter_with_extra_op(), version="1.1.0")
    status = core.modules.install(newer, approved_by="test")
    assert status.version == "1.1.0" and "shout" in status.operations
    assert (nexus_home / "modules" / "lab" / "versions" / "v2").is_dir()
    assert [v for v, _ in core.modules.registry.versions(lab)] == ["1.0.0", "1.1.0"]
    with pytest.raises(NexusError, match="already installed"):
        core.modules.install(newer)
    status = core.modules.rollback(lab, "1.0.0")
    assert status.version == "1.0.0" and "shout" not in status.operations
    archived = core.modules.remove(lab)
    assert archived is not None and (archived / "versions" / "v2").is_dir()
    assert lab not in [s.name for s in core.modules.statuses()]
    assert core.tools.get("lab__echo") is None


def make_adapter_with_extra_op() -> str:
    from tests.support.module_factory import LAB_ADAPTER

    return LAB_ADAPTER + '''
    @operation
    async def shout(self, text: str) -> str:
        """Upper-case some text."""
        return text.upper()
'''


def test_a_failed_validation_installs_nothing(core: Core, tmp_path: Path, nexus_home: Path) -> None:
    folder = make_module(tmp_path / "src", "broken", adapter="import subprocess\n")
    with pytest.raises(ModuleValidationError) as caught:
        core.modules.install(folder)
    assert "ast_gate" in caught.value.what and "subprocess" in caught.value.what
    assert not (nexus_home / "modules" / "broken").exists()
    assert "broken" not in [s.name for s in core.modules.statuses()]


def test_a_name_clash_with_a_builtin_is_refused(core: Core, tmp_path: Path) -> None:
    folder = make_module(tmp_path / "src", "wikipedia", class_name="Lab")
    with pytest.raises(NexusError, match="built-in module is already named 'wikipedia'"):
        core.modules.install(folder)


def test_builtins_are_listed_and_disable_enable(core: Core) -> None:
    names = {s.name: s for s in core.modules.statuses()}
    assert names["weather_openweather"].state == "needs_credentials"
    assert names["exchange_rates"].state == "stopped" and names["exchange_rates"].source == "builtin"
    core.modules.disable("exchange_rates")
    assert core.modules.status("exchange_rates").state == "disabled"
    with pytest.raises(NexusError, match="disabled"):
        core.modules.load("exchange_rates")
    core.modules.enable("exchange_rates")
    with pytest.raises(NexusError, match="built in"):
        core.modules.remove("exchange_rates")


def test_a_module_folder_deleted_while_loaded_keeps_serving_and_is_reported(core: Core, lab: str,
                                                                            nexus_home: Path) -> None:
    core.modules.load(lab)
    shutil.rmtree(nexus_home / "modules" / "lab" / "versions" / "v1")
    assert core.modules.call(lab, "echo", {"text": "still"}) == {"echo": "still"}  # the worker has its copy
    assert lab not in [s.name for s in core.modules.statuses()]
    assert any("lab" in str(folder) for folder, _ in core.modules.registry.problems)


def test_an_adapter_that_breaks_after_install_is_an_error_not_a_crash(core: Core, lab: str,
                                                                        nexus_home: Path) -> None:
    core.modules.load(lab)
    installed = nexus_home / "modules" / "lab" / "versions" / "v1" / "adapter.py"
    installed.write_text("raise RuntimeError('broken on import')\n")
    with pytest.raises(ModuleCallError) as caught:
        core.modules.reload(lab)
    assert caught.value.kind == "load" and "broken on import" in caught.value.what
    status = core.modules.status(lab)
    assert status.state == "error" and status.health == "red" and "broken on import" in (status.last_error or "")
    assert core.tools.get("lab__echo") is None
    assert core.modules.statuses()  # the rest of the service is unaffected


def test_the_health_monitor_checks_running_modules(core: Core, lab: str) -> None:
    core.modules.load(lab)
    assert core.modules.check_running() == {lab: True}
    assert core.modules.registry.health(lab)[0].kind == "health"


def test_a_module_printing_its_key_has_it_masked_in_the_log(core: Core, tmp_path: Path) -> None:
    from tests.support.module_factory import LAB_ADAPTER

    leaky = LAB_ADAPTER + '''
    @operation
    async def leak(self) -> str:
        """Print the token (a careless module)."""
        print("token is", self.credential("TOKEN"))
        return "printed"
'''
    folder = make_module(tmp_path / "src", "leaky", adapter=leaky, credentials=[{"name": "TOKEN", "label": "T"}])
    core.modules.install(folder, approved_by="test", load=False)
    core.modules.set_credential("leaky", "TOKEN", "leak-me-0123456789abcdef")
    assert core.modules.call("leaky", "leak", {}) == "printed"
    lines = "\n".join(core.modules.log_lines("leaky"))
    assert "token is" in lines and "leak-me-0123456789abcdef" not in lines
