"""The Media panel: a form per kind (speech, image, video) on the left, the running job with its live
preview on the right, and below them the gallery of everything made, to play, re-run, edit or open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.panels.media.forms import ImageForm, SpeechForm, VideoForm
from app.panels.registry import Panel
from app.speech_playback import SpeechPlayback
from app.widgets.status_label import StatusLabel
from app.widgets.video_player import VideoPlayer
from nexus_core.errors import NexusError
from nexus_core.jobs.models import JobEvent
from nexus_core.media.gallery import MediaItem
from nexus_core.media.service import MediaPreview

THUMB = 96
KIND_LABEL = {"speech": "Speech", "image": "Image", "video": "Video"}
PLAY_TIP = "Play the selected speech or video, or show the picture (or double-click it in the gallery)"


def pil_to_pixmap(image: Any) -> QPixmap:
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    qimage = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage)


class MediaPanel(Panel):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.media = ctx.core.media
        self.speech = SpeechPlayback(ctx, parent=self)
        self._job_id: str | None = None
        self._job_kind = ""

        self.forms = QTabWidget()
        core = ctx.core
        self.speech_form = SpeechForm(self.media, core.settings, core.save_settings)
        self.image_form = ImageForm(self.media, core.settings, core.save_settings)
        self.video_form = VideoForm(self.media)
        self.forms.addTab(self.speech_form, "Speech")
        self.forms.addTab(self.image_form, "Image")
        self.forms.addTab(self.video_form, "Video")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setDefault(True)
        self.generate_button.setToolTip("Make the speech, picture or video of the form shown, in the background")
        self.generate_button.clicked.connect(self.generate)
        self.status = StatusLabel()
        left = QVBoxLayout()
        left.addWidget(self.forms, 1)
        left.addWidget(self.generate_button)
        left.addWidget(self.status)

        self.job_label = QLabel("Nothing running.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Cancel the job that is running")
        self.cancel_button.clicked.connect(self.cancel)
        self.preview = QLabel("Previews of each step appear here.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(256, 256)
        self.video_player = VideoPlayer()
        self.viewer = QStackedWidget()
        self.viewer.addWidget(self.preview)
        self.viewer.addWidget(self.video_player)
        job_box = QGroupBox("Current job")
        job = QVBoxLayout(job_box)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        job.addWidget(self.job_label)
        job.addLayout(row)
        job.addWidget(self.viewer, 1)
        top = QWidget()
        top_layout = QHBoxLayout(top)
        top_layout.addLayout(left, 3)
        top_layout.addWidget(job_box, 2)

        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setWordWrap(True)
        self.gallery.setGridSize(QSize(THUMB + 40, THUMB + 44))
        self.gallery.currentItemChanged.connect(lambda *_: self.show_item())
        self.gallery.itemDoubleClicked.connect(lambda *_: self.play())
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setMaximumWidth(360)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip(PLAY_TIP)
        self.play_button.clicked.connect(self.play)
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("Make it again with the same settings and seed")
        self.rerun_button.clicked.connect(self.rerun)
        self.edit_button = QPushButton("Edit settings")
        self.edit_button.setToolTip("Put these settings into the form to change and run")
        self.edit_button.clicked.connect(self.edit)
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Open the folder that holds the selected file")
        self.open_button.clicked.connect(self.open_folder)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected item from the gallery and its file from the disk (asks "
                                      "first)")
        self.delete_button.clicked.connect(self.delete)
        actions = QHBoxLayout()
        for button in (self.play_button, self.rerun_button, self.edit_button, self.open_button, self.delete_button):
            actions.addWidget(button)
        side = QVBoxLayout()
        side.addWidget(self.details, 1)
        side.addLayout(actions)
        shelf = QVBoxLayout()
        shelf.addWidget(QLabel("Gallery — double-click to play; Re-run makes it again with the same seed"))
        shelf.addWidget(self.gallery, 1)
        bottom = QWidget()
        bottom_layout = QHBoxLayout(bottom)
        bottom_layout.addLayout(shelf, 1)
        bottom_layout.addLayout(side)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._previews = EmitterBridge(self.media.previews, self)
        self._previews.fired.connect(self._on_preview)
        self._gallery_changed = EmitterBridge(self.media.changed, self)
        self._gallery_changed.fired.connect(lambda _id: self.refresh_gallery(select=_id))
        ctx.job_events.fired.connect(self._on_job)
        ctx.library_changed.fired.connect(lambda _: self.refresh_models())
        self.refresh_gallery()
        self.show_item()

    # ---- making --------------------------------------------------------------------------------------

    def generate(self) -> None:
        form = self.forms.currentWidget()
        try:
            if form is self.speech_form:
                request = self.speech_form.request()
                handle, kind = self.media.speak(request), "speech"
            elif form is self.image_form:
                handle, kind = self.media.draw(self.image_form.request()), "image"
            else:
                handle, kind = self.media.animate(self.video_form.request()), "video"
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return
        self.status.clear_message()
        self._track(handle, kind)

    def _track(self, handle: Any, kind: str) -> None:
        self._job_id, self._job_kind = handle.id, kind
        if kind == "speech" and self.speech_form.play_while.isChecked():
            self.speech.follow(handle)
        self.job_label.setText(handle.snapshot.name)
        self.progress.setRange(0, 0 if kind == "speech" else 1000)
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        self.viewer.setCurrentWidget(self.preview)
        self.preview.setText("Starting…")
        self.generate_button.setEnabled(False)

    def cancel(self) -> None:
        if self._job_id is not None:
            self.ctx.core.runner.cancel(self._job_id)
            self.cancel_button.setEnabled(False)
            self.job_label.setText(self.job_label.text() + " — cancelling…")

    def _on_preview(self, preview: MediaPreview) -> None:
        if preview.job_id != self._job_id:
            return
        if preview.audio is not None:
            self.preview.setText(f"{preview.step} sentence(s) spoken…")
            return
        self.progress.setValue(round(1000 * preview.step / max(1, preview.steps)))
        if preview.image is not None:
            pixmap = pil_to_pixmap(preview.image)
            self.preview.setPixmap(pixmap.scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.FastTransformation))

    def _on_job(self, event: JobEvent) -> None:
        job = event.job
        if job.id != self._job_id or not job.state.finished:
            return
        self._job_id = None
        self.cancel_button.setEnabled(False)
        self.generate_button.setEnabled(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000 if job.state.value == "succeeded" else 0)
        if job.state.value == "failed":
            self.status.show_error(f"{job.name} failed: {(job.error or '').strip().splitlines()[-1]}")
            self.preview.setText("Failed.")
        elif job.state.value == "cancelled":
            self.status.show_info(f"{job.name}: cancelled; nothing was saved.")
            self.preview.setText("Cancelled.")
        self.job_label.setText(f"{job.name} — {job.state.value}")

    # ---- gallery -------------------------------------------------------------------------------------

    def refresh_models(self) -> None:
        for form in (self.speech_form, self.image_form, self.video_form):
            form.refresh()

    def refresh_gallery(self, select: int | None = None) -> None:
        current = self.selected()
        wanted = select if select is not None else (current.id if current else None)
        self.gallery.blockSignals(True)
        self.gallery.clear()
        for item in self.media.items():
            entry = QListWidgetItem(self._icon(item), f"{KIND_LABEL[item.kind]}\n{item.title[:40]}")
            entry.setData(Qt.ItemDataRole.UserRole, item.id)
            entry.setToolTip(str(item.path))
            self.gallery.addItem(entry)
            if item.id == wanted:
                self.gallery.setCurrentItem(entry)
        self.gallery.blockSignals(False)
        self.show_item()

    def _icon(self, item: MediaItem) -> QIcon:
        if item.kind == "image" and item.exists:
            pixmap = QPixmap(str(item.path))
            if not pixmap.isNull():
                return QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))
        style = self.style()
        standard = {"speech": style.StandardPixmap.SP_MediaVolume, "video": style.StandardPixmap.SP_MediaPlay}
        return style.standardIcon(standard.get(item.kind, style.StandardPixmap.SP_FileIcon))

    def selected(self) -> MediaItem | None:
        entry = self.gallery.currentItem()
        return self.media.gallery.get(int(entry.data(Qt.ItemDataRole.UserRole))) if entry is not None else None

    def show_item(self) -> None:
        item = self.selected()
        for button in (self.play_button, self.rerun_button, self.open_button, self.delete_button):
            button.setEnabled(item is not None)
        self.edit_button.setEnabled(item is not None and item.kind == "image")
        if item is None:
            self.details.setPlainText("Nothing made yet: fill in a form above and press Generate.")
            return
        lines = [f"{KIND_LABEL[item.kind]} · made in {item.seconds:.1f} s", str(item.path)]
        if not item.exists:
            lines.append("The file is gone (moved or deleted).")
        lines += [f"{key}: {value}" for key, value in item.params.items() if value not in (None, "")]
        lines += [f"note: {note}" for note in item.notes]
        self.details.setPlainText("\n".join(lines))
        self.play_button.setEnabled(item.exists and (item.kind != "speech" or self.speech.available))
        self.play_button.setToolTip(PLAY_TIP if self.speech.available or item.kind != "speech" else
                                    "No audio output was found on this computer.")
        if self._job_id is None and item.exists:
            self._show_result(item)

    def _show_result(self, item: MediaItem) -> None:
        if item.kind == "image":
            self.viewer.setCurrentWidget(self.preview)
            pixmap = QPixmap(str(item.path))
            self.preview.setPixmap(pixmap.scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
        elif item.kind == "video":
            self.viewer.setCurrentWidget(self.video_player)
            self.video_player.load(item.path, autoplay=False)
        else:
            self.viewer.setCurrentWidget(self.preview)
            self.preview.setText(f"♪ {item.title}")

    def play(self) -> None:
        item = self.selected()
        if item is None or not item.exists:
            return
        if item.kind == "video":
            self.viewer.setCurrentWidget(self.video_player)
            self.video_player.load(item.path, autoplay=True)
        elif item.kind == "speech":
            try:
                self.speech.stop()
                self.speech.player.play_file(item.path)
            except NexusError as exc:
                self.status.show_error(exc.user_message())
        else:
            self._show_result(item)

    def rerun(self) -> None:
        item = self.selected()
        if item is None:
            return
        try:
            handle = self.media.rerun(item.id)
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return
        self._track(handle, item.kind)

    def edit(self) -> None:
        item = self.selected()
        if item is not None and item.kind == "image":
            self.image_form.load(item.params)
            self.forms.setCurrentWidget(self.image_form)

    def open_folder(self) -> None:
        item = self.selected()
        if item is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(item.path).parent)))

    def delete(self) -> None:
        item = self.selected()
        if item is None:
            return
        answer = QMessageBox.question(self, "Delete", f"Delete {item.path.name} from the gallery and the disk?")
        if answer == QMessageBox.StandardButton.Yes:
            self.media.gallery.remove(item.id, delete_file=True)
            self.refresh_gallery()

    def shutdown(self) -> None:
        self.speech.close()
        self._previews.close()
        self._gallery_changed.close()
