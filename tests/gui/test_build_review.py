"""A module built from the chat: the review dialog opens by itself, shows what the module can reach and its
code, and Install / Reject / Open folder do what they say (install → credentials → real call → live)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt, QUrl

from app.panels.chat.panel import ChatPanel
from app.panels.modules.build_review import BuildReviewDialog
from nexus_core.evolve.mock_api import MockApi, MockApiSpec
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring
from tests.support.recorded_builds import BOOK_API_ROUTES, META, answer

WAIT_MS = 60_000


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m1"]) as srv:
        yield srv


@pytest.fixture
def books_api() -> Iterator[MockApi]:
    with MockApi(MockApiSpec.model_validate(BOOK_API_ROUTES)) as api:
        yield api


@pytest.fixture
def panel(make_window, server: ScriptedOpenAIServer) -> ChatPanel:  # type: ignore[no-untyped-def]
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core
    core.providers.save(ProviderConfig(name="loc", kind="openai", preset="custom", base_url=server.base_url,
                                       models=["m1"]))
    core.routing.save(RoutingTable(tiers={t: Assignment(model="loc/m1") for t in ("standard", "heavy", "ultra")},
                                   max_retries=0, cooldown_s=0))
    chat = window.show_panel("chat")
    assert isinstance(chat, ChatPanel)
    return chat


def ask_for_a_module(qtbot, panel: ChatPanel, server: ScriptedOpenAIServer, reply: str) -> BuildReviewDialog:  # type: ignore[no-untyped-def]
    server.script(text([reply]))
    qtbot.keyClicks(panel.composer, "Build me a book lookup module")
    qtbot.keyClick(panel.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.build_review is not None and panel.build_review.isVisible(), timeout=WAIT_MS)
    dialog = panel.build_review
    assert isinstance(dialog, BuildReviewDialog)
    return dialog


def test_the_review_opens_after_a_build_and_install_makes_it_live(qtbot, panel: ChatPanel,  # type: ignore[no-untyped-def]
                                                                   server: ScriptedOpenAIServer,
                                                                   books_api: MockApi) -> None:
    dialog = ask_for_a_module(qtbot, panel, server, answer().replace("HOST", books_api.host))
    assert dialog.fact_labels["hosts"].text() == books_api.host
    assert "4 test(s) passed" in dialog.fact_labels["tests"].text()
    assert [dialog.code_tabs.tabText(i) for i in range(dialog.code_tabs.count())] == [
        "Checks", "adapter.py", "test_adapter.py"]
    assert "BookLookup" in dialog.code_tabs.widget(1).toPlainText()
    assert "<span" in dialog.code_tabs.widget(1).toHtml()  # highlighted
    opened: list[QUrl] = []
    dialog.open_url = opened.append
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    assert opened and opened[0].toLocalFile() == str(dialog.folder)
    core = panel.ctx.core
    assert "book_lookup" not in [s.name for s in core.modules.statuses()]
    with qtbot.waitSignal(dialog.installed, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.close_button.isVisible(), timeout=WAIT_MS)
    assert dialog.status.text().startswith("Live:"), dialog.status.text()
    assert core.modules.status("book_lookup").state == "running"
    assert "book_lookup__search" in core.tools.names()


def test_a_module_that_needs_a_key_asks_for_it_before_the_real_call(qtbot, panel: ChatPanel,  # type: ignore[no-untyped-def]
                                                                     server: ScriptedOpenAIServer,
                                                                     books_api: MockApi) -> None:
    meta = {**META, "credentials": [{"name": "API_KEY", "label": "Books API key", "required": True}]}
    reply = answer(meta=meta).replace("HOST", books_api.host)
    dialog = ask_for_a_module(qtbot, panel, server, reply)
    assert dialog.fact_labels["credentials"].text() == "Books API key"
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.credentials_dialog is not None and dialog.credentials_dialog.isVisible(),
                    timeout=WAIT_MS)
    creds = dialog.credentials_dialog
    assert creds is not None
    creds.edits["API_KEY"].setText("secret-key-123")
    qtbot.mouseClick(creds.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.close_button.isVisible(), timeout=WAIT_MS)
    assert dialog.status.text().startswith("Live:"), dialog.status.text()
    record = panel.ctx.core.modules.registry.record("book_lookup")
    assert panel.ctx.core.modules.missing_credentials(record) == []


def test_reject_installs_nothing_and_is_recorded(qtbot, panel: ChatPanel, server: ScriptedOpenAIServer,  # type: ignore[no-untyped-def]
                                                 books_api: MockApi) -> None:
    dialog = ask_for_a_module(qtbot, panel, server, answer().replace("HOST", books_api.host))
    qtbot.mouseClick(dialog.reject_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    core = panel.ctx.core
    assert "book_lookup" not in [s.name for s in core.modules.statuses()]
    assert core.builder.records.recent(1)[0].status == "rejected"
    stored = core.chat.conversations.messages(panel.current_conversation_id)[-1]
    assert json.loads(json.dumps(stored.meta["build"]))["status"] == "ready"
