"""A real core serving its local OpenAI-compatible API on a free loopback port, routed to a scripted upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from nexus_core.core import Core
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring


@pytest.fixture
def upstream() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1", "m2"]) as srv:
        yield srv


@pytest.fixture
def core(nexus_home: Path, upstream: ScriptedOpenAIServer) -> Iterator[Core]:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    opened.router.backoff_base_s = 0.01
    add_provider(opened, upstream)
    route_all(opened, "loc/m1", ["loc/m2"])
    opened.server.start("127.0.0.1", 0)
    yield opened
    opened.close(job_timeout=5)


@pytest.fixture
def client(core: Core) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=core.server.state.base_url, api_key=core.server.token(), max_retries=0,
                       timeout=20) as sdk:
        yield sdk
