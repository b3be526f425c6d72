"""Attachments in the Chat pane through its widgets: files dropped on the input, a pasted picture, chips that
remove, and the message sent with its pictures to a scripted OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QColor, QImage

from tests.gui.test_chat_panel import panel, server, wait_answered  # noqa: F401 - the same pane and server
from tests.support.llm_servers import text


def _drop(chat, files: list[Path]) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    assert chat.composer.canInsertFromMimeData(mime)
    chat.composer.insertFromMimeData(mime)


def test_dropped_and_pasted_pictures_are_attached_and_sent(panel, server, qtbot, tmp_path: Path) -> None:  # noqa: F811
    from PIL import Image

    Image.new("RGB", (6, 6), (250, 0, 0)).save(tmp_path / "red.png")
    (tmp_path / "notes.txt").write_text("not media")
    composer = panel.composer_box
    _drop(panel, [tmp_path / "red.png", tmp_path / "notes.txt"])
    assert composer.attachments == [tmp_path / "red.png"]  # the text file is not an attachment
    chips = [composer.chips.itemAt(i).widget() for i in range(composer.chips.count() - 1)]
    assert [c.text() for c in chips] == ["red.png  ✕"]
    image = QImage(4, 4, QImage.Format.Format_RGB32)
    image.fill(QColor("blue"))
    pasted = QMimeData()
    pasted.setImageData(image)
    panel.composer.insertFromMimeData(pasted)
    assert len(composer.attachments) == 2 and composer.attachments[1].suffix == ".png"
    assert composer.attachments[1].is_relative_to(panel.ctx.core.paths.root)
    qtbot.mouseClick([composer.chips.itemAt(i).widget() for i in range(composer.chips.count() - 1)][1],
                     Qt.MouseButton.LeftButton)
    assert composer.attachments == [tmp_path / "red.png"]
    server.script(text(["A red picture."]))
    qtbot.keyClicks(panel.composer, "What is in it?")
    qtbot.keyClick(panel.composer, Qt.Key.Key_Return)
    wait_answered(qtbot, panel)
    parts = server.requests[-1].body["messages"][-1]["content"]
    assert parts[0]["text"] == "What is in it?" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert composer.attachments == [] and composer.chips.count() == 1  # cleared after sending
    user = next(w for w in panel.message_widgets() if w.role == "user")
    label = user.user_body.attachments_label
    assert label.text() == "Attached: red.png" and label.isVisibleTo(user)


def test_a_refused_attachment_is_explained_in_the_pane(panel, server, qtbot, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 32)
    _drop(panel, [tmp_path / "clip.mp4"])
    qtbot.mouseClick(panel.send_button, Qt.MouseButton.LeftButton)  # no text: the attachment alone is sent
    answer = wait_answered(qtbot, panel)
    assert answer.status == "error" and "cannot take video" in answer.message.error
    assert server.requests == []  # refused before any request


def test_a_local_providers_fusion_bundle_is_set_in_its_dialog(panel, qtbot, tmp_path: Path) -> None:  # noqa: F811
    from app.panels.models.provider_dialog import ProviderDialog

    dialog = ProviderDialog(panel.ctx.core)
    qtbot.addWidget(dialog)
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("local"))
    assert dialog.form.isRowVisible(dialog._rows["fusion_bundle"])
    dialog.name_edit.setText("tiny")
    dialog.folder_edit.setText(str(tmp_path / "llm"))
    dialog.bundle_edit.setText(str(tmp_path / "bundle"))
    assert dialog.values()["fusion_bundle"] == str(tmp_path / "bundle")
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("openai"))
    assert not dialog.form.isRowVisible(dialog._rows["fusion_bundle"]) and dialog.values()["fusion_bundle"] == ""
