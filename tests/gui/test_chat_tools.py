"""Tool cards, the approval dialog and the workspace folder in the Chat pane, over a real core and a scripted
OpenAI-compatible server that asks for tool calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtWidgets import QDialog, QFileDialog

from app.panels.chat.panel import ChatPanel
from app.panels.chat.tool_card import ToolCard
from nexus_core.config import load_settings
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from nexus_core.tools import ToolContext, ToolFailure, tool
from tests.gui.test_chat_panel import answers, type_and_send, wait_answered
from tests.support.llm_servers import ScriptedOpenAIServer, text, tool_calls
from tests.support.memory_keyring import MemoryKeyring

WAIT_MS = 20_000  # returns as soon as the condition holds; the margin is for a loaded machine
DISTRICTS = [f"district {i}" for i in range(80)]  # a result long enough to be cut until "Show more"


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds the ``lookup`` tool until the test has seen its card running."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1"]) as srv:
        yield srv


@pytest.fixture
def panel(make_window, server: ScriptedOpenAIServer, gate: threading.Event) -> ChatPanel:
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core
    core.providers.save(ProviderConfig(name="loc", kind="openai", preset="custom", base_url=server.base_url,
                                       models=["m1"]))
    core.routing.save(RoutingTable(tiers={t: Assignment(model="loc/m1") for t in ("standard", "heavy", "ultra")},
                                   max_retries=0, cooldown_s=0))

    @tool()
    def lookup(city: str) -> dict:
        """Facts about a city."""
        gate.wait(5)  # the tests open the gate; this only bounds a test that does not
        return {"city": city, "population": 12345, "districts": DISTRICTS}

    @tool()
    def picky(city: str) -> str:
        """Knows no city at all."""
        raise ToolFailure(f"no such city: {city}", kind="not_found")

    @tool(risk="risky")
    def write_note(ctx: ToolContext, name: str, text: str) -> str:
        """Writes a note into the workspace."""
        (ctx.workspace / name).write_text(text, encoding="utf-8")
        return f"wrote {name}"

    for made in (lookup, picky, write_note):
        core.tools.register(made, replace=True)
    chat = window.show_panel("chat")
    assert isinstance(chat, ChatPanel)
    return chat


def cards(panel: ChatPanel) -> list[ToolCard]:
    return panel.tool_cards()


def reopen(panel: ChatPanel) -> None:
    """Switch away and back: the view is rebuilt from the store."""
    cid = panel.current_conversation_id
    panel.new_chat()
    assert cards(panel) == []
    panel.conversation_list.list.setCurrentItem(panel.conversation_list.item_for(cid))
    assert panel.current_conversation_id == cid


def wait_dialog(qtbot, panel: ChatPanel):
    qtbot.waitUntil(lambda: panel.approval_dialog is not None and panel.approval_dialog.isVisible(), timeout=WAIT_MS)
    return panel.approval_dialog


def closed(dialog: QDialog) -> bool:
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def tool_messages(server: ScriptedOpenAIServer, request: int = -1) -> list[dict]:
    return [m for m in server.requests[request].body["messages"] if m["role"] == "tool"]


def test_a_safe_tool_card_runs_finishes_and_is_rebuilt_from_the_store(panel, server, qtbot, gate) -> None:
    server.script(tool_calls([("call_1", "lookup", {"city": "Paris"})], text_before="Let me look that up."),
                  text(["Paris has 12,345 people."]))
    type_and_send(qtbot, panel, "how many people live in Paris?")
    qtbot.waitUntil(lambda: len(cards(panel)) == 1, timeout=WAIT_MS)
    running = cards(panel)[0]
    assert running.state == "running" and "running" in running.status_text()
    assert "lookup" in running.header_text() and "Paris" in running.header_text()
    assert running.expanded and '"city": "Paris"' in running.arguments_text()  # open while it runs
    assert running.result_text() == ""
    reopen(panel)  # while the tool runs: the card comes back from the live turn, still running
    qtbot.waitUntil(lambda: [c.state for c in cards(panel)] == ["running"], timeout=WAIT_MS)
    gate.set()

    answer = wait_answered(qtbot, panel, 2)
    assert answer.plain_text() == "Paris has 12,345 people." and answer.cards() == []
    assert "Let me look" not in answer.rendered_text()  # the text before the call belongs to the round above
    assert [w.role for w in panel.message_widgets()] == ["user", "assistant", "assistant"]  # no tool bubbles
    round_message = answers(panel)[0]
    assert round_message.plain_text() == "Let me look that up."
    qtbot.waitUntil(lambda: round_message.answer_body.up_to_date, timeout=WAIT_MS)
    assert "Let me look that up." in round_message.rendered_text()
    card = round_message.cards()[0]
    assert card.state == "ok" and "ok" in card.status_text() and " ms" in card.status_text()
    assert not card.expanded and card.result_text() == ""  # closed once finished

    card.toggle_button.click()
    assert card.expanded
    assert card.arguments_text() == '{\n  "city": "Paris"\n}'
    assert '"population": 12345' in card.result_text() and "district 0" in card.result_text()
    assert "district 79" not in card.result_text() and card.more_button.isVisibleTo(card)
    card.more_button.click()
    assert "district 79" in card.result_text()
    assert card.error_text() == ""
    assert json.loads(tool_messages(server)[0]["content"])["population"] == 12345

    reopen(panel)
    rebuilt = cards(panel)
    assert len(rebuilt) == 1 and rebuilt[0] is not card
    assert rebuilt[0].state == "ok" and rebuilt[0].call_id == "call_1" and "Paris" in rebuilt[0].header_text()
    assert rebuilt[0].expanded  # the user opened it: still open after the rebuild
    assert '"population": 12345' in rebuilt[0].result_text()
    assert [w.plain_text() for w in panel.message_widgets()] == [
        "how many people live in Paris?", "Let me look that up.", "Paris has 12,345 people."]


def test_failing_tools_show_failed_cards_with_the_error(panel, server, qtbot) -> None:
    server.script(tool_calls([("c1", "nope", {"x": 1}), ("c2", "picky", {"city": "Atlantis"})]),
                  text(["Sorry, that did not work."]))
    type_and_send(qtbot, panel, "try the tools")
    wait_answered(qtbot, panel, 2)
    for reopened in (False, True):
        if reopened:
            reopen(panel)
        unknown, picky = cards(panel)
        assert unknown.state == "failed" and "failed (unknown_tool)" in unknown.status_text()
        assert picky.state == "failed" and "failed (not_found)" in picky.status_text()
        assert not unknown.expanded
        unknown.set_expanded(True)
        picky.set_expanded(True)
        assert "no tool named 'nope'" in unknown.error_text()
        assert picky.error_text() == "no such city: Atlantis"
        assert picky.error_label.objectName() == "chatError" and picky.result_text() == ""
        assert picky.arguments_text() == '{\n  "city": "Atlantis"\n}'
    assert answers(panel)[-1].plain_text() == "Sorry, that did not work."


def test_denying_a_risky_tool_does_not_run_it(panel, server, qtbot) -> None:
    server.script(tool_calls([("w1", "write_note", {"name": "note.txt", "text": "rm -rf nothing"})]),
                  text(["Understood, I did not write it."]))
    type_and_send(qtbot, panel, "write a note")
    dialog = wait_dialog(qtbot, panel)
    assert "write_note" in dialog.windowTitle() and "Writes a note" in dialog.description_label.text()
    assert "not in the sandbox" in dialog.isolation_label.text()  # a plain tool says it runs unsandboxed
    assert json.loads(dialog.arguments_text()) == {"name": "note.txt", "text": "rm -rf nothing"}
    assert dialog.always_button.text() == "Always allow write_note in this conversation"
    assert cards(panel)[0].state == "running"
    dialog.deny_button.click()
    assert closed(dialog)
    answer = wait_answered(qtbot, panel, 2)
    assert answer.plain_text() == "Understood, I did not write it."
    card = cards(panel)[0]
    assert card.state == "denied" and "denied" in card.status_text()
    card.set_expanded(True)
    assert "did not allow" in card.error_text()
    assert not (panel.ctx.core.paths.workspace_dir / "note.txt").exists()
    assert json.loads(tool_messages(server)[0]["content"])["error"]["kind"] == "denied"
    assert panel.approval_dialog is None


def test_always_allow_is_not_asked_again_in_the_conversation(panel, server, qtbot) -> None:
    workspace = panel.ctx.core.paths.workspace_dir
    server.script(tool_calls([("w1", "write_note", {"name": "a.txt", "text": "first"})]), text(["wrote a"]),
                  tool_calls([("w2", "write_note", {"name": "b.txt", "text": "second"})]), text(["wrote b"]))
    type_and_send(qtbot, panel, "write a")
    wait_dialog(qtbot, panel).always_button.click()
    wait_answered(qtbot, panel, 2)
    assert (workspace / "a.txt").read_text(encoding="utf-8") == "first"
    type_and_send(qtbot, panel, "write b")
    answer = wait_answered(qtbot, panel, 4)
    assert answer.plain_text() == "wrote b"
    assert (workspace / "b.txt").read_text(encoding="utf-8") == "second"
    assert panel.approvals.asked == 1 and panel.approval_dialog is None
    first, second = cards(panel)
    assert (first.state, first.run.approval) == ("ok", "always")
    assert (second.state, second.run.approval) == ("ok", "always")  # allowed by the rule, without asking


def test_stop_while_asking_closes_the_dialog_and_keeps_an_incomplete_answer(panel, server, qtbot) -> None:
    server.script(tool_calls([("w1", "write_note", {"name": "stop.txt", "text": "x"})]), text(["never sent"]))
    type_and_send(qtbot, panel, "write then stop")
    dialog = wait_dialog(qtbot, panel)
    assert panel.send_button.text() == "Stop"
    panel.send_button.click()
    qtbot.waitUntil(lambda: panel.approval_dialog is None and closed(dialog), timeout=WAIT_MS)
    answer = wait_answered(qtbot, panel)
    assert answer.status_text().startswith("Incomplete — Stopped")
    assert not (panel.ctx.core.paths.workspace_dir / "stop.txt").exists()
    assert len(server.requests) == 1  # the stop did not turn into a "deny" sent back to the model
    card = cards(panel)[0]
    assert card.state == "stopped" and "stopped" in card.status_text()


def test_the_workspace_button_chooses_where_tools_write(panel, server, qtbot, monkeypatch, tmp_path: Path) -> None:
    core = panel.ctx.core
    button = panel.workspace_button
    assert core.settings.workspace_dir is None
    assert button.text() == f"Workspace: {core.paths.workspace_dir.name}"
    assert str(core.paths.workspace_dir) in button.toolTip()
    chosen = tmp_path / "project"
    chosen.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(chosen))
    button.click()
    assert core.settings.workspace_dir == chosen
    assert load_settings(core.paths.settings_file).settings.workspace_dir == chosen  # saved
    assert button.text() == "Workspace: project" and str(chosen) in button.toolTip()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: "")  # cancelled: kept
    button.click()
    assert core.settings.workspace_dir == chosen

    server.script(tool_calls([("w1", "write_note", {"name": "todo.md", "text": "- ship it"})]), text(["Done."]))
    type_and_send(qtbot, panel, "note my todo")
    wait_dialog(qtbot, panel).allow_once_button.click()
    wait_answered(qtbot, panel, 2)
    assert (chosen / "todo.md").read_text(encoding="utf-8") == "- ship it"
    assert not (core.paths.workspace_dir / "todo.md").exists()
    card = cards(panel)[0]
    assert card.state == "ok" and card.run.approval == "once"
