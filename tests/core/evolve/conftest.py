"""A real core wired to a scripted code model, and the loopback book service the good recorded build uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.core import Core
from nexus_core.evolve.mock_api import MockApi, MockApiSpec
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring
from tests.support.recorded_builds import BOOK_API_ROUTES


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1", "m2"]) as srv:
        yield srv


@pytest.fixture
def core(nexus_home: Path, server: ScriptedOpenAIServer) -> Iterator[Core]:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    add_provider(opened, server)
    route_all(opened, "loc/m1")
    yield opened
    opened.close(job_timeout=5)


@pytest.fixture
def books_api() -> Iterator[MockApi]:
    with MockApi(MockApiSpec.model_validate(BOOK_API_ROUTES)) as api:
        yield api
