"""The Training panel's Fusion tab through its widgets: alignment training of tiny real models as a job, the
caption loss drawn as it comes, the bundle written, and missing inputs named."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from app.panels.training.panel import TrainingPanel
from tests.support.tiny_models import build_tiny_clip_vision, build_tiny_llama


def test_projectors_are_trained_from_the_tab_with_the_loss_drawn_live(make_window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    for name, rgb in (("red", (230, 0, 0)), ("blue", (0, 0, 230))):
        Image.new("RGB", (16, 16), rgb).save(tmp_path / f"{name}.png")
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps({"image": f"{n}.png", "caption": f"a {n} square"})
                                                    for n in ("red", "blue")))
    llm, clip = build_tiny_llama(tmp_path / "llm"), build_tiny_clip_vision(tmp_path / "clip")
    panel = make_window().show_panel("training")
    assert isinstance(panel, TrainingPanel)
    view = panel.fusion_view
    panel.tabs.setCurrentWidget(view)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.status.is_error and "at least one encoder" in view.status.text()
    view.llm.setText(str(llm))
    view.encoders["vision"].setText(str(clip))
    view.data.setText(str(tmp_path / "pairs.jsonl"))
    view.out.setText(str(tmp_path / "bundle"))
    view.epochs.setValue(5)
    view.tokens.setValue(4)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert not view.start_button.isEnabled() and view.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: view.copy_button.isEnabled(), timeout=60_000)
    assert view.steps == [1, 2, 3, 4, 5] and len(view.losses) == 5
    assert list(view.curve.getData()[1]) == view.losses
    assert "caption loss" in view.status.text() and str(tmp_path / "bundle") in view.status.text()
    assert (tmp_path / "bundle" / "fusion.json").is_file()
    view.data.setText(str(tmp_path / "missing.jsonl"))
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.status.is_error and "missing.jsonl does not exist" in view.status.text()
