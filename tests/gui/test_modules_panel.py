"""The Modules panel through its widgets: health matrix, start/stop, credentials, install, versions, remove."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.panels.modules.modules_table import NAME, STATE
from app.panels.modules.panel import ModulesPanel
from app.window import MainWindow
from tests.support.memory_keyring import MemoryKeyring
from tests.support.module_factory import make_module


@pytest.fixture
def window(make_window):  # type: ignore[no-untyped-def]
    return make_window(keyring_backend=MemoryKeyring())


def _panel(window: MainWindow) -> ModulesPanel:
    panel = window.show_panel("modules")
    assert isinstance(panel, ModulesPanel)
    return panel


def _click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _state(panel: ModulesPanel, name: str) -> str:
    for row in range(panel.table.rowCount()):
        if panel.table.item(row, NAME).data(Qt.ItemDataRole.UserRole) == name:
            return panel.table.item(row, STATE).text()
    raise AssertionError(f"no row for {name}")


def _idle(panel: ModulesPanel) -> bool:
    return not panel._jobs


def test_builtins_are_listed_with_their_health(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    names = {panel.table.item(r, NAME).data(Qt.ItemDataRole.UserRole) for r in range(panel.table.rowCount())}
    assert {"weather_openmeteo", "weather_openweather", "exchange_rates", "wikipedia"} <= names
    assert _state(panel, "weather_openweather") == "Needs credentials"
    assert panel.table.health_of("weather_openweather") == "yellow"
    assert panel.table.health_of("exchange_rates") == "grey"
    panel.table.select("weather_openweather")
    assert "OpenWeather API key" in panel.details.overview.toPlainText()
    assert not panel.start_button.isEnabled() and panel.credentials_button.isEnabled()
    assert not panel.remove_button.isEnabled()  # built in: disable, not remove


def test_start_shows_green_and_its_tools_then_stop(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    panel.table.select("exchange_rates")
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: _state(panel, "exchange_rates") == "Running" and _idle(panel), timeout=30_000)
    assert panel.table.health_of("exchange_rates") == "green"
    assert "exchange_rates__convert" in panel.details.overview.toPlainText()
    assert window.ctx.core.tools.get("exchange_rates__convert") is not None
    assert panel.start_button.text() == "Stop"
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: _state(panel, "exchange_rates") == "Stopped" and _idle(panel), timeout=10_000)
    assert window.ctx.core.tools.get("exchange_rates__convert") is None


def test_credentials_dialog_stores_the_key_hidden(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    panel.table.select("weather_openweather")
    _click(qtbot, panel.credentials_button)
    dialog = panel.credentials_dialog
    assert dialog is not None and dialog.isVisible()
    edit = dialog.edits["API_KEY"]
    assert edit.echoMode() == edit.EchoMode.Password
    qtbot.keyClicks(edit, "ow-key-123456")
    _click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: _state(panel, "weather_openweather") == "Stopped" and _idle(panel), timeout=10_000)
    assert window.ctx.core.credentials.get("module:weather_openweather:API_KEY") == "ow-key-123456"
    assert edit.text() == ""  # not left in the widget
    assert "ow-key-123456" not in panel.details.overview.toPlainText()
    assert "set" in panel.details.overview.toPlainText()


def test_install_from_a_folder_then_roll_back_and_remove(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    panel.confirm = lambda _title, _text: True
    panel.choose_folder = lambda: str(make_module(tmp_path / "v1"))
    _click(qtbot, panel.install_button)
    qtbot.waitUntil(lambda: panel.install_dialog is not None and panel.install_dialog.isVisible(), timeout=30_000)
    dialog = panel.install_dialog
    assert "All checks passed" in dialog.body.toPlainText() and "tests" in dialog.body.toPlainText()
    _click(qtbot, dialog.install_button)
    qtbot.waitUntil(lambda: panel.table.select("lab") and _state(panel, "lab") == "Running" and _idle(panel),
                    timeout=30_000)
    assert window.ctx.core.modules.call("lab", "echo", {"text": "hello"}) == {"echo": "hello"}
    panel.table.select("lab")
    _click(qtbot, panel.details.log_refresh)
    assert "echo called with 'hello'" in panel.details.log_view.toPlainText()

    panel.choose_folder = lambda: str(make_module(tmp_path / "v2", version="1.1.0"))
    _click(qtbot, panel.install_button)
    qtbot.waitUntil(lambda: panel.install_dialog is not dialog and panel.install_dialog.isVisible(), timeout=30_000)
    _click(qtbot, panel.install_dialog.install_button)
    qtbot.waitUntil(lambda: window.ctx.core.modules.status("lab").version == "1.1.0" and _idle(panel),
                    timeout=30_000)
    panel.table.select("lab")
    versions = panel.details.versions
    assert versions.count() == 2 and "← active" in versions.item(0).text()
    versions.setCurrentRow(1)
    _click(qtbot, panel.details.rollback_button)
    qtbot.waitUntil(lambda: window.ctx.core.modules.status("lab").version == "1.0.0" and _idle(panel),
                    timeout=30_000)
    panel.table.select("lab")
    _click(qtbot, panel.remove_button)
    qtbot.waitUntil(lambda: not panel.table.select("lab") and _idle(panel), timeout=10_000)


def test_a_failing_module_turns_red_and_a_broken_one_cannot_be_installed(window, qtbot,
                                                                          tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core = window.ctx.core
    core.modules.install(make_module(tmp_path / "ok"), approved_by="test", load=False)
    core.modules.set_config("lab", {"base_url": "http://127.0.0.1:9"})  # nothing listens there
    panel = _panel(window)
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 - each failure is checked by the circuit state below
            core.modules.call("lab", "fetch", {"path": "/"})
    qtbot.waitUntil(lambda: panel.table.health_of("lab") == "red", timeout=5000)
    panel.table.select("lab")
    assert "Last error: HTTP 502" in panel.details.overview.toPlainText()  # the proxy could not connect
    assert panel.details.health.rowCount() >= 3

    panel.choose_folder = lambda: str(make_module(tmp_path / "bad", "bad", adapter="import subprocess\n"))
    _click(qtbot, panel.install_button)
    qtbot.waitUntil(lambda: panel.install_dialog is not None and panel.install_dialog.isVisible(), timeout=30_000)
    assert not panel.install_dialog.install_button.isEnabled()
    assert "subprocess" in panel.install_dialog.body.toPlainText()
    panel.install_dialog.reject()
