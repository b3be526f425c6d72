"""The Models panel over a real core: providers (dialogs, keys, model lists, detection) and the assignment table."""

from __future__ import annotations

import logging

from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox

from app.panels.models.assignment_tab import AssignmentTab
from app.panels.models.panel import ModelsPanel
from app.panels.models.providers_tab import ProvidersTab
from app.panels.models.providers_table import COLUMNS
from app.window import MainWindow
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.classify import TaskType, Tier
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring

KEY = "sk-lab-0123456789abcdefXYZ"


def _panel(window: MainWindow) -> ModelsPanel:
    panel = window.show_panel("models")
    assert isinstance(panel, ModelsPanel)
    return panel


def _providers(window: MainWindow) -> ProvidersTab:
    panel = _panel(window)
    panel.tabs.setCurrentWidget(panel.providers_tab)
    return panel.providers_tab


def _assignment(window: MainWindow) -> AssignmentTab:
    panel = _panel(window)
    panel.tabs.setCurrentWidget(panel.assignment_tab)
    return panel.assignment_tab


def _save(window: MainWindow, name: str, base_url: str = "http://127.0.0.1:9/v1", models: tuple[str, ...] = ()) -> None:
    window.ctx.core.providers.save(ProviderConfig(name=name, kind="openai", preset="custom", base_url=base_url,
                                                 models=list(models)))


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _table_text(panel: ModelsPanel) -> str:
    table = panel.providers_tab.table
    return "\n".join(table.item(r, c).text() for r in range(table.rowCount()) for c in range(table.columnCount()))


# -- providers ---------------------------------------------------------------------------------------------------


def test_adding_a_provider_through_the_dialog_saves_it(window, qtbot) -> None:
    tab = _providers(window)
    _click(qtbot, tab.add_button)
    dialog = tab.provider_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("lmstudio"))
    assert dialog.base_url_edit.text() == "http://127.0.0.1:1234/v1"  # the preset filled it
    assert dialog.name_edit.text() == "lmstudio"
    dialog.name_edit.setText("studio-box")
    dialog.base_url_edit.setText("http://10.0.0.5:1234/v1/")
    dialog.key_env_edit.setText("STUDIO_KEY")
    dialog.timeout_spin.setValue(30)
    _click(qtbot, dialog.save_button)

    assert not dialog.isVisible()
    saved = window.ctx.core.providers.config("studio-box")
    assert saved is not None
    assert (saved.kind, saved.preset, saved.base_url, saved.key_env, saved.timeout_s, saved.enabled) == (
        "openai", "lmstudio", "http://10.0.0.5:1234/v1", "STUDIO_KEY", 30.0, True)
    row = tab.row_texts("studio-box")
    assert row["Type"] == "LM Studio" and row["Address"] == "http://10.0.0.5:1234/v1"
    assert row["Key"] == "none" and row["Models"] == "0" and row["Enabled"] == "Yes"
    assert tab.selected_name() == "studio-box"


def test_invalid_fields_are_named_inline_and_the_dialog_stays_open(window, qtbot) -> None:
    _save(window, "taken")
    tab = _providers(window)
    dialog = tab.open_provider_dialog()
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("custom"))
    dialog.name_edit.setText("has space")
    dialog.base_url_edit.setText("ftp://example.com")
    _click(qtbot, dialog.save_button)
    assert dialog.isVisible()
    assert dialog.field_errors["base_url"].isVisible()
    assert dialog.field_errors["base_url"].text().startswith("Base URL:")
    assert "http://" in dialog.field_errors["base_url"].text()
    assert dialog.field_errors["name"].text().startswith("Name:")
    assert dialog.base_url_edit.text() == "ftp://example.com"  # nothing typed is lost

    dialog.name_edit.setText("lab")
    dialog.base_url_edit.setText("")  # pydantic accepts it; check_complete() does not
    _click(qtbot, dialog.save_button)
    assert dialog.isVisible() and not dialog.field_errors["base_url"].isVisible()
    assert "no base URL" in dialog.form_error.text()

    dialog.name_edit.setText("taken")
    dialog.base_url_edit.setText("http://127.0.0.1:8081/v1")
    _click(qtbot, dialog.save_button)
    assert dialog.isVisible() and "already exists" in dialog.field_errors["name"].text()
    assert [c.name for c in window.ctx.core.providers.configs()] == ["taken"]

    dialog.name_edit.setText("lab")
    _click(qtbot, dialog.save_button)
    assert not dialog.isVisible()
    assert window.ctx.core.providers.config("lab").base_url == "http://127.0.0.1:8081/v1"


