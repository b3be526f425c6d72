"""Image to video with Stable Video Diffusion from a local folder: frames, fps, motion bucket, noise
augmentation, steps and seed; VAE slicing (and tiling where the VAE has it) and model CPU offload when the
card is short of memory; H.264 MP4 through ffmpeg (imageio-ffmpeg's build)."""

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
    new_seed,
    pipeline_class,
    sample,
)

LIMITS = {"frames": (8, 32), "fps": (1, 60), "motion_bucket": (0, 255), "noise_aug": (0.0, 0.1), "steps": (1, 200)}


@dataclass
class VideoRequest:
    image: str
    model: str
    frames: int = 14
    fps: int = 7
    motion_bucket: int = 127
    noise_aug: float = 0.02
    steps: int = 25
    seed: int | None = None
    width: int | None = None  # None: the model's native size (1024×576 for SVD)
    height: int | None = None
    decode_chunk: int | None = None  # frames the VAE decodes at once (None: 4 with slicing, else all)
    vae_slicing: bool = True
    vae_tiling: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VideoResult:
    path: Path
    request: VideoRequest
    seconds: float
    frames: int
    notes: list[str] = field(default_factory=list)


class VideoGenerator:
    def __init__(self, pipelines: PipelineCache | None = None) -> None:
        self.pipelines = pipelines or PipelineCache()

    def validate(self, request: VideoRequest, out: Path) -> str:
        """The checks that need no model loaded (run before a job is queued); the pipeline class."""
        _check(request, out)
        _open_image(Path(request.image))
        folder = Path(request.model)
        kind = pipeline_class(folder)
        if kind not in VIDEO_PIPELINES:
            raise MediaError(f"{folder.name} is a {kind}, not Stable Video Diffusion.", path=folder,
                             hint="Give a Stable Video Diffusion folder (img2vid or img2vid-xt).")
        return kind

    def generate(self, request: VideoRequest, out: Path, *, on_step: Callable[[StepPreview], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> VideoResult:
        kind = self.validate(request, out)
        image = _open_image(Path(request.image))
        folder = Path(request.model)
        started = time.perf_counter()
        pipe = self.pipelines.get(folder)
        chunk, notes = _memory_savers(pipe, request)
        multiple = 8
        native_width, native_height = _native(pipe)
        width, height = request.width or native_width, request.height or native_height
        for label, value in (("width", width), ("height", height)):
            if value < multiple or value % multiple:
                raise MediaError(f"{label} = {value}: Stable Video Diffusion takes sizes in multiples of {multiple}.",
                                 hint=f"Try {max(multiple, value // multiple * multiple)}.")
        seed = request.seed if request.seed is not None else new_seed()
        used = VideoRequest(**{**request.to_dict(), "width": width, "height": height, "seed": seed})
        kwargs = {"image": image, "height": height, "width": width, "num_frames": request.frames,
                  "num_inference_steps": request.steps, "fps": request.fps, "motion_bucket_id": request.motion_bucket,
                  "noise_aug_strength": request.noise_aug, "decode_chunk_size": chunk,
                  "output_type": "np"}
        output = sample(self.pipelines, pipe, kwargs, seed=seed, steps=request.steps, kind=kind, notes=notes,
                        on_step=on_step, should_stop=should_stop, video=True,
                        memory_hint="Use fewer frames, a smaller size or a smaller decode chunk.",
                        on_offload=lambda: kwargs.update(decode_chunk_size=min(kwargs["decode_chunk_size"], 4)))
        frames = output.frames[0]
        write_mp4(frames, out, request.fps, {"comment": json.dumps({**used.to_dict(), "pipeline": kind})})
        return VideoResult(out, used, time.perf_counter() - started, len(frames), notes)


def _check(request: VideoRequest, out: Path) -> None:
    if out.suffix.lower() != ".mp4":
        raise MediaError(f"{out.name}: videos are saved as .mp4.", path=out)
    values = {"frames": request.frames, "fps": request.fps, "motion_bucket": request.motion_bucket,
              "noise_aug": request.noise_aug, "steps": request.steps}
    for name, value in values.items():
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise MediaError(f"{name.replace('_', ' ')} = {value}: give {low}–{high}.")
    if request.decode_chunk is not None and request.decode_chunk < 1:
        raise MediaError(f"decode chunk = {request.decode_chunk}: give at least 1 frame.")


def _open_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise MediaError(f"{path.name} does not exist.", path=path, hint="Give the picture the video starts from.")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(f"{path.name} is not an image this build can read ({exc}).", path=path,
                         hint="Use a PNG, JPEG or WebP picture.") from None


def _native(pipe: Any) -> tuple[int, int]:
    """SVD's training size: the UNet's sample size × the VAE factor is the height; width in 16:9."""
    height = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    return max(8, round(height * 16 / 9 / 8) * 8), height


def _memory_savers(pipe: Any, request: VideoRequest) -> tuple[int, list[str]]:
    """The VAE's decode chunk and notes. SVD's temporal VAE decodes frame by frame; "slicing" there means
    decoding a few frames at a time (4, unless a decode chunk is given). Image VAEs slice and tile natively."""
    notes: list[str] = []
    chunk = request.decode_chunk or (min(4, request.frames) if request.vae_slicing else request.frames)
    vae = pipe.vae
    for wanted, name in ((request.vae_slicing, "slicing"), (request.vae_tiling, "tiling")):
        method = getattr(vae, f"{'enable' if wanted else 'disable'}_{name}", None)
        try:
            if method is not None:
                method()
        except NotImplementedError:
            if wanted and name == "tiling":
                notes.append(f"{type(vae).__name__} cannot decode in tiles; a smaller decode chunk saves memory "
                             "instead.")
    return chunk, notes


def write_mp4(frames: Any, out: Path, fps: int, metadata: dict[str, str] | None = None) -> Path:
    """Frames (float [0, 1] or uint8, [N, H, W, 3]) as H.264 MP4 (yuv420p; odd sizes padded by a pixel), written
    to a partial file renamed when ffmpeg finishes."""
    import imageio_ffmpeg
    import numpy as np

    array = np.asarray(frames)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    if array.ndim != 4 or array.shape[-1] != 3 or not len(array):
        raise MediaError(f"Cannot write {out.name}: expected frames [N, H, W, 3], got {array.shape}.")
    pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
    if pad_h or pad_w:
        array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    params = ["-f", "mp4", "-movflags", "+faststart"]
    for key, value in (metadata or {}).items():
        params += ["-metadata", f"{key}={value}"]
    try:
        writer = imageio_ffmpeg.write_frames(str(partial), (array.shape[2], array.shape[1]), fps=fps,
                                             codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
                                             output_params=params)
        writer.send(None)
        for frame in array:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        partial.replace(out)
    except (OSError, RuntimeError) as exc:
        partial.unlink(missing_ok=True)
        raise MediaError(f"{out.name} cannot be written: {exc}", path=out) from None
    return out
