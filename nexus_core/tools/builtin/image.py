"""The image-generation tool: the model asks for a picture, a local diffusers pipeline draws it as a media job
(the Media panel shows it, with its preview, and keeps it in the gallery), and a copy lands in the workspace."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.tools.base import ToolContext, ToolFailure, tool

MAX_SIDE = 2048


@tool(risk="safe", timeout_s=900.0)
def generate_image(ctx: ToolContext, prompt: str, negative_prompt: str = "", steps: int = 25,
                   width: int | None = None, height: int | None = None, seed: int | None = None,
                   model: str = "") -> dict[str, Any]:
    """Draw a picture from a text description with a local image model (Stable Diffusion, SDXL, Flux…).

    Args:
        prompt: what the picture shows, in detail (subject, style, lighting, composition).
        negative_prompt: what it must not show (models that take one).
        steps: sampling steps, 1–150; more is slower and usually finer.
        width: in pixels (a multiple of 8; leave out for the model's native size).
        height: in pixels (a multiple of 8; leave out for the model's native size).
        seed: the same seed with the same settings draws the same picture; leave out for a new one.
        model: the image model's folder or folder name; leave out for the configured one.
    """
    from nexus_core.media.image import ImageRequest

    media = ctx.service("media")
    if not 1 <= steps <= 150:
        raise ToolFailure(f"steps = {steps}: give 1–150", kind="invalid_arguments")
    if any(side is not None and not 8 <= side <= MAX_SIDE for side in (width, height)):
        raise ToolFailure(f"width and height must be 8–{MAX_SIDE} pixels", kind="invalid_arguments")
    folder = _pick_model(ctx, media, model)
    request = ImageRequest(prompt=prompt, model=str(folder), negative_prompt=negative_prompt, steps=steps,
                           width=width, height=height, seed=seed)
    try:
        handle = media.draw(request)
    except NexusError as exc:
        raise ToolFailure(f"{exc.what} {exc.hint or ''}".strip(), kind="invalid_arguments") from None
    snapshot = handle.wait()
    if snapshot.state.value == "cancelled":
        raise ToolFailure("the user stopped the drawing", kind="cancelled")
    if snapshot.state.value != "succeeded":
        raise ToolFailure(f"the image could not be made: {snapshot.error or snapshot.message}", kind="tool_error")
    item = media.gallery.get(handle.result())
    target = ctx.workspace / "images" / item.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.path, target)
    used = item.params
    return {"file": str(target.relative_to(ctx.workspace)), "path": str(item.path), "width": used["width"],
            "height": used["height"], "seed": used["seed"], "steps": used["steps"], "model": Path(used["model"]).name,
            "seconds": round(item.seconds, 2), "notes": item.notes}


def _pick_model(ctx: ToolContext, media: Any, wanted: str) -> Path:
    available = media.image_models()
    if wanted:
        direct = Path(wanted).expanduser()
        if direct.is_dir():
            return direct
        for folder in available:
            if folder.name.casefold() == wanted.casefold():
                return folder
        raise ToolFailure(f"there is no image model {wanted!r}; image models: "
                          f"{', '.join(f.name for f in available) or 'none'}", kind="not_found")
    settings = ctx.services.get("settings")
    configured = getattr(settings, "image_model", None)
    if configured:
        return Path(configured)
    if not available:
        raise ToolFailure("no image model is available: the user can add a Stable Diffusion, SDXL or Flux folder in "
                          "the Models panel (or set one in Media)", kind="unavailable")
    return available[0]