def test_setting_a_key_stores_it_and_never_shows_it(make_window, qtbot) -> None:
    window = make_window(keyring_backend=MemoryKeyring())
    _save(window, "lab")
    tab = _providers(window)
    assert not tab.store_banner.isVisible()  # keyring mode needs no banner
    tab.select("lab")
    _click(qtbot, tab.key_button)
    dialog = tab.key_dialog
    assert tab.passphrase_dialog is None and dialog is not None and dialog.isVisible()
    assert dialog.key_edit.echoMode() == QLineEdit.EchoMode.Password
    dialog.key_edit.setText(KEY)
    _click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)

    assert window.ctx.core.credentials.get("provider:lab") == KEY
    qtbot.waitUntil(lambda: tab.row_texts("lab")["Key"] == "stored", timeout=3000)
    assert KEY not in _table_text(_panel(window))
    assert dialog.key_edit.text() == ""
    reopened = tab.open_key_dialog("lab")
    assert reopened.key_edit.text() == "" and reopened.forget_button.isEnabled()
    reopened.reject()
    for handler in logging.getLogger().handlers:
        handler.flush()
    log_text = window.ctx.core.paths.log_file.read_text(encoding="utf-8")
    assert log_text and KEY not in log_text


def test_passphrase_mode_asks_for_a_new_passphrase_before_the_first_key(make_window, qtbot) -> None:
    window = make_window(keyring_backend=fail.Keyring())
    store = window.ctx.core.credentials
    assert store.mode == "passphrase" and store.needs_new_passphrase
    _save(window, "lab")
    tab = _providers(window)
    assert tab.store_banner.isVisible() and "passphrase" in tab.store_banner.text()
    tab.select("lab")
    _click(qtbot, tab.key_button)
    ask = tab.passphrase_dialog
    assert ask is not None and ask.isVisible() and tab.key_dialog is None
    assert ask.new_mode and ask.confirm_edit.isVisible()
    assert ask.warning_label.isVisible() and ask.warning_label.text() == store.warning

    ask.passphrase_edit.setText("short")
    ask.confirm_edit.setText("short")
    _click(qtbot, ask.ok_button)
    qtbot.waitUntil(lambda: "too short" in ask.error_label.text(), timeout=5000)
    assert ask.isVisible() and store.needs_new_passphrase

    ask.passphrase_edit.setText("correct horse battery")
    ask.confirm_edit.setText("correct horse battery!")
    _click(qtbot, ask.ok_button)
    assert "do not match" in ask.error_label.text() and ask.isVisible()

    ask.confirm_edit.setText("correct horse battery")
    _click(qtbot, ask.ok_button)
    qtbot.waitUntil(lambda: tab.key_dialog is not None and tab.key_dialog.isVisible(), timeout=10_000)
    assert not ask.isVisible() and not store.locked
    tab.key_dialog.key_edit.setText(KEY)
    _click(qtbot, tab.key_dialog.save_button)
    qtbot.waitUntil(lambda: tab.row_texts("lab")["Key"] == "stored", timeout=5000)
    assert store.get("provider:lab") == KEY


def test_removing_a_provider_asks_first_and_deletes_its_key(make_window, qtbot) -> None:
    window = make_window(keyring_backend=MemoryKeyring())
    core = window.ctx.core
    _save(window, "lab")
    _save(window, "other")
    core.providers.set_api_key("lab", KEY)
    tab = _providers(window)
    tab.select("lab")
    _click(qtbot, tab.remove_button)
    box = tab.remove_box
    assert box is not None and "lab" in box.text()
    _click(qtbot, box.button(QMessageBox.StandardButton.No))
    assert core.providers.config("lab") is not None

    tab.select("lab")
    _click(qtbot, tab.remove_button)
    _click(qtbot, tab.remove_box.button(QMessageBox.StandardButton.Yes))
    qtbot.waitUntil(lambda: tab.row_texts("lab") == {}, timeout=3000)
    assert core.providers.config("lab") is None and core.credentials.get("provider:lab") is None
    assert tab.row_texts("other")["Name"] == "other"


