"""Audio clips: mono float samples at a rate, saved in the format the file's extension names (WAV, MP3, OGG
Vorbis, FLAC through libsndfile), read back for checks and for voice references."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError

FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
           ".mp3": ("MP3", "MPEG_LAYER_III")}


class AudioError(NexusError):
    """An audio file cannot be written or read; the message names it."""


@dataclass
class AudioClip:
    samples: Any  # numpy float32, mono, in [-1, 1]
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    @staticmethod
    def join(clips: list[AudioClip], pause: float = 0.0) -> AudioClip:
        """One clip from several at the same rate (``pause`` seconds of silence between them)."""
        import numpy as np

        if not clips:
            return AudioClip(np.zeros(0, dtype=np.float32), 22050)
        rate = clips[0].rate
        gap = np.zeros(int(pause * rate), dtype=np.float32)
        parts: list[Any] = []
        for i, clip in enumerate(clips):
            if clip.rate != rate:
                clip = resample(clip, rate)
            parts += [gap, clip.samples] if i else [clip.samples]
        return AudioClip(np.concatenate(parts).astype(np.float32), rate)


def resample(clip: AudioClip, rate: int) -> AudioClip:
    """Linear-interpolation resampling (enough to join voices of different rates; not for mastering)."""
    import numpy as np

    if clip.rate == rate or not len(clip.samples):
        return AudioClip(clip.samples, rate)
    count = round(len(clip.samples) * rate / clip.rate)
    positions = np.linspace(0, len(clip.samples) - 1, count)
    return AudioClip(np.interp(positions, np.arange(len(clip.samples)), clip.samples).astype(np.float32), rate)


def check_format(path: Path) -> tuple[str, str]:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(f"{path.name}: audio can be saved as {', '.join(sorted(FORMATS))}, not "
                         f"{path.suffix or 'a file without an extension'}.", path=path,
                         hint="Name the output file with one of those extensions.")
    return fmt


def save_audio(clip: AudioClip, path: Path) -> Path:
    """Write ``clip`` in the format ``path``'s extension names; a ``.partial`` file renamed when complete, so
    a failed or stopped write never leaves a file that looks finished."""
    import numpy as np
    import soundfile

    fmt, subtype = check_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    samples = np.clip(np.asarray(clip.samples, dtype=np.float32), -1.0, 1.0)
    try:
        soundfile.write(str(partial), samples, clip.rate, format=fmt, subtype=subtype)
        partial.replace(path)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        partial.unlink(missing_ok=True)
        raise AudioError(f"{path.name} cannot be written: {exc}", path=path) from None
    return path


def read_audio(path: Path) -> AudioClip:
    """A file as a mono float clip; AudioError names the file when it is missing or not audio."""
    import numpy as np
    import soundfile

    if not path.is_file():
        raise AudioError(f"{path.name} does not exist.", path=path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioError(f"{path.name} is not an audio file this build can read ({exc}).", path=path,
                         hint="Use WAV, FLAC, OGG or MP3.") from None
    return AudioClip(np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), int(rate))
