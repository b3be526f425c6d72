"""Every control has a tooltip (issue 16): the main window with every panel shown, the Jobs and Log docks, the
settings dialog, and controls made later (rows when data arrives, dialogs opened by buttons, a node's properties,
a conversation's messages). The rules for what counts as a control are in ``tooltip_audit``."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.dialogs.settings import SettingsDialog
from app.panels.chat.tool_card import ToolCard
from app.panels.modules.credentials_dialog import CredentialsDialog
from nexus_core.modules.manifest import CredentialSpec
from nexus_core.pipeline.graph import Node
from nexus_core.providers.config import ProviderConfig
from nexus_core.providers.detect import DetectedServer
from nexus_core.providers.presets import PRESETS
from nexus_core.providers.types import ToolCall
from tests.gui.tooltip_audit import controls_without_tooltips
from tests.support.memory_keyring import MemoryKeyring

WAIT_MS = 10_000

# Controls that app/window.py makes (menu bar, navigation, status bar) and that still lack a tooltip, as the audit
# describes them; the window's own change empties this list. Nothing else may be left out.
OWNED_BY_WINDOW: list[str] = []


def _missing(root: QWidget, *, allowed: list[str] | None = None) -> list[str]:
    return [line for line in controls_without_tooltips(root) if line not in (allowed or [])]


def _report(missing: list[str]) -> str:
    return f"{len(missing)} control(s) without a tooltip:\n" + "\n".join(missing)


def test_every_control_of_every_panel_and_dock_has_a_tooltip(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    for panel_id in window.panel_ids():
        panel = window.show_panel(panel_id)
        qtbot.waitUntil(lambda p=panel: p.isVisible(), timeout=WAIT_MS)
    qtbot.wait(100)  # what the first refreshes fill in
    assert window.isAncestorOf(window.jobs_view) and window.isAncestorOf(window.log_view)  # the docks are audited
    missing = _missing(window, allowed=OWNED_BY_WINDOW)
    assert missing == [], _report(missing)


def test_every_setting_has_a_tooltip_and_it_is_the_settings_explanation(window) -> None:  # type: ignore[no-untyped-def]
    window.show_settings()
    dialog: SettingsDialog = window.settings_dialog
    missing = _missing(dialog)
    assert missing == [], _report(missing)
    assert all(field.widget.toolTip() == dialog.rows[name][2].text() for name, field in dialog.fields.items())


def test_controls_made_later_have_tooltips_too(make_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core

    # Models: the provider, passphrase and key dialogs; a detected server's row; price rows.
    models = window.show_panel("models")
    core.providers.save(ProviderConfig(name="cloud", kind="openai", preset="custom", base_url="http://127.0.0.1:9/v1"))
    providers = models.providers_tab
    providers.open_provider_dialog()
    providers.open_passphrase_dialog()
    providers.open_key_dialog("cloud")
    providers.detected.show_servers([DetectedServer(PRESETS["ollama"], "http://127.0.0.1:11434/v1", ["llama3"])])
    models.assignment_tab.prices.set_prices({}, ["cloud/model-a"])

    # Pipeline editor: the properties of a node of every type (every kind of parameter editor).
    pipeline = window.show_panel("pipeline")
    for node_type in pipeline.registry.types():
        node = Node(id="n1", type=node_type.type, params={p.name: p.default for p in node_type.params})
        pipeline.properties.show_node(node, node_type)
        missing = _missing(pipeline.properties)
        assert missing == [], f"node type {node_type.type}: " + _report(missing)

    # Modules: the credentials dialog.
    modules = window.show_panel("modules")
    modules.credentials_dialog = CredentialsDialog(
        "demo", [CredentialSpec(name="API_KEY", label="API key"), CredentialSpec(name="ACCOUNT", label="Account",
                                                                             required=False)],
        {"API_KEY": True}, modules)

    # Chat: a conversation with a question, an answer that called a tool (opened), and the question being edited.
    chat = window.show_panel("chat")
    conv = chat.conversations.create("Tooltips")
    chat.conversations.append(conv.id, "user", "What is on example.com?")
    chat.conversations.append(conv.id, "assistant", "Let me look.",
                              tool_calls=[ToolCall("call-1", "web_fetch", '{"url": "https://example.com"}')])
    qtbot.waitUntil(lambda: conv.id in chat.conversation_list.ids(), timeout=WAIT_MS)
    chat.conversation_list.list.setCurrentItem(chat.conversation_list.item_for(conv.id))
    qtbot.waitUntil(lambda: len(chat.message_widgets()) == 2 and not chat.view.loading, timeout=WAIT_MS)
    cards = chat.findChildren(ToolCard)
    assert cards
    for card in cards:
        card.set_expanded(True)
    question = chat.message_widgets()[0]
    assert question.user_body is not None
    question.user_body.start_edit()

    missing = _missing(window, allowed=OWNED_BY_WINDOW)
    assert missing == [], _report(missing)
