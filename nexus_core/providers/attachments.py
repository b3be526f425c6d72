"""Attachments in each provider's own format: OpenAI-compatible content parts (``image_url`` data URLs,
``input_audio``), Anthropic ``image`` blocks. What a provider cannot take is refused with the reason, before any
request is made."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from nexus_core.multimodal.media import MediaError, modality_of

MAX_BYTES = 20 * 1024 * 1024
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                ".gif": "image/gif"}
_OPENAI_AUDIO = {".wav": "wav", ".mp3": "mp3"}


class AttachmentRefused(ValueError):  # noqa: N818 - a refusal the provider turns into its ProviderError
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AttachmentRefused(f"the attachment {path.name} cannot be read ({exc.strerror or exc})",
                                "Attach it again.") from None
    if len(data) > MAX_BYTES:
        raise AttachmentRefused(f"{path.name} is {len(data) // (1024 * 1024)} MiB; providers take at most "
                                f"{MAX_BYTES // (1024 * 1024)} MiB per attachment", "Send a smaller file.")
    return data


def image(path: Path) -> tuple[str, str]:
    """(media type, base64) of a picture; formats providers do not take (BMP, TIFF…) are sent as PNG."""
    data = _read(path)
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as picture:
                buffer = io.BytesIO()
                picture.convert("RGB").save(buffer, format="PNG")
        except (UnidentifiedImageError, OSError) as exc:
            raise AttachmentRefused(f"{path.name} cannot be read as a picture ({exc})",
                                    "Save it as PNG or JPEG.") from None
        data, mime = buffer.getvalue(), "image/png"
    return mime, base64.b64encode(data).decode("ascii")


def _kind(path: Path) -> str:
    try:
        return modality_of(path)
    except MediaError as exc:
        raise AttachmentRefused(exc.what, exc.hint) from None


def openai_content(text: str, attachments: list[str], provider: str) -> list[dict[str, Any]]:
    """A user message's content parts: its text, then each picture (data URL) and sound (input_audio)."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for raw in attachments:
        path = Path(raw)
        kind = _kind(path)
        if kind == "vision":
            mime, data = image(path)
            parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
        elif kind == "audio":
            fmt = _OPENAI_AUDIO.get(path.suffix.lower())
            if fmt is None:
                raise AttachmentRefused(f"{path.name}: {provider} takes sound as WAV or MP3 only",
                                        "Convert it to WAV, or attach it for a local model with a fusion bundle.")
            parts.append({"type": "input_audio", "input_audio": {"data": base64.b64encode(_read(path)).decode(),
                                                                 "format": fmt}})
        else:
            raise AttachmentRefused(f"{path.name}: {provider} (an OpenAI-compatible chat endpoint) cannot take "
                                    "video", "Attach pictures of its frames, or use a local model with a fusion "
                                             "bundle that has a video encoder.")
    return parts


def anthropic_content(text: str, attachments: list[str], provider: str) -> list[dict[str, Any]]:
    """A user message's content blocks: each picture as a base64 ``image`` block, then the text."""
    blocks: list[dict[str, Any]] = []
    for raw in attachments:
        path = Path(raw)
        kind = _kind(path)
        if kind != "vision":
            raise AttachmentRefused(f"{path.name}: {provider} (Anthropic) takes pictures, not {kind}",
                                    "Use a provider or a local model with a fusion bundle that takes it.")
        mime, data = image(path)
        blocks.append({"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}})
    if text:
        blocks.append({"type": "text", "text": text})
    return blocks
