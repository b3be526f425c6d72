"""The Library tab through its widgets: folders, background scan, table, details, load/unload, use for task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.panels.models.library_tab import LibraryTab
from app.panels.models.library_table import COLUMNS
from app.panels.models.panel import ModelsPanel
from app.window import MainWindow
from nexus_core.routing.classify import TaskType
from tests.support.tiny_models import build_tiny_llama

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model_shelf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of models as a person keeps them: a chat model, a broken one, and one in a sub-folder."""
    root = tmp_path_factory.mktemp("shelf")
    build_tiny_llama(root / "tiny-chat")
    shutil.copytree(root / "tiny-chat", root / "nested" / "tiny-copy")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"model_type": ')
    return root


def _panel(window: MainWindow) -> ModelsPanel:
    panel = window.show_panel("models")
    assert isinstance(panel, ModelsPanel)
    return panel


def _library(window: MainWindow, qtbot, shelf: Path) -> LibraryTab:
    panel = _panel(window)
    tab = panel.library_tab
    assert panel.tabs.currentWidget() is tab  # the first tab
    tab.choose_folder = lambda: str(shelf)
    _click(qtbot, tab.add_folder_button)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 2 and tab._scan_job is None, timeout=20_000)
    return tab


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _row(tab: LibraryTab, name: str) -> dict[str, str]:
    for r in range(tab.table.rowCount()):
        if tab.table.item(r, 0).text() == name:
            return {COLUMNS[c]: tab.table.item(r, c).text() for c in range(tab.table.columnCount())}
    raise AssertionError(f"no row {name!r}")


def test_adding_a_folder_scans_it_in_the_background_and_lists_its_models(window, qtbot, model_shelf: Path) -> None:
    tab = _library(window, qtbot, model_shelf)
    assert [tab.folders.item(i).text() for i in range(tab.folders.count())] == [str(model_shelf)]
    assert window.ctx.core.settings.model_folders == [model_shelf]  # remembered
    row = _row(tab, "tiny-chat")
    assert row["Category"] == "causal_lm" and row["Architecture"] == "LlamaForCausalLM"
    assert row["Supported"] == "Yes" and row["Dtype"] == "float32" and row["Loaded"] == ""
    assert _row(tab, "nested/tiny-copy")["Parameters"] == row["Parameters"]
    assert tab.scan_errors.is_error and "1 folder(s) could not be read" in tab.scan_errors.text()
    assert "broken" in tab.scan_errors.toolTip() and "config.json" in tab.scan_errors.toolTip()
    jobs = [j.name for j in window.ctx.core.runner.jobs()]
    assert "Scan model folders" in jobs


def test_filter_by_text_and_category(window, qtbot, model_shelf: Path) -> None:
    tab = _library(window, qtbot, model_shelf)
    qtbot.keyClicks(tab.filter_edit, "copy")
    assert tab.table.visible_rows() == 1 and "1 of 2 models" in tab.count_label.text()
    tab.filter_edit.clear()
    tab.category_combo.setCurrentIndex(tab.category_combo.findData("sae"))
    assert tab.table.visible_rows() == 0
    tab.category_combo.setCurrentIndex(tab.category_combo.findData("causal_lm"))
    assert tab.table.visible_rows() == 2


def test_select_load_and_unload_show_memory_and_details(window, qtbot, model_shelf: Path) -> None:
    tab = _library(window, qtbot, model_shelf)
    assert tab.table.selected_path() is not None  # the first row is selected after a scan
    tab.table.select(model_shelf / "tiny-chat")
    assert "LlamaForCausalLM" in tab.details.toPlainText() and "Supported" in tab.details.toPlainText()
    tab.device_combo.setCurrentText("cpu")
    _click(qtbot, tab.load_button)
    qtbot.waitUntil(lambda: _row(tab, "tiny-chat")["Loaded"].startswith("cpu · ")
                    and "Loaded tiny-chat" in tab.status.text(), timeout=20_000)
    assert not tab.load_button.isEnabled() and tab.unload_button.isEnabled()
    assert "Loaded on cpu in float32" in tab.details.toPlainText()
    assert window.ctx.core.models.get(model_shelf / "tiny-chat") is not None
    _click(qtbot, tab.unload_button)
    qtbot.waitUntil(lambda: _row(tab, "tiny-chat")["Loaded"] == "", timeout=5000)
    assert window.ctx.core.models.loaded() == []
    assert tab.load_button.isEnabled()


