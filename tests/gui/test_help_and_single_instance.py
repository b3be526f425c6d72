"""Help through the window: the keyboard-shortcut sheet, Copy diagnostics (no secrets), and the single-instance
guard that brings the running window to the front when the app is launched again on the same data folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication

from app.panels import registered_panels
from app.single_instance import SingleInstance
from tests.support.memory_keyring import MemoryKeyring


def test_the_shortcut_sheet_lists_the_menus_keys_and_the_editors(make_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if a.text() == "Keyboard shortcuts").trigger()
    from PySide6.QtWidgets import QTableWidget

    table = window.shortcuts_dialog.findChild(QTableWidget)
    rows = dict(window.shortcut_rows())
    first = registered_panels()[0]
    assert rows["Ctrl+1"] == f"View → {first.title}" and rows["F1"] == "Help → Keyboard shortcuts"
    assert rows["Shift+Enter"].startswith("Chat") and "Pipeline editor: undo / redo" in rows.values()
    assert window.shortcuts_dialog.isVisible() and table.rowCount() == len(window.shortcut_rows())
    keys = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "Ctrl+1" in keys and "Enter" in keys


def test_copy_diagnostics_puts_a_report_without_secrets_on_the_clipboard(make_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(keyring_backend=MemoryKeyring())
    from nexus_core.providers.config import ProviderConfig

    core = window.ctx.core
    core.providers.save(ProviderConfig(name="cloud", kind="openai", preset="custom", base_url="http://127.0.0.1:9/v1"))
    core.providers.set_api_key("cloud", "sk-gui-diag-5d1e0c3b7a9f")
    QGuiApplication.clipboard().clear()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if a.text() == "Copy diagnostics").trigger()
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text().startswith("# Nexus Studio"), timeout=10_000)
    text = QGuiApplication.clipboard().text()
    assert "- cloud: openai" in text and "key stored" in text and "sk-gui-diag-5d1e0c3b7a9f" not in text
    assert "Diagnostics copied" in window.statusBar().currentMessage()


def test_a_second_launch_brings_the_running_window_forward(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    running = SingleInstance(tmp_path / "data")
    asked: list[bool] = []
    assert running.listen(lambda: asked.append(True))
    try:
        assert SingleInstance(tmp_path / "data").activate_running()
        qtbot.waitUntil(lambda: asked == [True], timeout=5_000)
        assert not SingleInstance(tmp_path / "other-data").activate_running(timeout_ms=200)
    finally:
        running.close()
    assert not SingleInstance(tmp_path / "data").activate_running(timeout_ms=200)  # gone once it closed
