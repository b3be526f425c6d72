"""A real core over a temp data folder, wired to a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_core.core import Core
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring

ALL_TIERS = ("standard", "heavy", "ultra")


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1", "m2"]) as srv:
        yield srv


@pytest.fixture
def core(nexus_home: Path) -> Iterator[Core]:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    opened.router.backoff_base_s = 0.01  # keep retry tests fast; the schedule itself is tested separately
    yield opened
    opened.close(job_timeout=5)


def add_provider(core: Core, server: ScriptedOpenAIServer, name: str = "loc") -> None:
    core.providers.save(ProviderConfig(name=name, kind="openai", preset="custom", base_url=server.base_url,
                                       models=["m1", "m2"]))


def route_all(core: Core, model_ref: str, fallbacks: list[str] | None = None) -> None:
    core.routing.save(RoutingTable(tiers={t: Assignment(model=model_ref, fallbacks=fallbacks or [])
                                          for t in ALL_TIERS}))
