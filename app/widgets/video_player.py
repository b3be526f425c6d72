"""A small video player: frames decoded off the GUI thread (ffmpeg), shown at the file's frame rate, play/pause
and a position slider. Enough for the short clips image-to-video makes; no sound track."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from app.workers import AsyncCall, run_blocking


class VideoPlayer(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frames: list[QImage] = []
        self.fps = 8.0
        self.index = 0
        self.screen = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.screen.setMinimumSize(240, 160)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play or pause the video")
        self.play_button.clicked.connect(self.toggle)
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setToolTip("The frame shown: drag to move through the video")
        self.position.valueChanged.connect(self.show_frame)
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.position, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.screen, 1)
        layout.addLayout(controls)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._decoding: AsyncCall | None = None

    def load(self, path: Path, *, autoplay: bool = True) -> None:
        """Decode ``path`` in the background and show it; a newer load replaces one still decoding."""
        self.timer.stop()
        self.frames, self.index = [], 0
        self.screen.setText("Loading…")
        self._autoplay = autoplay
        if self._decoding is not None:
            self._decoding.cancel()
        self._decoding = run_blocking(lambda: _decode(path), parent=self, on_done=self._loaded,
                                      on_error=lambda exc: self._failed(path, exc))

    def _failed(self, path: Path, error: BaseException) -> None:
        """ffmpeg's errors for damaged or missing files: shown in place of the picture."""
        self._decoding = None
        first_line = str(error).splitlines()[0][:200] if str(error).strip() else type(error).__name__
        self.screen.setText(f"{path.name} cannot be played: {first_line}")

    def _loaded(self, decoded: tuple[list[QImage], float]) -> None:
        self._decoding = None
        frames, fps = decoded
        self.frames, self.fps = frames, fps or 8.0
        self.position.setRange(0, max(0, len(frames) - 1))
        self.show_frame(0)
        if self._autoplay and frames:
            self.play()

    def show_frame(self, index: int) -> None:
        if not self.frames:
            return
        self.index = max(0, min(index, len(self.frames) - 1))
        pixmap = QPixmap.fromImage(self.frames[self.index])
        self.screen.setPixmap(pixmap.scaled(self.screen.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        if self.position.value() != self.index:
            self.position.blockSignals(True)
            self.position.setValue(self.index)
            self.position.blockSignals(False)

    def play(self) -> None:
        self.timer.start(int(1000 / self.fps))
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def toggle(self) -> None:
        self.pause() if self.timer.isActive() else self.play()

    def _tick(self) -> None:
        self.show_frame((self.index + 1) % len(self.frames) if self.frames else 0)


def _decode(path: Path) -> tuple[list[QImage], float]:
    """Every frame of a video file as images (QImage may be made off the GUI thread), and its frame rate."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta: dict[str, Any] = next(reader)
    width, height = meta["size"]
    frames = [QImage(bytes(raw), width, height, width * 3, QImage.Format.Format_RGB888).copy() for raw in reader]
    return frames, float(meta.get("fps") or 8.0)
