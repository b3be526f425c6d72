"""The Agents panel through its widgets: a run started from the form and watched over its graph (step states,
iterations, messages, files, the diff between a step's iterations, the report), stop and resume, editing a workflow,
and a missing requirement named — with a scripted model team on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.panels.agents.panel import AgentsPanel
from tests.core.agents.scripted_team import ScriptedTeam
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring


@pytest.fixture
def team() -> ScriptedTeam:
    return ScriptedTeam()


@pytest.fixture
def panel(make_window, qtbot, team: ScriptedTeam) -> Iterator[AgentsPanel]:  # type: ignore[no-untyped-def]
    with ScriptedOpenAIServer(models=["m1"]) as upstream:
        upstream.responder = team
        window = make_window(keyring_backend=MemoryKeyring())
        core = window.ctx.core
        core.agents.backoff_s = 0.01
        add_provider(core, upstream)
        route_all(core, "loc/m1")
        shown = window.show_panel("agents")
        assert isinstance(shown, AgentsPanel)
        yield shown


def _start(panel: AgentsPanel, qtbot, workflow: str, out: Path) -> str:  # type: ignore[no-untyped-def]
    panel.workflow.setCurrentIndex(panel.workflow.findText(workflow))
    panel.requirement.setPlainText("A calculator that adds two numbers, with a web page.")
    panel.out_dir.setText(str(out))
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.run is not None and panel._pending is None, timeout=10_000)
    assert panel.run is not None
    return panel.run.id


def test_a_run_started_from_the_form_is_watched_over_its_graph(panel: AgentsPanel, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_id = _start(panel, qtbot, "standard", tmp_path / "run")
    qtbot.waitUntil(lambda: panel.agents.runs.get(run_id).state == "succeeded" and "succeeded" in panel.title.text(),
                    timeout=60_000)
    items = panel.scene.node_items
    assert items["plan"].health == "ok" and items["plan"].badge.startswith("#1 · succeeded")
    assert items["backend"].badge.startswith("#2 · succeeded")  # sent back once by the review
    assert items["requirement"].health == ""
    assert "[review #1 · verdict] changes" in panel.messages.toPlainText()
    assert "| backend |" in panel.report.toPlainText()
    assert panel.runs_list.currentItem().text().startswith("✔")
    items["backend"].setSelected(True)
    files = [panel.files.item(i).text() for i in range(panel.files.count())]
    assert files == ["backend/__init__.py", "backend/calc.py"]
    assert "[plan" not in panel.messages.toPlainText()  # only the selected step's messages now
    panel.files.setCurrentRow(1)
    diff = panel.diff.toPlainText()
    assert "backend/calc.py (backend #1)" in diff and "-    return a - b" in diff and "+    return a + b" in diff
    assert "return a + b" in panel.file_text.toPlainText()
    assert not panel.stop_button.isEnabled() and not panel.resume_button.isEnabled()


def test_stop_and_resume_from_the_panel(panel: AgentsPanel, qtbot, team: ScriptedTeam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    team.delay = 0.05
    run_id = _start(panel, qtbot, "full", tmp_path / "run")
    agents = panel.agents
    qtbot.waitUntil(lambda: any(s.node_id == "backend" for s in agents.runs.steps(run_id)), timeout=30_000)
    qtbot.waitUntil(lambda: panel.stop_button.isEnabled(), timeout=5_000)
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: agents.runs.get(run_id).state == "stopped" and panel.resume_button.isEnabled(),
                    timeout=30_000)
    assert "stopped" in panel.title.text()
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: agents.runs.get(run_id).state == "succeeded", timeout=90_000)
    assert (tmp_path / "run" / "report.json").is_file()


def test_a_missing_requirement_is_named_and_a_default_workflow_is_edited_as_a_copy(panel: AgentsPanel, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel.requirement.clear()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.status.is_error and "Write the requirement first" in panel.status.text()
    assert panel.agents.runs.runs() == []
    panel.workflow.setCurrentIndex(panel.workflow.findText("simple"))
    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    editor = panel.window().show_panel("pipeline")
    copy = panel.agents.workflows_dir / "simple.json"
    assert copy.is_file() and editor.path == copy
    assert {"plan", "implement"} <= set(editor.graph.nodes)