def test_a_failed_load_shows_the_loaders_message_in_the_details(window, qtbot, model_shelf: Path,
                                                               tmp_path: Path) -> None:
    shelf = tmp_path / "shelf"
    shutil.copytree(model_shelf / "tiny-chat", shelf / "mismatch")
    config_path = shelf / "mismatch" / "config.json"
    config = json.loads(config_path.read_text())
    config["intermediate_size"] = 48
    config_path.write_text(json.dumps(config))
    panel = _panel(window)
    tab = panel.library_tab
    tab.choose_folder = lambda: str(shelf)
    _click(qtbot, tab.add_folder_button)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1 and tab._scan_job is None, timeout=20_000)
    tab.table.select(shelf / "mismatch")
    _click(qtbot, tab.load_button)
    qtbot.waitUntil(lambda: tab.status.is_error, timeout=20_000)
    assert "did not load" in tab.status.text()
    text = tab.details.toPlainText()
    assert "Loading failed" in text and "48]" in text and "model.safetensors" in text and "What to do" in text


def test_custom_code_asks_first_and_a_no_loads_nothing(window, qtbot, model_shelf: Path, tmp_path: Path) -> None:
    shelf = tmp_path / "shelf"
    shutil.copytree(model_shelf / "tiny-chat", shelf / "custom")
    config_path = shelf / "custom" / "config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling.Custom"}
    config_path.write_text(json.dumps(config))
    tab = _panel(window).library_tab
    tab.choose_folder = lambda: str(shelf)
    _click(qtbot, tab.add_folder_button)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1 and tab._scan_job is None, timeout=20_000)
    assert _row(tab, "custom")["Supported"] == "No"
    asked: list[str] = []
    tab.confirm_custom_code = lambda name: asked.append(name) is not None  # says no
    tab.table.select(shelf / "custom")
    _click(qtbot, tab.load_button)
    assert asked == ["custom"] and not tab._load_jobs


def test_use_for_task_saves_a_local_provider_and_fills_in_the_assignment(window, qtbot, model_shelf: Path) -> None:
    tab = _library(window, qtbot, model_shelf)
    panel = _panel(window)
    tab.table.select(model_shelf / "tiny-chat")
    assert tab.use_button.isEnabled()
    tab.use_for_task(TaskType.CODE_GENERATION)
    assert panel.tabs.currentWidget() is panel.assignment_tab
    combo = panel.assignment_tab.task_model_combo(TaskType.CODE_GENERATION)
    assert combo.value() == "local-tiny-chat/tiny-chat"
    config = window.ctx.core.providers.config("local-tiny-chat")
    assert config is not None and config.kind == "local" and Path(config.folder) == model_shelf / "tiny-chat"
    assert panel.assignment_tab.dirty
    assert panel.assignment_tab.apply()
    assert window.ctx.core.routing.table.tasks[TaskType.CODE_GENERATION].model == "local-tiny-chat/tiny-chat"
    tab.use_for_task(TaskType.CHAT)  # the same folder reuses its provider
    assert [c.name for c in window.ctx.core.providers.configs()] == ["local-tiny-chat"]


def test_removing_a_folder_forgets_its_models(window, qtbot, model_shelf: Path) -> None:
    tab = _library(window, qtbot, model_shelf)
    tab.folders.setCurrentRow(0)
    _click(qtbot, tab.remove_folder_button)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 0 and tab._scan_job is None, timeout=20_000)
    assert window.ctx.core.settings.model_folders == []
