"""`nexus modules build` and `nexus evolve` in-process, against a scripted model and a loopback mock API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.cli import main
from nexus_core.core import Core
from nexus_core.evolve.mock_api import MockApi
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring
from tests.support.ports import free_port
from tests.support.recorded_builds import (
    PAGINATION_ADAPTER,
    PAGINATION_CHALLENGE,
    PAGINATION_TESTS,
    module_answer,
    recorded_builds,
    replay,
)


@pytest.fixture
def server(nexus_home: Path) -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1"]) as srv:
        core = Core.open(nexus_home, keyring_backend=MemoryKeyring())
        add_provider(core, srv)
        route_all(core, "loc/m1")
        core.close(job_timeout=5)
        yield srv


def test_build_with_yes_installs_and_makes_the_real_call(server: ScriptedOpenAIServer, books_api: MockApi,
                                                         capsys) -> None:  # type: ignore[no-untyped-def]
    replay(server, recorded_builds()[0], books_api.host)
    code = main(["modules", "build", "build me a module to look up books by title", "--yes", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["installed"] is True and out["build"]["status"] == "ready"
    assert out["integration"]["status"] == "live" and out["integration"]["value"][0]["title"] == "Dune"
    assert main(["modules", "list", "--json"]) == 0
    assert any(m["name"] == "book_lookup" for m in json.loads(capsys.readouterr().out))


def test_build_without_a_terminal_to_ask_installs_nothing(server: ScriptedOpenAIServer, books_api: MockApi,
                                                          capsys) -> None:  # type: ignore[no-untyped-def]
    replay(server, recorded_builds()[0], books_api.host)
    code = main(["modules", "build", "build me a module to look up books by title"])
    captured = capsys.readouterr()
    assert code == 1 and "pass --yes" in captured.err
    assert "reaches:     " + books_api.host in captured.out and "4 test(s) passed" in captured.out
    main(["modules", "list", "--json"])
    assert not any(m["name"] == "book_lookup" for m in json.loads(capsys.readouterr().out))


def test_a_stopped_build_prints_every_round(server: ScriptedOpenAIServer, books_api: MockApi,
                                            capsys) -> None:  # type: ignore[no-untyped-def]
    replay(server, recorded_builds()[5], books_api.host)  # a forbidden import, every time
    assert main(["modules", "build", "build me a book module", "--yes"]) == 1
    out = capsys.readouterr().out
    assert "Not built: The build stopped after 3 fix rounds" in out
    assert out.count("ast_gate:") >= 4 and "subprocess" in out


def test_evolve_run_and_status(server: ScriptedOpenAIServer, capsys) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    host = f"127.0.0.1:{port}"
    server.script(text([json.dumps(PAGINATION_CHALLENGE)]),
                  text([module_answer("catalog", "Catalog", "all_items", PAGINATION_ADAPTER, PAGINATION_TESTS)
                        .replace("HOST", host)]))
    assert main(["evolve", "run", "--rounds", "1", "--mock-port", str(port)]) == 0
    captured = capsys.readouterr()
    assert "round 1: passed" in captured.out and "template v2 written" in captured.out
    assert "model calls today: 2 of 30" in captured.out
    assert main(["evolve", "status"]) == 0
    out = capsys.readouterr().out
    assert "1 round(s), 1 passed" in out and "v2: learned pagination" in out and "#1 pagination" in out
    assert main(["evolve", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["templates"][-1]["patterns"] == ["pagination"]
