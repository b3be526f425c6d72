"""Text to image with diffusers pipelines from local folders (Stable Diffusion 1.x/2.x, SDXL, SD3, Flux and
the other text-to-image pipelines the installed diffusers has): prompt, negative prompt, steps, guidance,
size, seed; a preview at each step; cancel; PNG with its parameters embedded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.media.diffusion import (
    VIDEO_PIPELINES,
    MediaError,
    PipelineCache,
    StepPreview,
    accepted,
    new_seed,
    pipeline_class,
    sample,
    text_to_image_classes,
)


@dataclass
class ImageRequest:
    prompt: str
    model: str
    negative_prompt: str = ""
    steps: int = 30
    guidance: float = 7.5
    width: int | None = None  # None: the model's native size
    height: int | None = None
    seed: int | None = None  # None: a new one, reported with the result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImageResult:
    path: Path
    request: ImageRequest  # with the seed, width and height actually used
    seconds: float
    pipeline: str
    notes: list[str] = field(default_factory=list)


class ImageGenerator:
    def __init__(self, pipelines: PipelineCache | None = None) -> None:
        self.pipelines = pipelines or PipelineCache()

    def validate(self, request: ImageRequest, out: Path) -> str:
        """The checks that need no model loaded (run before a job is queued); the pipeline class."""
        if not request.prompt.strip():
            raise MediaError("The prompt is empty.", hint="Describe the picture to draw.")
        if request.steps < 1 or request.steps > 500:
            raise MediaError(f"steps = {request.steps}: give 1–500.")
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            raise MediaError(f"{out.name}: images are saved as .png, .jpg or .webp.", path=out)
        folder = Path(request.model)
        kind = pipeline_class(folder)
        if kind in VIDEO_PIPELINES:
            raise MediaError(f"{folder.name} is an image-to-video pipeline ({kind}).", path=folder,
                             hint="Use it for video: nexus video --image FILE --model … (or the Video tab).")
        if kind not in text_to_image_classes():
            raise MediaError(f"{folder.name} is a {kind}, not a text-to-image pipeline.", path=folder,
                             hint="Give a Stable Diffusion, SDXL, SD3 or Flux folder.")
        return kind

    def generate(self, request: ImageRequest, out: Path, *, on_step: Callable[[StepPreview], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> ImageResult:
        kind = self.validate(request, out)
        folder = Path(request.model)
        started = time.perf_counter()
        pipe = self.pipelines.get(folder)
        names = accepted(pipe)
        multiple = int(getattr(pipe, "vae_scale_factor", 8) or 8) * (2 if "Flux" in kind else 1)
        native = _native_size(pipe)
        width, height = request.width or native, request.height or native
        for label, value in (("width", width), ("height", height)):
            if value < multiple or value % multiple:
                raise MediaError(f"{label} = {value}: this model takes sizes in multiples of {multiple}.",
                                 hint=f"Try {max(multiple, value // multiple * multiple)}.")
        seed = request.seed if request.seed is not None else new_seed()
        used = ImageRequest(**{**request.to_dict(), "width": width, "height": height, "seed": seed})
        notes: list[str] = []
        kwargs: dict[str, Any] = {"prompt": request.prompt, "num_inference_steps": request.steps,
                                  "width": width, "height": height, "output_type": "pil"}
        if "guidance_scale" in names:
            kwargs["guidance_scale"] = request.guidance
        if request.negative_prompt:
            if "negative_prompt" in names:
                kwargs["negative_prompt"] = request.negative_prompt
            else:
                notes.append(f"{kind} takes no negative prompt; it was not used.")
        output = sample(self.pipelines, pipe, kwargs, seed=seed, steps=request.steps, kind=kind, notes=notes,
                        on_step=on_step, should_stop=should_stop,
                        memory_hint="Use a smaller size or fewer steps, or close other GPU work.")
        image = output.images[0]
        _save_image(image, out, {"parameters": json.dumps({**used.to_dict(), "pipeline": kind})})
        return ImageResult(out, used, time.perf_counter() - started, kind, notes)


def _native_size(pipe: Any) -> int:
    scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    sample = getattr(pipe, "default_sample_size", None)
    if sample is None:
        for name in ("unet", "transformer"):
            config = getattr(getattr(pipe, name, None), "config", None)
            sample = getattr(config, "sample_size", None) if config is not None else None
            if sample is not None:
                break
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    return int(sample or 64) * scale


def _save_image(image: Any, out: Path, text: dict[str, str]) -> None:
    """PNG with text chunks (others as is), through a partial file renamed when complete."""
    from PIL import PngImagePlugin

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        if out.suffix.lower() == ".png":
            info = PngImagePlugin.PngInfo()
            for key, value in text.items():
                info.add_text(key, value)
            image.save(partial, format="PNG", pnginfo=info)
        else:
            image.convert("RGB").save(partial, format={".jpg": "JPEG", ".jpeg": "JPEG"}.get(out.suffix.lower(),
                                                                                          "WEBP"))
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise MediaError(f"{out.name} cannot be written: {exc}", path=out) from None


def read_parameters(path: Path) -> dict[str, Any] | None:
    """The parameters a generated PNG carries (to re-run it), or None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            text = image.info.get("parameters")
    except OSError:
        return None
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
