"""Reading attachments: pictures (Pillow), sound (libsndfile, resampled to what the encoder expects) and video
frames (ffmpeg through imageio-ffmpeg). Anything unreadable is refused with the file named and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}
MAX_AUDIO_S = 30.0  # Whisper's window; longer sound is cut (and the caller told)


class MediaError(NexusError):
    """An attachment that cannot be read or used."""


def modality_of(path: Path) -> str:
    """'vision', 'audio' or 'video' from the file's extension; MediaError for anything else."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "vision"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise MediaError(f"{path.name} is not a picture, sound or video file this app reads.", path=path,
                     hint="Pictures: PNG, JPEG, WebP, BMP, GIF, TIFF; sound: WAV, FLAC, OGG, MP3, Opus; video: MP4, "
                          "MKV, WebM, MOV, AVI.")


def _exists(path: Path) -> None:
    if not path.is_file():
        raise MediaError(f"The attachment {path} does not exist.", path=path, hint="Check the file name.")


def read_image(path: Path) -> Any:
    """An RGB ``PIL.Image``."""
    from PIL import Image, UnidentifiedImageError

    _exists(path)
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaError(f"{path.name} cannot be read as a picture ({exc}).", path=path,
                         hint="Save it again as PNG or JPEG.") from None


def read_audio(path: Path, sampling_rate: int) -> tuple[Any, bool]:
    """Mono float32 samples (numpy) at ``sampling_rate``, and whether it was cut to ``MAX_AUDIO_S``."""
    import numpy as np
    import soundfile

    _exists(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise MediaError(f"{path.name} cannot be read as sound ({exc}).", path=path,
                         hint="Convert it to WAV or FLAC.") from None
    if not len(data):
        raise MediaError(f"{path.name} holds no sound.", path=path, hint="Record or choose another file.")
    mono = data.mean(axis=1)
    if rate != sampling_rate:  # linear resampling: enough for speech features
        count = max(1, round(len(mono) * sampling_rate / rate))
        mono = np.interp(np.linspace(0, len(mono) - 1, count), np.arange(len(mono)), mono).astype(np.float32)
    limit = int(MAX_AUDIO_S * sampling_rate)
    return mono[:limit], len(mono) > limit


def read_video(path: Path, frames: int) -> list[Any]:
    """``frames`` RGB frames (``PIL.Image``) spread evenly over the video."""
    import imageio_ffmpeg
    import numpy as np
    from PIL import Image

    _exists(path)
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        width, height = meta["size"]
        raw = [np.frombuffer(frame, dtype=np.uint8).reshape(height, width, 3) for frame in reader]
    except (RuntimeError, OSError, StopIteration, ValueError) as exc:
        raise MediaError(f"{path.name} cannot be read as a video ({exc}).", path=path,
                         hint="Convert it to MP4 (H.264).") from None
    if not raw:
        raise MediaError(f"{path.name} holds no frames.", path=path, hint="Choose another video.")
    picks = np.linspace(0, len(raw) - 1, frames).round().astype(int)
    return [Image.fromarray(raw[i]) for i in picks]
