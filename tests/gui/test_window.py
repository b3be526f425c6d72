"""The main window: panel navigation, docks, persisted layout, theme, status bar, About."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.panels import Panel, registered_panels


def test_every_registered_panel_is_reachable_from_the_navigation(window, qtbot) -> None:
    specs = registered_panels()
    assert specs, "at least the Monitor panel is registered"
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == [s.title for s in specs]
    for row, spec in enumerate(specs):
        item = window.nav.item(row)
        rect = window.nav.visualItemRect(item)
        qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert window.current_panel_id() == spec.id
        shown = window.stack.currentWidget()
        assert shown is window.slots[spec.id]
        assert isinstance(shown.panel, Panel)
        assert shown.panel.isVisible()


def test_panels_are_created_only_when_first_shown(window) -> None:
    assert all(slot.panel is None for slot in window.slots.values())
    panel = window.show_panel("monitor")
    assert window.slots["monitor"].panel is panel


def test_view_menu_shortcuts_switch_panels(window, qtbot) -> None:
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    specs = registered_panels()
    for number, spec in enumerate(specs, start=1):  # Ctrl+1 … Ctrl+9 for the first nine panels
        action = next(a for a in view_menu.actions() if a.text() == spec.title)
        assert action.shortcut().toString() == (f"Ctrl+{number}" if number <= 9 else "")
    action = next(a for a in view_menu.actions() if a.text() == specs[8].title)
    action.trigger()
    assert window.current_panel_id() == specs[8].id
    next(a for a in view_menu.actions() if a.text() == "Monitor").trigger()
    assert window.current_panel_id() == "monitor"


def test_layout_geometry_and_last_panel_survive_a_restart(make_window, qtbot, nexus_home) -> None:
    first = make_window()
    first.show_panel("monitor")
    screen = first.screen().availableGeometry()
    width, height = min(1111, screen.width() - 50), min(777, screen.height() - 50)
    first.resize(width, height)
    first.log_dock.hide()
    qtbot.wait(50)
    first.close()
    assert (nexus_home / "ui-state.json").exists()

    second = make_window()
    panel_id = second.restore_ui_state()
    assert panel_id == "monitor"
    assert (second.size().width(), second.size().height()) == (width, height)
    assert second.log_dock.isHidden()
    assert not second.jobs_dock.isHidden()


def test_a_damaged_layout_file_falls_back_to_the_default_layout(make_window, nexus_home) -> None:
    nexus_home.mkdir(parents=True, exist_ok=True)
    (nexus_home / "ui-state.json").write_text("{not json")
    window = make_window()
    assert window.restore_ui_state() == registered_panels()[0].id
    window.close()
    assert '"version": 1' in (nexus_home / "ui-state.json").read_text()


def test_theme_menu_switches_palette_and_is_remembered(window) -> None:
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    theme_menu = next(a.menu() for a in view_menu.actions() if a.text() == "Theme")
    dark = next(a for a in theme_menu.actions() if a.data() == "dark")
    light = next(a for a in theme_menu.actions() if a.data() == "light")
    dark.trigger()
    dark_window = QApplication.palette().color(QPalette.ColorRole.Window)
    assert dark_window.lightness() < 80
    assert window.ctx.core.settings.theme == "dark"
    assert '"theme": "dark"' in window.ctx.core.paths.settings_file.read_text()
    light.trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_status_bar_shows_device_summary_and_job_count(window, qtbot) -> None:
    assert window.jobs_button.text() == "No jobs running"
    window.ctx.core.telemetry.sample_once()
    qtbot.waitUntil(lambda: "RAM" in window.device_label.text(), timeout=3000)
    assert "No NVIDIA GPU" in window.device_label.text()


def test_jobs_button_reveals_the_jobs_dock(window, qtbot) -> None:
    window.jobs_dock.hide()
    qtbot.mouseClick(window.jobs_button, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert window.jobs_dock.isVisible()


def test_about_lists_versions_and_gpu(window) -> None:
    text = window.about_text()
    assert "Nexus Studio" in text
    assert "PySide6-Essentials" in text
    assert window.ctx.core.telemetry.open().reason.split(" (")[0] in text


def test_log_view_starts_with_the_log_file_tail_and_follows_new_records(window, qtbot) -> None:
    import logging

    shown = window.log_view.text.toPlainText()
    assert "applying store migration 0001_initial" in shown  # written before the window existed
    logging.getLogger("nexus_core.test").warning("disk is almost full api_key=hunter2hunter2")
    qtbot.waitUntil(lambda: "disk is almost full" in window.log_view.text.toPlainText(), timeout=3000)
    assert "hunter2hunter2" not in window.log_view.text.toPlainText()


def test_closing_with_running_jobs_asks_first(window, qtbot, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    def spin(ctx) -> None:
        while True:
            ctx.sleep(0.02)

    handle = window.ctx.core.runner.submit(spin, name="Long training run")
    qtbot.waitUntil(lambda: window.ctx.core.runner.active_count() == 1, timeout=3000)
    window.confirm_close = True
    asked: list[str] = []

    def answer(choice):
        def question(_parent, _title, text, *args, **kwargs):
            asked.append(text)
            return choice
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    window.close()
    assert window.isVisible() and "1 background job is still running" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.close()
    assert not window.isVisible()
    handle.cancel()
    handle.wait(5)
