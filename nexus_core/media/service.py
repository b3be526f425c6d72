"""Media as jobs: speech, images and videos are made on the one job runner (progress, cancel), each step's
preview and each spoken sentence go out as events, and every result lands in the gallery with its
parameters, so one click makes it again (same seed, same picture)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.events import Emitter
from nexus_core.jobs.context import JobContext
from nexus_core.jobs.models import JobCancelled
from nexus_core.media.audio import AudioClip, check_format, save_audio
from nexus_core.media.diffusion import (
    VIDEO_PIPELINES,
    MediaCancelled,
    MediaError,
    PipelineCache,
    StepPreview,
    text_to_image_classes,
)
from nexus_core.media.gallery import Gallery, MediaItem
from nexus_core.media.image import ImageGenerator, ImageRequest
from nexus_core.media.speech import SpeechEngine, SpeechError, split_sentences
from nexus_core.media.video import VideoGenerator, VideoRequest
from nexus_core.media.voices import VoiceStore
from nexus_core.store import Store
from nexus_core.units import one_line


@dataclass(frozen=True)
class MediaPreview:
    """A job's news: an image or video step (``image`` a PIL picture or None) or a spoken sentence (``audio``)."""

    job_id: str
    kind: str  # speech | image | video
    step: int
    steps: int
    image: Any = None
    audio: AudioClip | None = None


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str | None = None  # a voice id, a cloned voice's name or an espeak language; None: the default
    model: str | None = None  # a text-to-speech folder (wins over voice)
    language: str | None = None
    speed: float = 1.0
    format: str = "wav"  # wav | mp3 | ogg | flac

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "voice": self.voice, "model": self.model, "language": self.language,
                "speed": self.speed, "format": self.format}


class MediaService:
    def __init__(self, root: Path, data_root: Path, runner: Any, store: Store, *, manager: Any = None,
                 model_entries: Callable[[], list[Any]] = list) -> None:
        self.root = root
        self.runner = runner
        self.gallery = Gallery(store)
        self.voices = VoiceStore(data_root / "voices")
        self.model_entries = model_entries  # the model library's scan: LibraryEntry-like (``info``)
        self.speech = SpeechEngine(clones=self.voices, model_folders=lambda: self._folders("tts"))
        self.pipelines = PipelineCache(manager)
        self.images = ImageGenerator(self.pipelines)
        self.videos = VideoGenerator(self.pipelines)
        self.previews: Emitter[MediaPreview] = Emitter("media.preview")
        self.changed: Emitter[int] = Emitter("media.gallery")  # the new item's id

    # ---- models ------------------------------------------------------------------------------------

    def _folders(self, category: str) -> list[Path]:
        return [e.info.path for e in self.model_entries() if e.info.category == category]

    def image_models(self) -> list[Path]:
        classes = text_to_image_classes()
        return [e.info.path for e in self.model_entries()
                if e.info.category == "diffusers" and e.info.pipeline_class in classes]

    def video_models(self) -> list[Path]:
        return [e.info.path for e in self.model_entries()
                if e.info.category == "diffusers" and e.info.pipeline_class in VIDEO_PIPELINES]

    # ---- jobs --------------------------------------------------------------------------------------

    def output_path(self, kind: str, title: str, suffix: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or kind
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}-{slug}{suffix}"
        n = 2
        while path.exists():
            path, n = folder / f"{stamp}-{slug}-{n}{suffix}", n + 1
        return path

    def speak(self, request: SpeechRequest, out: Path | None = None) -> Any:
        out = out or self.output_path("speech", request.text, f".{request.format}")
        check_format(out)
        voice = self.speech.resolve(request.voice, Path(request.model) if request.model else None)
        if not split_sentences(request.text):
            raise SpeechError("There is no text to speak.", hint="Give the text to read aloud.")
        self.speech.check_language(voice, request.language)

        def job(ctx: JobContext) -> int:
            started = time.perf_counter()
            clips: list[AudioClip] = []
            for clip in self.speech.stream(request.text, voice, language=request.language, speed=request.speed,
                                           should_stop=lambda: ctx.cancelled):
                clips.append(clip)
                self.previews.emit(MediaPreview(ctx.job_id, "speech", len(clips), 0, audio=clip))
                ctx.progress(None, f"{len(clips)} sentence(s) spoken")
            if ctx.cancelled:
                raise JobCancelled
            save_audio(AudioClip.join(clips, pause=0.12), out)
            return self._record("speech", out, {**request.to_dict(), "voice": voice.id},
                                time.perf_counter() - started, [])

        return self.runner.submit(job, name=f"Speak: {one_line(request.text, 48)}", params={"kind": "speech",
                                                                                        "out": str(out)})

    def draw(self, request: ImageRequest, out: Path | None = None) -> Any:
        out = out or self.output_path("image", request.prompt, ".png")
        self.images.validate(request, out)  # bad input is refused now, not in a failed job

        def job(ctx: JobContext) -> int:
            result = _cancellable(lambda: self.images.generate(request, out, on_step=self._stepper(ctx, "image"),
                                                               should_stop=lambda: ctx.cancelled))
            return self._record("image", out, {**result.request.to_dict(), "pipeline": result.pipeline},
                                result.seconds, result.notes)

        return self.runner.submit(job, name=f"Draw: {one_line(request.prompt, 48)}", params={"kind": "image",
                                                                                        "out": str(out)})

    def animate(self, request: VideoRequest, out: Path | None = None) -> Any:
        out = out or self.output_path("video", Path(request.image).stem, ".mp4")
        self.videos.validate(request, out)

        def job(ctx: JobContext) -> int:
            result = _cancellable(lambda: self.videos.generate(request, out, on_step=self._stepper(ctx, "video"),
                                                               should_stop=lambda: ctx.cancelled))
            return self._record("video", out, result.request.to_dict(), result.seconds, result.notes)

        return self.runner.submit(job, name=f"Animate: {Path(request.image).name}",
                                  params={"kind": "video", "out": str(out)})

    def rerun(self, item_id: int) -> Any:
        """Make a gallery item again with the same parameters (a new file beside the old one)."""
        item = self.gallery.get(item_id)
        if item is None:
            raise MediaError(f"The gallery has no item {item_id}.")
        params = dict(item.params)
        if item.kind == "speech":
            return self.speak(SpeechRequest(**{k: params.get(k) for k in SpeechRequest.__dataclass_fields__
                                               if k in params}))
        params.pop("pipeline", None)
        if item.kind == "image":
            return self.draw(ImageRequest(**params))
        return self.animate(VideoRequest(**params))

    def _stepper(self, ctx: JobContext, kind: str) -> Callable[[StepPreview], None]:
        def on_step(step: StepPreview) -> None:
            ctx.progress(step.step / step.steps, f"step {step.step}/{step.steps}")
            self.previews.emit(MediaPreview(ctx.job_id, kind, step.step, step.steps, image=step.image))
            try:
                ctx.check()  # pausing waits here; a cancel is seen by should_stop
            except JobCancelled:
                pass

        return on_step

    def _record(self, kind: str, path: Path, params: dict[str, Any], seconds: float, notes: list[str]) -> int:
        item_id = self.gallery.add(kind, path, params, seconds, notes)
        self.changed.emit(item_id)
        return item_id

    def items(self, kind: str | None = None) -> list[MediaItem]:
        return self.gallery.items(kind)


def _cancellable(make: Callable[[], Any]) -> Any:
    try:
        return make()
    except MediaCancelled:
        raise JobCancelled from None

