"""The three job forms of the Media panel. Each turns its widgets into a core request; the panel submits it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from nexus_core.media.image import ImageRequest
from nexus_core.media.service import MediaService, SpeechRequest
from nexus_core.media.video import VideoRequest


def _spin(low: int, high: int, value: int, special: str = "", *, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)
    return box


def _model_combo(tip: str) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)  # a folder path may be typed or pasted
    combo.setMinimumContentsLength(24)
    combo.setToolTip(tip)
    return combo


def _fill(combo: QComboBox, folders: list[Path], placeholder: str) -> None:
    current = combo.currentText()
    combo.clear()
    for folder in folders:
        combo.addItem(folder.name, str(folder))
    combo.lineEdit().setPlaceholderText(placeholder)
    if current:
        combo.setEditText(current)


def _combo_path(combo: QComboBox) -> str:
    index = combo.findText(combo.currentText())
    return str(combo.itemData(index)) if index >= 0 and combo.itemData(index) else combo.currentText().strip()


class SpeechForm(QWidget):
    FORMATS = ("wav", "mp3", "ogg", "flac")

    def __init__(self, media: MediaService, settings: Any, save: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.media, self.settings, self._save = media, settings, save
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Text to speak. Long text is read sentence by sentence as it is made.")
        self.text.setToolTip("The text to turn into speech")
        self.voice = QComboBox()
        self.voice.setMinimumContentsLength(28)
        self.voice.setToolTip("The voice that speaks, from the installed speech engines")
        self.language = QLineEdit()
        self.language.setPlaceholderText("the voice's own (multilingual voices: en, de, fr…)")
        self.language.setToolTip("A language code for voices that speak several languages (empty: the voice's own)")
        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.3, 3.0)
        self.speed.setSingleStep(0.1)
        self.speed.setValue(1.0)
        self.speed.setToolTip("How fast it speaks: 1 is the voice's normal pace")
        self.format = QComboBox()
        self.format.addItems([f.upper() for f in self.FORMATS])
        self.format.setToolTip("The audio file format the speech is saved in")
        self.play_while = QCheckBox("Play while it is made")
        self.play_while.setChecked(True)
        self.play_while.setToolTip("Start playing the first sentences while the rest are still being made")
        self.chat_voice = QPushButton("Use for chat")
        self.chat_voice.setToolTip("Read chat answers aloud with this voice")
        self.chat_voice.clicked.connect(self.use_for_chat)
        voice_row = QHBoxLayout()
        voice_row.addWidget(self.voice, 1)
        voice_row.addWidget(self.chat_voice)
        form = QFormLayout(self)
        form.addRow("Text", self.text)
        form.addRow("Voice", voice_row)
        form.addRow("Language", self.language)
        form.addRow("Speed", self.speed)
        form.addRow("Format", self.format)
        form.addRow("", self.play_while)
        self.refresh()

    def refresh(self) -> None:
        current = self.voice.currentData()
        self.voice.clear()
        for voice in self.media.speech.voices():
            self.voice.addItem(voice.name, voice.id)
        index = self.voice.findData(current or self.media.speech.resolve(None).id)
        self.voice.setCurrentIndex(max(0, index))

    def use_for_chat(self) -> None:
        self.settings.voice = self.voice.currentData()
        self._save()

    def request(self) -> SpeechRequest:
        return SpeechRequest(self.text.toPlainText(), self.voice.currentData(), None,
                             self.language.text().strip() or None, round(self.speed.value(), 2),
                             self.FORMATS[self.format.currentIndex()])


class ImageForm(QWidget):
    def __init__(self, media: MediaService, settings: Any, save: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.media, self.settings, self._save = media, settings, save
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("What the picture shows: subject, style, light, composition")
        self.prompt.setToolTip("Describe the picture to make")
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("what it must not show")
        self.negative.setToolTip("What the picture must not show (the model steers away from it)")
        self.model = _model_combo("The image model: pick a found one or type its folder")
        self.steps = _spin(1, 150, 30, tip="Denoising steps: more is slower and usually more detailed")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, 30.0)
        self.guidance.setValue(7.5)
        self.guidance.setToolTip("How closely the picture follows the prompt: higher is stricter, lower is freer")
        self.width_box = _spin(0, 4096, 0, "native", tip="Width in pixels (native: the model's own size)")
        self.height_box = _spin(0, 4096, 0, "native", tip="Height in pixels (native: the model's own size)")
        for box in (self.width_box, self.height_box):
            box.setSingleStep(64)
        self.seed = _spin(-1, 2**31 - 1, -1, "random", tip="The same seed and settings make the same picture again "
                                                           "(random: a new one each time)")
        self.agent_model = QPushButton("Use for the agent")
        self.agent_model.setToolTip("The chat agent's image tool draws with this model")
        self.agent_model.clicked.connect(self.use_for_agent)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.agent_model)
        size = QHBoxLayout()
        size.addWidget(self.width_box)
        size.addWidget(self.height_box)
        form = QFormLayout(self)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative prompt", self.negative)
        form.addRow("Model", model_row)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Width × height", size)
        form.addRow("Seed", self.seed)
        self.refresh()

    def refresh(self) -> None:
        _fill(self.model, self.media.image_models(), "a Stable Diffusion / SDXL / Flux folder")

    def use_for_agent(self) -> None:
        path = _combo_path(self.model)
        self.settings.image_model = Path(path) if path else None
        self._save()

    def request(self) -> ImageRequest:
        return ImageRequest(self.prompt.toPlainText(), _combo_path(self.model), self.negative.text(),
                            self.steps.value(), round(self.guidance.value(), 2), self.width_box.value() or None,
                            self.height_box.value() or None, self.seed.value() if self.seed.value() >= 0 else None)

    def load(self, params: dict[str, Any]) -> None:
        """Fill the form from a gallery item's parameters (to tweak and run again)."""
        self.prompt.setPlainText(str(params.get("prompt", "")))
        self.negative.setText(str(params.get("negative_prompt", "")))
        self.model.setEditText(str(params.get("model", "")))
        self.steps.setValue(int(params.get("steps", 30)))
        self.guidance.setValue(float(params.get("guidance", 7.5)))
        self.width_box.setValue(int(params.get("width") or 0))
        self.height_box.setValue(int(params.get("height") or 0))
        self.seed.setValue(int(params["seed"]) if params.get("seed") is not None else -1)


