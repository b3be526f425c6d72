"""The Server panel through its widgets: start and stop the local API, its token (show, copy, rotate), the
settings it saves, and the request log filling as a real `openai` client calls it."""

from __future__ import annotations

import socket

import openai
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit, QMessageBox

from app.panels.server.panel import ServerPanel
from nexus_core.config import load_settings
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring


@pytest.fixture
def panel(make_window, qtbot):  # type: ignore[no-untyped-def]
    window = make_window(keyring_backend=MemoryKeyring())
    window.ctx.core.settings.server_port = 0  # a free port
    shown = window.show_panel("server")
    assert isinstance(shown, ServerPanel)
    return shown


def _start(panel: ServerPanel, qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.ctx.core.server.state.running and panel._pending is None, timeout=10_000)


def test_start_call_and_stop_the_server_from_the_panel(panel: ServerPanel, qtbot) -> None:  # type: ignore[no-untyped-def]
    core = panel.ctx.core
    with ScriptedOpenAIServer(models=["m1"]) as upstream:
        add_provider(core, upstream)
        route_all(core, "loc/m1")
        assert panel.state_label.text() == "Stopped" and panel.toggle.text() == "Start server"
        _start(panel, qtbot)
        base_url = core.server.state.base_url
        assert panel.state_label.text() == f"Running at {base_url}" and panel.toggle.text() == "Stop server"
        assert panel.token_field.text() == core.server.token()
        assert panel.token_field.echoMode() == QLineEdit.EchoMode.Password
        assert base_url in panel.example.toPlainText() and "nexus/auto" in panel.models.text()
        upstream.script(text(["hi from the panel"]))
        with openai.OpenAI(base_url=base_url, api_key=panel.token_field.text(), max_retries=0) as client:
            answer = client.chat.completions.create(model="nexus/auto", messages=[{"role": "user", "content": "hi"}],
                                                    user="panel-test")
        assert answer.choices[0].message.content == "hi from the panel"
        qtbot.waitUntil(lambda: panel.log.rowCount() == 1, timeout=5_000)
        row = [panel.log.item(0, c).text() for c in range(panel.log.columnCount())]
        assert row[1:5] == ["panel-test", "POST /v1/chat/completions", "loc/m1", "200"]
        assert "1 served" in panel.counts.text()
        qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not core.server.state.running and panel._pending is None, timeout=10_000)
        assert panel.state_label.text() == "Stopped"
        with pytest.raises(openai.APIConnectionError), openai.OpenAI(base_url=base_url, api_key="x",
                                                                     max_retries=0) as client:
            client.models.list()


def test_the_token_is_shown_copied_and_rotated(panel: ServerPanel, qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _start(panel, qtbot)
    old = panel.token_field.text()
    qtbot.mouseClick(panel.show_token, Qt.MouseButton.LeftButton)
    assert panel.token_field.echoMode() == QLineEdit.EchoMode.Normal and panel.show_token.text() == "Hide"
    qtbot.mouseClick(panel.copy_token, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == old
    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.No)
    qtbot.mouseClick(panel.rotate, Qt.MouseButton.LeftButton)
    assert panel.token_field.text() == old  # not confirmed: nothing changes
    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.rotate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.token_field.text() != old, timeout=5_000)
    assert "new token" in panel.status.text()
    with openai.OpenAI(base_url=panel.ctx.core.server.state.base_url, api_key=old, max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        assert client.with_options(api_key=panel.token_field.text()).models.list().data


def test_settings_are_saved_and_bad_origins_named(panel: ServerPanel, qtbot) -> None:  # type: ignore[no-untyped-def]
    core = panel.ctx.core
    panel.cors.setText("localhost:3000")
    panel.cors.editingFinished.emit()
    assert panel.status.is_error and "'localhost:3000' is not a web origin" in panel.status.text()
    assert core.settings.server_cors_origins == []
    panel.cors.setText("http://localhost:3000, https://app.example")
    panel.cors.editingFinished.emit()
    panel.port.setValue(7123)
    panel.address.setCurrentIndex(panel.address.findData("0.0.0.0"))
    panel.autostart.setChecked(True)
    saved = load_settings(core.paths.settings_file).settings
    assert saved.server_cors_origins == ["http://localhost:3000", "https://app.example"]
    assert (saved.server_port, saved.server_host, saved.server_enabled) == (7123, "0.0.0.0", True)
    assert "127.0.0.1:7123" in panel.example.toPlainText()


def test_a_busy_port_is_reported_in_the_panel(panel: ServerPanel, qtbot) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        panel.port.setValue(taken.getsockname()[1])
        qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.status.is_error, timeout=10_000)
    assert "already in use" in panel.status.text() and panel.state_label.text() == "Stopped"
    assert not panel.toggle.isChecked() and panel.toggle.isEnabled()
