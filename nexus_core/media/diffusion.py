"""What image and video generation share: a diffusers pipeline from a local folder (through the model
loader), its kind checked against the job, seeds, step previews from the latents, cancellation, and an
out-of-memory fallback to model CPU offload."""

from __future__ import annotations

import inspect
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError

VIDEO_PIPELINES = {"StableVideoDiffusionPipeline"}

# Latent → RGB projections for previews without the VAE (the approximation ComfyUI and A1111 show while
# sampling): Stable Diffusion 1.x/2.x and SDXL latents have 4 channels.
_SD_RGB = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
_SDXL_RGB = ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
             (-0.3165, -0.2492, -0.2188))


class MediaError(NexusError):
    """Generation cannot run as asked; the message names the setting or file."""


class MediaCancelled(MediaError):  # noqa: N818 - reads as what happened
    """The job was stopped; nothing was saved."""


@dataclass
class StepPreview:
    step: int
    steps: int
    image: Any  # PIL image (an approximation from the latents), or None where the latents have no cheap preview


def text_to_image_classes() -> set[str]:
    try:
        from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING
    except ImportError:
        return {"StableDiffusionPipeline", "StableDiffusionXLPipeline"}
    return {cls.__name__ for cls in AUTO_TEXT2IMAGE_PIPELINES_MAPPING.values()}


def pipeline_class(folder: Path) -> str:
    """The pipeline class a diffusers folder names (``model_index.json``), or MediaError."""
    from nexus_core.models.detect import inspect_model

    info = inspect_model(folder)
    if info.category != "diffusers" or not info.pipeline_class:
        raise MediaError(f"{folder} is not a diffusers pipeline folder (it holds a {info.category} model).",
                         path=folder, hint="Give a folder with model_index.json, as diffusers saves pipelines.")
    return str(info.pipeline_class)


def new_seed() -> int:
    return random.randrange(2**32)


class PipelineCache:
    """Pipelines through the shared ModelManager (the Models panel shows them and can unload them). The last
    one used stays loaded; switching to another frees it if this cache was the one that loaded it."""

    def __init__(self, manager: Any = None, device: str = "auto") -> None:
        from nexus_core.models.manager import ModelManager

        self.manager = manager or ModelManager()
        self.device = device
        self._lock = threading.RLock()  # a release callback may arrive from inside ``get`` (switching models)
        self._folder: Path | None = None
        self._pipe: Any = None
        self._loaded_here = False
        self.offloaded = False

    def get(self, folder: Path) -> Any:
        from nexus_core.models.devices import ModelLoadError

        folder = folder.resolve()
        with self._lock:
            if self._folder == folder and self._pipe is not None:
                return self._pipe
            previous, loaded_here = self._folder, self._loaded_here
            self._forget()
            if previous is not None and loaded_here:
                self.manager.unload(previous)
            was_loaded = self.manager.get(folder) is not None
            try:
                loaded = self.manager.load(folder, device=self.device, on_release=lambda: self._released(folder))
            except ModelLoadError as exc:
                raise MediaError(exc.what, path=exc.path, hint=exc.hint) from None
            self._pipe, self._folder, self._loaded_here = loaded.model, folder, not was_loaded
            if hasattr(self._pipe, "set_progress_bar_config"):
                self._pipe.set_progress_bar_config(disable=True)  # progress goes through the job instead
            return self._pipe

    def _released(self, folder: Path) -> None:
        with self._lock:
            if self._folder == folder:
                self._forget()

    def _forget(self) -> None:
        self._pipe, self._folder, self._loaded_here, self.offloaded = None, None, False, False

    def offload(self) -> bool:
        """Move the pipeline to model CPU offload (CUDA only): True when that changed anything."""
        with self._lock:
            pipe = self._pipe
            if pipe is None or self.offloaded or getattr(pipe, "device", None) is None or \
                    pipe.device.type != "cuda":
                return False
            pipe.to("cpu")
            pipe.enable_model_cpu_offload()
            self.offloaded = True
            return True


def accepted(pipe: Any) -> set[str]:
    return set(inspect.signature(pipe.__call__).parameters)


def step_callback(pipe: Any, steps: int, on_step: Callable[[StepPreview], None] | None,
                  should_stop: Callable[[], bool], stopped: list[bool], *, preview_every: int = 1,
                  video: bool = False) -> dict[str, Any]:
    """Keyword arguments that make ``pipe`` report each step (with a preview) and stop when asked."""

    def callback(pipeline: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if should_stop():
            stopped[0] = True
            pipeline._interrupt = True
        if on_step is not None:
            latents = kwargs.get("latents")
            done = step + 1
            image = latents_preview(latents, pipeline, video=video) \
                if latents is not None and (done % preview_every == 0 or done == steps) else None
            on_step(StepPreview(done, steps, image))
        return kwargs

    names = accepted(pipe)
    if "callback_on_step_end" not in names:
        return {}
    return {"callback_on_step_end": callback, "callback_on_step_end_tensor_inputs": ["latents"]}


def latents_preview(latents: Any, pipe: Any, *, video: bool = False) -> Any:
    """A small RGB picture of 4-channel latents (first frame for video); None for other latent layouts."""
    import numpy as np
    import torch
    from PIL import Image

    tensor = latents.detach().float().cpu()
    if video and tensor.ndim == 5:  # SVD: [batch, frames, channels, h, w]
        tensor = tensor[:, 0]
    if tensor.ndim != 4 or tensor.shape[1] != 4:
        return None
    xl = "XL" in type(pipe).__name__
    factors = torch.tensor(_SDXL_RGB if xl else _SD_RGB)
    rgb = torch.einsum("chw,cr->hwr", tensor[0], factors)
    array = ((rgb.clamp(-1, 1) + 1) * 127.5).numpy().astype(np.uint8)
    return Image.fromarray(array)


def sample(pipelines: PipelineCache, pipe: Any, kwargs: dict[str, Any], *, seed: int, steps: int, kind: str,
           notes: list[str], on_step: Callable[[StepPreview], None] | None, should_stop: Callable[[], bool],
           video: bool = False, memory_hint: str, on_offload: Callable[[], None] = lambda: None) -> Any:
    """Run ``pipe(**kwargs)`` seeded, with step reports and cancel; out of memory on a card: once more with model
    CPU offload (``on_offload`` may shrink the work too), then MediaError with ``memory_hint``."""
    import torch

    stopped = [False]
    for attempt in (1, 2):
        device = getattr(pipe, "device", None)
        generator = torch.Generator("cpu" if device is None or pipelines.offloaded else device).manual_seed(seed)
        try:
            with torch.inference_mode():
                output = pipe(**kwargs, generator=generator,
                              **step_callback(pipe, steps, on_step, should_stop, stopped, video=video))
            break
        except ValueError as exc:  # the pipeline's own input checks
            raise MediaError(f"{kind} refused the request: {str(exc).splitlines()[0][:300]}") from None
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            if attempt == 1 and pipelines.offload():
                notes.append("Out of memory: retried with model CPU offload.")
                on_offload()
                continue
            raise MediaError("Out of memory while generating; nothing was saved.", hint=memory_hint) from None
    if stopped[0]:
        raise MediaCancelled("Stopped; nothing was saved.")
    return output


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    text = str(exc).lower()
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in text or \
        "can't allocate memory" in text  # the CPU allocator's words
