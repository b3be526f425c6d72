"""Text to speech: espeak-ng (always there), neural voices from local model folders, sentence-by-sentence
streaming, and cloned voices.

Engines:
- **espeak-ng**: a formant synthesiser in the system packages; every language it ships, instantly.
- **transformers**: local text-to-speech folders the installed transformers can run (VITS / MMS-TTS, Bark,
  SpeechT5 with its vocoder…) through its text-to-speech pipeline.
- **coqui-tts** (``TTS`` import): XTTS v2 / VITS folders in Coqui's layout (``config.json`` with a ``model``
  field, ``model.pth``); XTTS clones a voice from a short reference clip. Used when the package imports.

Streaming splits the text into sentences and yields each one's audio as soon as it is synthesised, so
playback starts after the first sentence rather than the whole text.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.media.audio import AudioClip

ESPEAK_PREFIX = "espeak:"
MODEL_PREFIX = "model:"
CLONE_PREFIX = "clone:"


class SpeechError(NexusError):
    """Speech cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class Voice:
    id: str  # espeak:en-us | model:/path/to/folder | clone:NAME
    name: str
    engine: str  # espeak | transformers | coqui
    languages: tuple[str, ...] = ()
    model: Path | None = None
    reference: Path | None = None  # a cloned voice's reference clip
    gender: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "engine": self.engine, "languages": list(self.languages),
                "model": str(self.model) if self.model else None,
                "reference": str(self.reference) if self.reference else None, "gender": self.gender}


_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"')\]]*\s+|\n{2,}")


