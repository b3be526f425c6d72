"""The Training panel through its widgets: a run started from the form trains as a job with live curves,
stops with a checkpoint, resumes, and shows its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.panels.training.panel import TrainingPanel
from app.window import MainWindow
from nexus_core.distill.state import load_state
from tests.support.tiny_models import build_tiny_llama

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("training") / "teacher")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"text": f"the quick brown fox {i} jumps over the lazy dog " * 12}) + "\n"
                            for i in range(60)))
    return path


def _panel(window: MainWindow) -> TrainingPanel:
    panel = window.show_panel("training")
    assert isinstance(panel, TrainingPanel)
    return panel


def _click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def fill(panel: TrainingPanel, teacher: Path, data: Path, name: str, steps: int, epochs: int = 1) -> None:
    panel.teacher_edit.setText(str(teacher))
    panel.data_edit.setText(str(data))
    panel.name_edit.setText(name)
    panel.preset_combo.setCurrentIndex(0)  # debug
    panel.steps_spin.setValue(steps)
    panel.epochs_spin.setValue(epochs)


def test_a_run_from_the_form_trains_with_live_curves_and_results(window, qtbot, teacher: Path,
                                                                   data: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    fill(panel, teacher, data, "first", 5)
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel._jobs and "finished" in panel.details.text(), timeout=60_000)
    assert panel.runs.currentItem().text().startswith("first — finished, step 5")
    total = panel.curves["total"]
    xs, ys = total.getData()
    assert list(xs) == [1, 2, 3, 4, 5] and all(y > 0 for y in ys)
    assert "student_perplexity" in panel.details.text()
    run_dir = window.ctx.core.distill.runs_dir / "first"
    assert (run_dir / "student" / "config.json").is_file()
    assert any(j.name == "Distil into first" for j in window.ctx.core.runner.jobs())


def test_stop_saves_a_checkpoint_and_resume_continues(window, qtbot, teacher: Path,
                                                      data: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    fill(panel, teacher, data, "long", 100000, epochs=200)
    panel.student_edit.setCurrentText("half")
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: len(panel._live.get("total", [])) >= 3, timeout=60_000)
    _click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: not panel._jobs, timeout=60_000)
    run_dir = window.ctx.core.distill.runs_dir / "long"
    stopped = load_state(run_dir)
    assert stopped.status == "stopped" and stopped.step >= 3 and stopped.checkpoint
    assert panel.resume_button.isEnabled()
    _click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: bool(panel._jobs) and len(panel._live.get("total", [])) >= 2, timeout=60_000)
    _click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: not panel._jobs, timeout=60_000)
    assert load_state(run_dir).step > stopped.step


def test_bad_form_input_is_explained(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    panel.teacher_edit.setText("")
    _click(qtbot, panel.start_button)
    assert panel.status.is_error and "needs a teacher" in panel.status.text()
    panel.teacher_edit.setText("/nowhere")
    panel.data_edit.setText("/nowhere-data")
    _click(qtbot, panel.start_button)
    assert panel.status.is_error and "does not exist" in panel.status.text()


def test_more_settings_start_a_cached_run(window, qtbot, teacher: Path, data: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    fill(panel, teacher, data, "cached", 3)
    assert not panel.advanced.isVisibleTo(panel)
    _click(qtbot, panel.more_button)
    assert panel.advanced.isVisibleTo(panel) and panel.more_button.text().startswith("Fewer")
    panel.cache_spin.setValue(8)
    panel.batch_spin.setValue(2)
    panel.checkpointing_check.setChecked(True)
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel._jobs and "finished" in panel.details.text(), timeout=60_000)
    assert "teacher cache top-8, gradient checkpointing" in panel.details.text()
    config = load_state(window.ctx.core.distill.runs_dir / "cached").config
    assert (config.teacher_cache_top_k, config.batch_size, config.gradient_checkpointing) == (8, 2, True)
    assert (window.ctx.core.distill.runs_dir / "cached" / "teacher_cache" / "cache.json").is_file()


def test_a_layer_streaming_pass_from_the_panel_fills_the_layer_strip(window, qtbot, teacher: Path,  # type: ignore[no-untyped-def]
                                                                      data: Path) -> None:
    panel = _panel(window)
    panel.tabs.setCurrentIndex(1)
    view = panel.sli_view
    view.model_edit.setText(str(teacher))
    view.data_edit.setText(str(data))
    view.name_edit.setText("pass1")
    view.topk_spin.setValue(4)
    view.budget_spin.setValue(1024)
    seen: list[int] = []
    window.ctx.core.sli.progress.connect(lambda e: seen.append(e.progress.layer))
    _click(qtbot, view.start_button)
    qtbot.waitUntil(lambda: not view._jobs and "finished" in view.where.text(), timeout=60_000)
    assert view.runs.currentItem().text() == "pass1 — finished, 2/2 layers"
    assert (view.strip.layers, view.strip.done) == (2, 2)
    assert seen and max(seen) == 2  # the tail reports after the last layer
    xs, ys = view.speed_curve.getData()
    assert len(xs) > 0 and max(ys) > 0 and view.disk_line.isVisible() and view.disk_line.value() > 0
    assert (window.ctx.core.sli.runs_dir / "pass1" / "outputs.safetensors").is_file()
    _click(qtbot, view.start_button)  # the same name again
    assert "exists" in view.status.text()
    assert not view.resume_button.isEnabled()  # a finished pass has nothing to resume