def test_refresh_models_lists_the_servers_models(window, qtbot) -> None:
    with ScriptedOpenAIServer(models=["alpha-7b", "beta-70b"]) as server:
        _save(window, "lab", server.base_url)
        tab = _providers(window)
        tab.select("lab")
        _click(qtbot, tab.refresh_button)
        qtbot.waitUntil(lambda: "'lab' lists 2 models" in tab.status_label.text(), timeout=10_000)
    assert window.ctx.core.providers.config("lab").models == ["alpha-7b", "beta-70b"]
    qtbot.waitUntil(lambda: tab.row_texts("lab")["Models"] == "2", timeout=3000)
    assert not tab.status_label.is_error and tab.refresh_button.isEnabled()
    assert "alpha-7b" in tab.table.item(0, COLUMNS.index("Models")).toolTip()


def test_a_refused_key_shows_a_readable_error_naming_the_provider(window, qtbot) -> None:
    with ScriptedOpenAIServer(api_key="sk-right-key-123456") as server:
        _save(window, "guarded", server.base_url)
        tab = _providers(window)
        tab.select("guarded")
        _click(qtbot, tab.refresh_button)
        qtbot.waitUntil(lambda: tab.status_label.is_error, timeout=10_000)
    message = tab.status_label.text()
    assert "'guarded'" in message and "HTTP 401" in message
    assert "API key saved for provider 'guarded'" in message  # says which key to fix
    assert "Traceback" not in message
    assert tab.refresh_button.isEnabled()  # ready to try again


def test_detect_local_servers_lists_them_and_adds_one_with_a_click(window, qtbot) -> None:
    with ScriptedOpenAIServer(models=["llama3.2:3b"], ollama=True) as server:
        panel = _panel(window)
        panel.detect_ports = {"ollama": server.port, "lmstudio": 0, "llamacpp": 0, "vllm": 0}
        tab = _providers(window)
        _click(qtbot, tab.detect_button)
        qtbot.waitUntil(lambda: "ollama" in tab.detected.add_buttons, timeout=10_000)
    assert tab.detected.isVisible()
    assert "Ollama" in tab.detected.labels["ollama"].text() and "llama3.2:3b" in tab.detected.labels["ollama"].text()
    assert list(tab.detected.add_buttons) == ["ollama"]
    _click(qtbot, tab.detected.add_buttons["ollama"])
    saved = window.ctx.core.providers.config("ollama")
    assert saved is not None and saved.preset == "ollama"
    assert saved.base_url == server.base_url and saved.models == ["llama3.2:3b"]
    assert tab.row_texts("ollama")["Type"] == "Ollama"
    assert not tab.detected.add_buttons["ollama"].isEnabled()  # cannot be added twice


# -- assignment -------------------------------------------------------------------------------------------------


def test_assignment_edits_apply_to_the_routing_table(window, qtbot) -> None:
    tab = _assignment(window)
    _save(window, "ollama", models=("llama3.2:3b", "qwen2.5:7b"))
    _save(window, "cloud", models=("big-model",))
    heavy = tab.tier_model_combo(Tier.HEAVY)
    assert heavy.choices() == ["ollama/llama3.2:3b", "ollama/qwen2.5:7b", "cloud/big-model"]
    assert not tab.dirty and not tab.apply_button.isEnabled()

    heavy.setCurrentIndex(heavy.findText("cloud/big-model"))
    tab.tier_fallbacks_edit(Tier.HEAVY).setText("ollama/qwen2.5:7b, ollama/llama3.2:3b")
    tab.tier_model_combo(Tier.STANDARD).setCurrentIndex(1)
    tab.task_model_combo(TaskType.MATH).setEditText("cloud/typed-math-model")
    tab.task_fallbacks_edit(TaskType.MATH).setText("cloud/big-model")
    tab.retries_spin.setValue(4)
    tab.cooldown_spin.setValue(15)
    price_in, price_out = tab.price_edits("cloud/big-model")
    price_in.setText("1.5")
    price_out.setText("6")
    assert tab.dirty and tab.dirty_label.isVisible() and tab.apply_button.isEnabled()
    _click(qtbot, tab.apply_button)

    table = window.ctx.core.routing.table
    assert table.tiers[Tier.HEAVY] == Assignment(model="cloud/big-model",
                                                 fallbacks=["ollama/qwen2.5:7b", "ollama/llama3.2:3b"])
    assert table.tiers[Tier.STANDARD].model == "ollama/llama3.2:3b"
    assert table.tasks[TaskType.MATH] == Assignment(model="cloud/typed-math-model", fallbacks=["cloud/big-model"])
    assert TaskType.CHAT not in table.tasks  # "— tier default —" rows stay out of the table
    assert (table.max_retries, table.cooldown_s) == (4, 15.0)
    assert table.prices["cloud/big-model"].input_per_mtok == 1.5
    assert table.prices["cloud/big-model"].output_per_mtok == 6.0
    assert not tab.dirty and not tab.dirty_label.isVisible() and not tab.error_label.is_error