def split_sentences(text: str, max_chars: int = 280) -> list[str]:
    """Sentences in order (long ones cut at a comma or space near ``max_chars``), blanks dropped."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = " ".join(sentence.split())
        while len(sentence) > max_chars:
            cut = max(sentence.rfind(", ", 0, max_chars), sentence.rfind(" ", 0, max_chars))
            cut = cut if cut > max_chars // 3 else max_chars
            pieces.append(sentence[:cut + 1].strip())
            sentence = sentence[cut + 1:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


# ---- espeak-ng --------------------------------------------------------------------------------------


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


@functools.lru_cache(maxsize=1)
def espeak_voices() -> tuple[Voice, ...]:
    """The installed espeak-ng languages (MBROLA voices, which need another program, left out)."""
    binary = espeak_binary()
    if binary is None:
        return ()
    listing = subprocess.run([binary, "--voices"], capture_output=True, text=True, timeout=20).stdout
    found: dict[str, Voice] = {}
    aliases: dict[str, tuple[int, Voice]] = {}  # "fr" → the voice listing it with the best priority, "(fr 5)"
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5 or parts[4].startswith("mb/"):
            continue
        language, gender, name = parts[1], parts[2].split("/")[-1], parts[3].replace("_", " ")
        voice = found.setdefault(language, Voice(ESPEAK_PREFIX + language, f"{name} (espeak-ng)", "espeak",
                                                 (language,), gender={"M": "male", "F": "female"}.get(gender, "")))
        for alias, priority in re.findall(r"\((\S+) (\d+)\)", " ".join(parts[5:])):
            if alias not in aliases or int(priority) < aliases[alias][0]:
                aliases[alias] = (int(priority), voice)
    for alias, (_priority, voice) in aliases.items():
        if alias not in found:
            found[alias] = Voice(ESPEAK_PREFIX + alias, voice.name, "espeak", (alias,), gender=voice.gender)
    return tuple(sorted(found.values(), key=lambda v: v.id))


def espeak_synthesize(text: str, language: str, *, speed: float = 1.0, pitch: int = 50) -> AudioClip:
    import numpy as np
    import soundfile

    binary = espeak_binary()
    if binary is None:
        raise SpeechError("espeak-ng is not installed.", hint="Install it: sudo apt-get install espeak-ng "
                          "(./setup.sh does this).")
    done = subprocess.run([binary, "--stdout", "-v", language, "-s", str(round(175 * speed)), "-p", str(pitch),
                           "--", text], capture_output=True, timeout=120)
    if done.returncode != 0 or len(done.stdout) < 44:
        raise SpeechError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip() or 'no audio'}.")
    data, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    return AudioClip(np.ascontiguousarray(data.mean(axis=1)), int(rate))


# ---- neural voices from model folders --------------------------------------------------------------


def coqui_available() -> bool:
    """coqui-tts imports (it needs torchaudio built for the installed torch)."""
    if importlib.util.find_spec("TTS") is None:
        return False
    try:
        import TTS.api  # noqa: F401
    except Exception:  # ImportError, or its own check that torchaudio/torchcodec are missing
        return False
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


TRANSFORMERS_TTS_TYPES = {"vits", "bark", "speecht5", "fastspeech2_conformer", "fastspeech2_conformer_with_hifigan",
                          "seamless_m4t", "seamless_m4t_v2", "musicgen", "csm", "dia"}


def model_voice(folder: Path) -> Voice | None:
    """A voice for a local text-to-speech folder, or None when the folder is not one."""
    config = _read_json(folder / "config.json")
    if not config:
        return None
    if isinstance(config.get("model"), str) and ((folder / "model.pth").is_file() or
                                                 (folder / "model_file.pth").is_file()):
        languages = config.get("languages") or ([config["language"]] if config.get("language") else [])
        return Voice(MODEL_PREFIX + str(folder), f"{folder.name} (coqui {config['model']})", "coqui",
                     tuple(map(str, languages)), folder)
    model_type = str(config.get("model_type") or "")
    archs = [str(a) for a in config.get("architectures") or []]
    if model_type in TRANSFORMERS_TTS_TYPES and (model_type != "speecht5" or any("TextToSpeech" in a for a in archs)):
        tokenizer = _read_json(folder / "tokenizer_config.json")
        language = tokenizer.get("language") or config.get("language")
        return Voice(MODEL_PREFIX + str(folder), f"{folder.name} ({model_type})", "transformers",
                     (str(language),) if language else (), folder)
    return None


@dataclass
class _Loaded:
    engine: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class SpeechEngine:
    """Every voice, synthesis and streaming. Neural models are loaded on first use and kept."""

    def __init__(self, *, clones: Any = None, model_folders: Callable[[], list[Path]] = list,
                 device: str = "auto") -> None:
        self.clones = clones  # VoiceStore, for cloned voices
        self.model_folders = model_folders
        self.device = device
        self._loaded: dict[Path, _Loaded] = {}
        self._lock = threading.Lock()

    # ---- voices ----------------------------------------------------------------------------------

    def voices(self) -> list[Voice]:
        found = list(espeak_voices())
        for folder in self.model_folders():
            voice = model_voice(folder)
            if voice is not None:
                found.append(voice)
        if self.clones is not None:
            found += self.clones.voices()
        return found

    def resolve(self, voice: str | None, model: Path | None = None) -> Voice:
        """A voice by id, by cloned-voice name, or by espeak language; ``model`` (a folder) wins."""
        if model is not None:
            found = model_voice(model)
            if found is None:
                raise SpeechError(f"{model} is not a text-to-speech model folder.", path=model,
                                  hint="Give a VITS/MMS-TTS, Bark or SpeechT5 folder (transformers), or an XTTS / "
                                       "VITS folder in Coqui's layout.")
            return found
        if not voice:
            return next((v for v in espeak_voices() if v.id == ESPEAK_PREFIX + "en-us"), None) or \
                self._no_voice("the default voice (espeak-ng en-us)")
        if voice.startswith(MODEL_PREFIX):
            return self.resolve(None, Path(voice[len(MODEL_PREFIX):]))
        if self.clones is not None and (voice.startswith(CLONE_PREFIX) or self.clones.get(voice) is not None):
            clone = self.clones.get(voice.removeprefix(CLONE_PREFIX))
            if clone is not None:
                return clone
        language = voice.removeprefix(ESPEAK_PREFIX)
        for candidate in espeak_voices():
            if candidate.id == ESPEAK_PREFIX + language:
                return candidate
        return self._no_voice(repr(voice))

    def _no_voice(self, what: str) -> Voice:
        names = ", ".join(v.id for v in self.voices()[:12])
        raise SpeechError(f"There is no voice {what}.", hint=f"Voices: {names}… (nexus tts voices lists them all).")

    # ---- synthesis -------------------------------------------------------------------------------

    def synthesize(self, text: str, voice: Voice, *, language: str | None = None, speed: float = 1.0,
                   should_stop: Callable[[], bool] = lambda: False) -> AudioClip:
        clips = list(self.stream(text, voice, language=language, speed=speed, should_stop=should_stop))
        return AudioClip.join(clips, pause=0.12)

    def stream(self, text: str, voice: Voice, *, language: str | None = None, speed: float = 1.0,
               should_stop: Callable[[], bool] = lambda: False) -> Iterator[AudioClip]:
        """Each sentence's audio as soon as it is made."""
        sentences = split_sentences(text)
        if not sentences:
            raise SpeechError("There is no text to speak.", hint="Give the text to read aloud.")
        language = self._language(voice, language)
        for sentence in sentences:
            if should_stop():
                return
            yield self._one(sentence, voice, language, speed)

    def check_language(self, voice: Voice, language: str | None) -> str | None:
        """The language ``voice`` will speak; SpeechError when it cannot speak ``language``."""
        return self._language(voice, language)

    def _language(self, voice: Voice, language: str | None) -> str | None:
        if language is None:
            return voice.languages[0] if voice.languages else None
        if voice.engine == "espeak":
            if language != voice.languages[0] and ESPEAK_PREFIX + language not in {v.id for v in espeak_voices()}:
                raise SpeechError(f"espeak-ng has no language {language!r}.",
                                  hint="nexus tts voices lists the languages it has.")
            return language
        if voice.languages and language not in voice.languages:
            raise SpeechError(f"The voice {voice.name} does not speak {language!r}.",
                              hint=f"It speaks: {', '.join(voice.languages)}.")
        if not voice.languages and voice.engine == "transformers":
            raise SpeechError(f"The voice {voice.name} speaks one language, fixed by its model; --language does not "
                              "apply to it.", hint="Leave --language out, or choose another voice.")
        return language

    def _one(self, sentence: str, voice: Voice, language: str | None, speed: float) -> AudioClip:
        if voice.engine == "espeak":
            return espeak_synthesize(sentence, language or voice.languages[0], speed=speed)
        assert voice.model is not None
        loaded = self._load(voice)
        with loaded.lock:
            if voice.engine == "coqui":
                return _coqui_say(loaded.engine, sentence, language, voice.reference, speed)
            return _transformers_say(loaded.engine, sentence)

    def _load(self, voice: Voice) -> _Loaded:
        assert voice.model is not None
        with self._lock:
            loaded = self._loaded.get(voice.model)
            if loaded is None:
                engine = _load_coqui(voice.model, self.device) if voice.engine == "coqui" else \
                    _load_transformers(voice.model, self.device)
                loaded = self._loaded[voice.model] = _Loaded(engine)
            return loaded

    def unload(self) -> None:
        with self._lock:
            self._loaded.clear()


