"""``nexus tts``: speech from text, voices, and voice cloning.

    nexus tts "TEXT" --out FILE.wav|.mp3|.ogg|.flac [--voice NAME] [--model PATH] [--language xx] [--speed X]
    nexus tts voices [--json]
    nexus tts clone REFERENCE.wav --name NAME --model XTTS_FOLDER
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tts", help="text to speech: speak text into a file, list voices, clone a voice",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="*", help='the text; or "voices"; or "clone REFERENCE"')
    p.add_argument("--text", help="the text (when it starts with the word voices or clone)")
    p.add_argument("--out", type=Path, help="output file; the extension picks WAV, MP3, OGG or FLAC")
    p.add_argument("--voice", help="a voice id (nexus tts voices), a cloned voice's name, or an espeak language")
    p.add_argument("--model", type=Path, help="a local text-to-speech model folder")
    p.add_argument("--language", help="language code for multilingual voices, e.g. en, de")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--name", help="clone: the new voice's name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _engine() -> Any:
    from nexus_core.media.speech import SpeechEngine
    from nexus_core.media.voices import VoiceStore
    from nexus_core.paths import default_data_dir

    return SpeechEngine(clones=VoiceStore(default_data_dir() / "voices"))


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if args.text is None and words[:1] == ["voices"] and len(words) == 1:
        return _voices(args)
    if args.text is None and words[:1] == ["clone"]:
        return _clone(args, words[1:])
    text = args.text if args.text is not None else " ".join(words)
    if args.out is None:
        raise NexusError("Say where the audio goes: --out FILE.wav (or .mp3, .ogg, .flac).")
    from nexus_core.media.audio import AudioClip, check_format, save_audio

    check_format(args.out)
    engine = _engine()
    voice = engine.resolve(args.voice, args.model)
    started = time.perf_counter()
    first: float | None = None
    clips = []
    for clip in engine.stream(text, voice, language=args.language, speed=args.speed):
        first = first if first is not None else time.perf_counter() - started
        clips.append(clip)
    audio = AudioClip.join(clips, pause=0.12)
    save_audio(audio, args.out)
    seconds = time.perf_counter() - started
    summary = {"out": str(args.out), "voice": voice.id, "seconds_of_audio": round(audio.seconds, 3),
               "sample_rate": audio.rate, "sentences": len(clips), "first_chunk_s": round(first or 0.0, 3),
               "real_time_factor": round(seconds / audio.seconds, 4) if audio.seconds else None}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.out}: {audio.seconds:.1f} s of speech ({voice.name}), made in {seconds:.2f} s")
    return 0


def _voices(args: argparse.Namespace) -> int:
    voices = _engine().voices()
    if args.json:
        print(json.dumps([v.to_dict() for v in voices], indent=2))
        return 0
    for voice in voices:
        print(f"{voice.id:32} {voice.engine:12} {','.join(voice.languages):10} {voice.name}")
    return 0


def _clone(args: argparse.Namespace, rest: list[str]) -> int:
    from nexus_core.media.speech import coqui_available

    if len(rest) != 1 or not args.name or args.model is None:
        raise NexusError("Usage: nexus tts clone REFERENCE.wav --name NAME --model XTTS_FOLDER")
    engine = _engine()
    voice = engine.clones.clone(Path(rest[0]), args.name, args.model)
    if args.json:
        print(json.dumps(voice.to_dict(), indent=2))
    else:
        print(f"saved the voice {args.name!r}; use it with: nexus tts \"…\" --voice {args.name!r} --out FILE.wav")
    if not coqui_available():
        print("note: coqui-tts cannot be imported here, so this voice will speak once it can "
              "(pip install coqui-tts; it needs torchaudio and torchcodec built for your torch).", file=sys.stderr)
    return 0
