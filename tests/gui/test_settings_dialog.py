"""The settings dialog through its widgets: every setting with its explanation, search, a bad value named with
nothing saved, live changes applied and restart-only ones said so, the file rewritten."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from app.dialogs.settings import SettingsDialog
from nexus_core.config import Settings, load_settings


def _dialog(window) -> SettingsDialog:  # type: ignore[no-untyped-def]
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    action = next(a for a in file_menu.actions() if a.text() == "Settings…")
    assert action.shortcut().toString() == "Ctrl+,"
    action.trigger()
    return window.settings_dialog


def test_every_setting_is_there_with_its_explanation_and_search_finds_them(make_window) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(make_window())
    assert set(dialog.fields) == set(Settings.model_fields) - {"schema_version", "first_run_done"}
    assert all(note.text() for _label, _holder, note in dialog.rows.values())
    dialog.search.setText("server")
    shown = dialog.visible_settings()
    assert {n for n in Settings.model_fields if n.startswith("server_")} <= set(shown)
    assert all("server" in n or "server" in dialog.rows[n][2].text().lower() for n in shown)
    dialog.search.setText("prometheus port")
    assert dialog.visible_settings() == ["metrics_port"]
    dialog.search.clear()
    assert len(dialog.visible_settings()) == len(dialog.fields) + 1  # every setting, and the data folder


def test_saving_validates_applies_live_and_names_what_needs_a_restart(make_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    core = window.ctx.core
    dialog = _dialog(window)
    dialog.fields["server_port"].widget.setValue(70000)  # the box keeps to the model's bounds
    assert dialog.fields["server_port"].widget.value() == 65535
    dialog.fields["metrics_port"].widget.setText("ninety")  # not a number: refused, nothing saved
    assert not dialog.save()
    assert dialog.status.is_error and "Metrics port" in dialog.status.text() and "Nothing was saved" in \
        dialog.status.text()
    assert core.settings.server_port == 6398 and core.settings.metrics_port is None
    dialog.fields["metrics_port"].widget.setText("")
    dialog.fields["server_port"].widget.setValue(7001)
    dialog.fields["monitor_interval_s"].widget.setValue(2.5)
    dialog.fields["theme"].widget.setCurrentIndex(dialog.fields["theme"].widget.findData("dark"))
    dialog.fields["max_thread_jobs"].widget.setValue(6)
    dialog.fields["chat_system_prompt"].widget.setPlainText("Be brief.")
    dialog.fields["model_folders"].widget.setText("/models/a, /models/b")
    assert dialog.save()
    assert "Saved 6 change(s)" in dialog.status.text() and "Restart Nexus Studio for: Max thread jobs" in \
        dialog.status.text()
    assert core.telemetry.interval_s == 2.5 and core.chat.system_prompt == "Be brief."
    assert window.ctx.effective_theme == "dark"
    saved = load_settings(core.paths.settings_file).settings
    assert (saved.server_port, saved.max_thread_jobs, saved.theme) == (7001, 6, "dark")
    assert [str(p) for p in saved.model_folders] == ["/models/a", "/models/b"]
    dialog.fields["metrics_port"].widget.setText("")
    assert dialog.save() and "Nothing changed" in dialog.status.text()


def test_the_data_folder_is_fixed_when_nexus_home_sets_it(make_window) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(make_window())
    assert dialog.data_folder_edit.text() == str(dialog.ctx.core.paths.root)
    assert not dialog.data_folder_button.isEnabled()
    assert "NEXUS_HOME" in dialog.rows["data_folder"][2].text()


def test_another_data_folder_is_remembered_for_the_next_start(make_window, monkeypatch, tmp_path,
                                                              nexus_home) -> None:  # type: ignore[no-untyped-def]
    from nexus_core.location import chosen_data_dir, remember_data_dir

    window = make_window()
    monkeypatch.delenv("NEXUS_HOME")
    remember_data_dir(nexus_home)  # the folder in use was chosen in the wizard
    dialog = _dialog(window)
    assert dialog.data_folder_button.isEnabled()
    dialog.search.setText("data folder")
    assert dialog.visible_settings()[0] == "data_folder"
    (tmp_path / "a-file").write_text("x")
    assert not dialog.change_data_folder(tmp_path / "a-file")
    assert dialog.status.is_error and "a-file" in dialog.status.text()
    assert chosen_data_dir() == nexus_home.resolve()
    assert dialog.change_data_folder(tmp_path / "bigger disk")
    assert chosen_data_dir() == (tmp_path / "bigger disk").resolve()
    assert "next start" in dialog.status.text() and str(nexus_home) in dialog.status.text()
    assert window.ctx.core.paths.root == nexus_home  # the folder in use does not change under the running app
    again = _dialog(window)  # reopened: still changeable (the choice applies to the next start only)
    assert again.data_folder_button.isEnabled() and "NEXUS_HOME" not in again.rows["data_folder"][2].text()
    assert again.change_data_folder(nexus_home) and "folder in use now" in again.status.text()
    assert chosen_data_dir() == nexus_home.resolve()


def test_the_shortcuts_button_opens_the_sheet(make_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    dialog = _dialog(window)
    button = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Keyboard shortcuts…")
    button.click()
    assert window.shortcuts_dialog.isVisible()
