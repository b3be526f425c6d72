"""The Chat pane, driven through its widgets over a real core and a scripted OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLineEdit, QMessageBox

from app.panels.chat.message_widget import MessageWidget
from app.panels.chat.panel import ChatPanel
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer, cut, error, text
from tests.support.memory_keyring import MemoryKeyring

WAIT_MS = 5000


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1", "m2"]) as srv:
        yield srv


@pytest.fixture
def panel(make_window, server: ScriptedOpenAIServer) -> ChatPanel:
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core
    core.providers.save(ProviderConfig(name="loc", kind="openai", preset="custom", base_url=server.base_url,
                                       models=["m1", "m2"]))
    core.routing.save(RoutingTable(tiers={t: Assignment(model="loc/m1") for t in ("standard", "heavy", "ultra")},
                                   max_retries=0))
    chat = window.show_panel("chat")
    assert isinstance(chat, ChatPanel)
    return chat


def type_and_send(qtbot, panel: ChatPanel, message: str) -> None:
    panel.composer.setFocus()
    qtbot.keyClicks(panel.composer, message)
    qtbot.keyClick(panel.composer, Qt.Key.Key_Return)


def answers(panel: ChatPanel) -> list[MessageWidget]:
    return [w for w in panel.message_widgets() if w.role == "assistant"]


def wait_answered(qtbot, panel: ChatPanel, count: int = 1) -> MessageWidget:
    """Wait until the ``count``-th answer has ended and is fully drawn; returns it."""
    def done() -> bool:
        found = answers(panel)
        return (len(found) >= count and not panel.is_answering() and found[count - 1].status != "streaming"
                and found[count - 1].answer_body.up_to_date)
    qtbot.waitUntil(done, timeout=WAIT_MS)
    return answers(panel)[count - 1]


def test_enter_streams_a_markdown_answer_with_copyable_code_and_a_footer(panel, server, qtbot) -> None:
    reply = "Here is the code:\n\n```python\nprint('hi')\nx = 1\n```\n\nAnd **done**."
    server.script(text(["Here is ", "the code:\n\n```py", "thon\nprint('hi')\n", "x = 1\n```\n\nAnd **done**."]))
    type_and_send(qtbot, panel, "show me code")
    answer = wait_answered(qtbot, panel)
    assert panel.composer.toPlainText() == ""
    assert server.requests[0].body["messages"][-1]["content"] == "show me code"
    user = panel.message_widgets()[0]
    assert user.role == "user" and user.plain_text() == "show me code"
    assert answer.plain_text() == reply
    assert answer.code_blocks() == ["print('hi')\nx = 1"]
    shown = answer.rendered_text()
    assert "```" not in shown and "**" not in shown and "print('hi')" in shown and "done" in shown
    answer.copy_code(0)
    assert QGuiApplication.clipboard().text() == "print('hi')\nx = 1"
    answer.copy_button.click()
    assert QGuiApplication.clipboard().text() == reply
    footer = answer.footer_text()
    assert "loc/m1" in footer and "standard tier" in footer and "7 → 5 tokens" in footer
    assert answer.status_text() == "" and answer.error_text() == ""
    cid = panel.current_conversation_id
    assert panel.conversation_list.ids() == [cid]
    assert panel.conversation_list.titles() == ["show me code"]