class VideoForm(QWidget):
    def __init__(self, media: MediaService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.media = media
        self.image = QLineEdit()
        self.image.setPlaceholderText("the picture the video starts from")
        self.image.setToolTip("The picture the video starts from: it becomes the first frame")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the start picture")
        browse.clicked.connect(self._browse)
        picture = QHBoxLayout()
        picture.addWidget(self.image, 1)
        picture.addWidget(browse)
        self.model = _model_combo("The video model: pick a found one or type its folder")
        self.frames = _spin(8, 32, 14, tip="How many frames the video has")
        self.fps = _spin(1, 60, 7, tip="Playback speed of the saved video")
        self.motion = _spin(0, 255, 127, tip="How much moves: higher gives more motion")
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, 0.1)
        self.noise.setDecimals(3)
        self.noise.setSingleStep(0.005)
        self.noise.setValue(0.02)
        self.noise.setToolTip("Noise added to the start picture: more lets the video stray further from it")
        self.steps = _spin(1, 200, 25, tip="Denoising steps: more is slower and usually smoother")
        self.seed = _spin(-1, 2**31 - 1, -1, "random", tip="The same seed and settings make the same video again "
                                                           "(random: a new one each time)")
        self.slicing = QCheckBox("VAE slicing (decode a few frames at a time)")
        self.slicing.setChecked(True)
        self.slicing.setToolTip("Decode the frames a few at a time: less memory, a little slower")
        self.tiling = QCheckBox("VAE tiling")
        self.tiling.setToolTip("Decode each frame in tiles: less memory for large frames, a little slower")
        form = QFormLayout(self)
        form.addRow("Picture", picture)
        form.addRow("Model", self.model)
        form.addRow("Frames", self.frames)
        form.addRow("Frames per second", self.fps)
        form.addRow("Motion (0–255)", self.motion)
        form.addRow("Noise augmentation", self.noise)
        form.addRow("Steps", self.steps)
        form.addRow("Seed", self.seed)
        form.addRow("", self.slicing)
        form.addRow("", self.tiling)
        self.refresh()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start picture", "", "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.image.setText(path)

    def refresh(self) -> None:
        _fill(self.model, self.media.video_models(), "a Stable Video Diffusion folder")

    def request(self) -> VideoRequest:
        return VideoRequest(self.image.text().strip(), _combo_path(self.model), self.frames.value(), self.fps.value(),
                            self.motion.value(), round(self.noise.value(), 3), self.steps.value(),
                            self.seed.value() if self.seed.value() >= 0 else None,
                            vae_slicing=self.slicing.isChecked(), vae_tiling=self.tiling.isChecked())
