"""The Evolution panel: a round from its button against a scripted model, then the charts and tables."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from app.panels.evolution.panel import EvolutionPanel
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring
from tests.support.ports import free_port
from tests.support.recorded_builds import (
    PAGINATION_ADAPTER,
    PAGINATION_CHALLENGE,
    PAGINATION_TESTS,
    module_answer,
)

WAIT_MS = 60_000


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1"]) as srv:
        yield srv


def test_a_round_from_the_button_fills_the_charts_and_tables(make_window, qtbot,  # type: ignore[no-untyped-def]
                                                              server: ScriptedOpenAIServer) -> None:
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core
    core.providers.save(ProviderConfig(name="loc", kind="openai", preset="custom", base_url=server.base_url,
                                       models=["m1"]))
    core.routing.save(RoutingTable(tiers={t: Assignment(model="loc/m1") for t in ("standard", "heavy", "ultra")}))
    panel = window.show_panel("evolution")
    assert isinstance(panel, EvolutionPanel)
    assert panel.templates.rowCount() == 1 and panel.challenges.rowCount() == 0
    assert not panel.enabled_check.isChecked()  # off by default

    port = free_port()
    host = f"127.0.0.1:{port}"
    server.script(text([json.dumps(PAGINATION_CHALLENGE)]),
                  text([module_answer("catalog", "Catalog", "all_items", PAGINATION_ADAPTER, PAGINATION_TESTS)
                        .replace("HOST", host)]))
    core.evolve.mock_port = port  # the scripted answer names this port
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT_MS)
    assert panel.status.text().startswith("Round passed"), panel.status.text()
    assert [panel.templates.item(r, 0).text() for r in range(panel.templates.rowCount())] == ["v2", "v1"]
    assert panel.templates.item(0, 1).text() == "pagination"
    assert panel.challenges.item(0, 1).text() == "pagination" and panel.challenges.item(0, 3).text() == "passed"
    xs, ys = panel.success_curve.getData()
    assert list(xs) == [1] and list(ys) == [1.0]
    assert "1 round(s), 1 passed" in panel.summary.text() and "model calls today 2 of 30" in panel.summary.text()

    panel.budget_spin.setValue(12)
    assert core.settings.evolve_daily_calls == 12 and "of 12" in panel.summary.text()
    panel.enabled_check.setChecked(True)
    assert core.settings.evolve_enabled and core.evolve._background is not None
    panel.enabled_check.setChecked(False)
    assert core.evolve._background is None
