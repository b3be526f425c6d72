"""Cloned voices: a name, the XTTS model that speaks with it, and its reference clip (3–30 s), kept in
``<data>/voices/<name>/`` (``voice.json`` and ``reference.wav``)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from nexus_core.media.audio import AudioError, read_audio, save_audio
from nexus_core.media.speech import CLONE_PREFIX, SpeechError, Voice, model_voice

MIN_SECONDS, MAX_SECONDS = 3.0, 30.0
_NAME = re.compile(r"[\w][\w .-]{0,39}")


class VoiceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def voices(self) -> list[Voice]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            voice = self._read(folder)
            if voice is not None:
                found.append(voice)
        return found

    def get(self, name: str) -> Voice | None:
        folder = self.root / name
        return self._read(folder) if _NAME.fullmatch(name) and folder.is_dir() else None

    def _read(self, folder: Path) -> Voice | None:
        try:
            meta = json.loads((folder / "voice.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        reference = folder / "reference.wav"
        if not reference.is_file():
            return None
        languages = tuple(map(str, meta.get("languages") or []))
        return Voice(CLONE_PREFIX + folder.name, f"{folder.name} (cloned)", "coqui", languages,
                     Path(str(meta.get("model", ""))), reference)

    def clone(self, reference: Path, name: str, model: Path) -> Voice:
        """Save ``reference`` as the voice ``name`` for the XTTS folder ``model``. It is saved even where
        coqui-tts cannot be imported (the voice then speaks once it can; see ``coqui_available``)."""
        if not _NAME.fullmatch(name):
            raise SpeechError(f"{name!r} is not a usable voice name.",
                              hint="Use up to 40 letters, digits, spaces, dots, dashes or underscores.")
        if self.get(name) is not None:
            raise SpeechError(f"There is already a voice called {name!r}.", path=self.root / name,
                              hint="Pick another name, or delete that voice first.")
        try:
            clip = read_audio(reference)
        except AudioError as exc:
            raise SpeechError(exc.what, path=reference, hint="Give a WAV, FLAC, OGG or MP3 recording of the voice.") \
                from None
        if not MIN_SECONDS <= clip.seconds <= MAX_SECONDS:
            raise SpeechError(f"{reference.name} is {clip.seconds:.1f} s long; a reference clip must be "
                              f"{MIN_SECONDS:.0f}–{MAX_SECONDS:.0f} s.", path=reference,
                              hint="Record or cut a clip of one person speaking clearly for 6–15 s.")
        voice = model_voice(model)
        if voice is None or voice.engine != "coqui" or "xtts" not in voice.name.lower():
            raise SpeechError(f"{model} is not an XTTS model folder; only XTTS clones voices.", path=model,
                              hint="Give the folder of XTTS v2 (config.json with \"model\": \"xtts\", model.pth, "
                                   "vocab.json).")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            save_audio(clip, staging / "reference.wav")
            (staging / "voice.json").write_text(json.dumps({
                "name": name, "model": str(model.resolve()), "languages": list(voice.languages),
                "source": str(reference), "seconds": round(clip.seconds, 2),
                "created": datetime.now(UTC).isoformat(timespec="seconds")}, indent=1), encoding="utf-8")
            staging.rename(self.root / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        saved = self.get(name)
        assert saved is not None
        return saved

    def delete(self, name: str) -> None:
        if self.get(name) is None:
            raise SpeechError(f"There is no cloned voice {name!r}.")
        shutil.rmtree(self.root / name)