def test_a_bad_fallback_is_named_and_nothing_is_saved(window, qtbot) -> None:
    tab = _assignment(window)
    tab.tier_model_combo(Tier.STANDARD).setEditText("ollama/llama3.2:3b")
    tab.task_fallbacks_edit(TaskType.TRANSLATION).setText("ollama/llama3.2:3b, just-a-name")
    _click(qtbot, tab.apply_button)
    assert tab.error_label.is_error and tab.error_label.isVisible()
    assert "Task type 'Translation'" in tab.error_label.text() and "'just-a-name'" in tab.error_label.text()
    assert window.ctx.core.routing.table == RoutingTable()
    assert tab.dirty  # the edits are still there to fix

    _click(qtbot, tab.revert_button)
    assert not tab.dirty and tab.tier_model_combo(Tier.STANDARD).value() is None
    assert tab.task_fallbacks_edit(TaskType.TRANSLATION).text() == ""


def test_try_routing_shows_the_task_type_tier_and_model(window, qtbot) -> None:
    window.ctx.core.routing.save(RoutingTable(tiers={Tier.HEAVY: Assignment(model="cloud/big-model",
                                                                            fallbacks=["ollama/qwen2.5:7b"])}))
    tab = _assignment(window)
    qtbot.keyClicks(tab.try_box, "write a python function")
    result = tab.try_result.text()
    assert "code_generation" in result and "heavy tier" in result
    assert "cloud/big-model → ollama/qwen2.5:7b" in result

    tab.task_model_combo(TaskType.CODE_GENERATION).setEditText("ollama/coder")  # unsaved edits preview live
    assert "ollama/coder → cloud/big-model" in tab.try_result.text()
    assert "unsaved" in tab.try_result.text()


def test_an_external_save_refreshes_the_view_unless_there_are_unsaved_edits(window, qtbot) -> None:
    tab = _assignment(window)
    routing = window.ctx.core.routing
    routing.save(RoutingTable(tiers={Tier.STANDARD: Assignment(model="ollama/llama3.2:3b")}, max_retries=5))
    qtbot.waitUntil(lambda: tab.tier_model_combo(Tier.STANDARD).value() == "ollama/llama3.2:3b", timeout=3000)
    assert tab.retries_spin.value() == 5 and not tab.dirty

    tab.tier_model_combo(Tier.ULTRA).setEditText("cloud/huge")
    routing.save(RoutingTable(tiers={Tier.STANDARD: Assignment(model="ollama/other")}))
    qtbot.waitUntil(tab.external_label.isVisible, timeout=3000)
    assert tab.tier_model_combo(Tier.ULTRA).value() == "cloud/huge"  # the edit is kept
    assert tab.tier_model_combo(Tier.STANDARD).value() == "ollama/llama3.2:3b"
    _click(qtbot, tab.revert_button)
    assert tab.tier_model_combo(Tier.STANDARD).value() == "ollama/other"
    assert tab.tier_model_combo(Tier.ULTRA).value() is None and not tab.external_label.isVisible()


def test_editing_a_provider_renames_it_and_its_key_follows(make_window, qtbot) -> None:
    window = make_window(keyring_backend=MemoryKeyring())
    assert window.panel_ids().index("models") < window.panel_ids().index("monitor")
    core = window.ctx.core
    _save(window, "lab")
    core.providers.set_api_key("lab", KEY)
    tab = _providers(window)
    tab.select("lab")
    _click(qtbot, tab.edit_button)
    dialog = tab.provider_dialog
    assert dialog.name_edit.text() == "lab" and dialog.base_url_edit.text() == "http://127.0.0.1:9/v1"
    dialog.name_edit.setText("lab2")
    dialog.enabled_check.setChecked(False)
    _click(qtbot, dialog.save_button)
    assert not dialog.isVisible()
    assert core.providers.config("lab") is None and core.providers.config("lab2").enabled is False
    assert core.credentials.get("provider:lab2") == KEY and core.credentials.get("provider:lab") is None
    assert tab.row_texts("lab2")["Key"] == "stored" and tab.row_texts("lab2")["Enabled"] == "No"