def _load_transformers(folder: Path, device: str) -> Any:
    from nexus_core.models.devices import pick_device_and_dtype

    try:
        import transformers
    except ImportError:
        raise SpeechError("Neural voices need the ML packages.", hint="Run ./setup.sh install.") from None
    chosen, _dtype = pick_device_and_dtype(device, "auto")
    try:
        return transformers.pipeline("text-to-speech", model=str(folder), device=chosen)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpeechError(f"{folder.name} cannot be loaded as a voice: {str(exc).splitlines()[0][:300]}",
                          path=folder, hint="Check that the folder holds a complete text-to-speech model.") from None


def _transformers_say(pipe: Any, sentence: str) -> AudioClip:
    import numpy as np

    out = pipe(sentence)
    audio = np.asarray(out["audio"], dtype=np.float32).reshape(-1)
    return AudioClip(audio, int(out["sampling_rate"]))


def _load_coqui(folder: Path, device: str) -> Any:
    if not coqui_available():
        raise SpeechError(f"{folder.name} is a Coqui model, and coqui-tts cannot be imported here.", path=folder,
                          hint="pip install coqui-tts (it needs torchaudio and torchcodec built for your torch).")
    from TTS.api import TTS

    from nexus_core.models.devices import pick_device_and_dtype

    chosen, _dtype = pick_device_and_dtype(device, "auto")
    checkpoint = folder / "model.pth" if (folder / "model.pth").is_file() else folder / "model_file.pth"
    return TTS(model_path=str(folder if (folder / "vocab.json").is_file() else checkpoint),
               config_path=str(folder / "config.json")).to(chosen)


def _coqui_say(tts: Any, sentence: str, language: str | None, reference: Path | None, speed: float) -> AudioClip:
    import numpy as np

    kwargs: dict[str, Any] = {"text": sentence, "split_sentences": False}
    if language and getattr(tts, "is_multi_lingual", False):
        kwargs["language"] = language
    if reference is not None:
        kwargs["speaker_wav"] = str(reference)
    if speed != 1.0:
        kwargs["speed"] = speed
    samples = np.asarray(tts.tts(**kwargs), dtype=np.float32)
    rate = int(getattr(getattr(tts, "synthesizer", None), "output_sample_rate", 0) or 24000)
    return AudioClip(samples, rate)


_FENCE = re.compile(r"```.*?(```|$)", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MARKS = re.compile(r"(^|\s)[#>]+\s*|[*_~`]+|^\s*[-+*]\s+|^\s*\d+[.)]\s+", re.MULTILINE)
_URL = re.compile(r"https?://\S+")


def speakable(markdown: str) -> str:
    """What a chat answer sounds like read aloud: code blocks and URLs left out (named, not spelled), link and
    emphasis markup dropped, each line a sentence of its own."""
    text = _FENCE.sub(" (code block) ", markdown)
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _URL.sub("(link)", text)
    text = _MARKS.sub(lambda m: m.group(1) if m.group(1) and m.group(1).isspace() else "", text)
    lines = [" ".join(line.split()) for line in text.splitlines()]  # headings and list items: sentences of their own
    return "\n".join(line if line.endswith((".", "!", "?", ":", ";", ",")) else line + "." for line in lines if line)
