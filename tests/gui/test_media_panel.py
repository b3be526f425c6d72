"""The Media panel through its widgets: a picture from the form with step previews into the gallery, re-run
and edit from the gallery, a video played in the panel, speech streamed to the audio output while it is
made, cancel, and bad input explained in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.panels.media.panel import MediaPanel
from app.window import MainWindow
from nexus_core.media.playback import AudioPlayer

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_models import build_tiny_stable_diffusion, build_tiny_svd

    folder = tmp_path_factory.mktemp("media-models")
    build_tiny_stable_diffusion(folder / "tiny-sd")
    build_tiny_svd(folder / "tiny-svd")
    return folder


def _panel(window: MainWindow, models: Path) -> MediaPanel:
    core = window.ctx.core
    core.settings.scan_hf_cache = False
    core.library.add_folder(models)
    core.library.scan()
    panel = window.show_panel("media")
    assert isinstance(panel, MediaPanel)
    return panel


def _finish(qtbot, panel: MediaPanel) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: panel._job_id is None and panel.generate_button.isEnabled(), timeout=120_000)


def test_a_picture_from_the_form_previews_each_step_and_lands_in_the_gallery(window, qtbot, models: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window, models)
    panel.forms.setCurrentWidget(panel.image_form)
    form = panel.image_form
    assert form.model.count() == 1 and form.model.currentText() == "tiny-sd"
    form.prompt.setPlainText("a lighthouse in a storm")
    form.steps.setValue(3)
    form.width_box.setValue(16)
    form.height_box.setValue(16)
    form.seed.setValue(42)
    previews = []
    window.ctx.core.media.previews.connect(lambda p: previews.append(p.step))
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert not panel.generate_button.isEnabled() and panel.cancel_button.isEnabled()
    _finish(qtbot, panel)
    assert previews == [1, 2, 3] and panel.progress.value() == 1000
    assert panel.gallery.count() == 1 and panel.selected().params["seed"] == 42
    assert "a lighthouse in a storm" in panel.gallery.item(0).text()
    assert "seed: 42" in panel.details.toPlainText() and not panel.preview.pixmap().isNull()
    qtbot.mouseClick(panel.rerun_button, Qt.MouseButton.LeftButton)
    _finish(qtbot, panel)
    assert panel.gallery.count() == 2 and panel.selected().params == panel.media.items()[1].params
    form.prompt.setPlainText("")
    form.seed.setValue(-1)
    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    assert form.prompt.toPlainText() == "a lighthouse in a storm" and form.seed.value() == 42
    qtbot.mouseClick(form.agent_model, Qt.MouseButton.LeftButton)  # the agent's image tool draws with it now
    core = window.ctx.core
    assert core.settings.image_model == models / "tiny-sd"
    assert '"image_model"' in core.paths.settings_file.read_text()


def test_a_video_is_made_and_played_in_the_panel(window, qtbot, models: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    panel = _panel(window, models)
    Image.new("RGB", (32, 24), (30, 120, 200)).save(tmp_path / "sky.png")
    panel.forms.setCurrentWidget(panel.video_form)
    form = panel.video_form
    form.image.setText(str(tmp_path / "sky.png"))
    form.frames.setValue(8)
    form.steps.setValue(1)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    _finish(qtbot, panel)
    item = panel.selected()
    assert item.kind == "video" and item.path.suffix == ".mp4" and item.params["frames"] == 8
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    player = panel.video_player
    qtbot.waitUntil(lambda: len(player.frames) == 8, timeout=30_000)
    assert panel.viewer.currentWidget() is player and player.timer.isActive()
    start = player.index
    qtbot.waitUntil(lambda: player.index != start, timeout=5_000)  # frames advance


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_speech_plays_while_it_is_made_and_can_be_deleted(window, qtbot, models: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window, models)
    panel.speech.player = AudioPlayer(("null", "-"))  # this machine has no sound card; ffmpeg's null output stands in
    panel.forms.setCurrentWidget(panel.speech_form)
    form = panel.speech_form
    form.text.setPlainText("First sentence here. And a second one!")
    form.voice.setCurrentIndex(form.voice.findData("espeak:en-gb"))
    form.format.setCurrentIndex(form.FORMATS.index("ogg"))
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    _finish(qtbot, panel)
    fed = panel.speech.player.fed
    assert len(fed) == 2 and all(n > 1000 for n in fed)  # each sentence went to the output as it was made
    assert panel.speech.player.wait(10) == 0  # ffmpeg took the whole stream
    item = panel.selected()
    assert item.kind == "speech" and item.path.suffix == ".ogg" and item.params["voice"] == "espeak:en-gb"
    qtbot.mouseClick(form.chat_voice, Qt.MouseButton.LeftButton)
    assert window.ctx.core.settings.voice == "espeak:en-gb"  # chat answers are read with it
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert panel.gallery.count() == 0 and not item.path.exists()


def test_cancel_and_bad_input_from_the_panel(window, qtbot, models: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window, models)
    panel.forms.setCurrentWidget(panel.image_form)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.status.is_error and "prompt is empty" in panel.status.text()
    panel.forms.setCurrentWidget(panel.video_form)
    panel.video_form.image.setText("/nowhere/start.png")
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.status.is_error and "start.png does not exist" in panel.status.text()
    panel.forms.setCurrentWidget(panel.image_form)
    panel.image_form.prompt.setPlainText("a fox")
    panel.image_form.steps.setValue(150)
    panel.image_form.width_box.setValue(16)
    panel.image_form.height_box.setValue(16)
    stepped = []
    window.ctx.core.media.previews.connect(lambda p: stepped.append(p.step))
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stepped) >= 1, timeout=60_000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    _finish(qtbot, panel)
    assert "cancelled" in panel.job_label.text() and panel.gallery.count() == 0
    assert not panel.status.is_error and "nothing was saved" in panel.status.text()
