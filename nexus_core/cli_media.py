"""``nexus tts``, ``nexus image``, ``nexus video``: speech, pictures and videos, made as jobs (a progress bar;
Ctrl-C stops) and kept in the Media gallery with their parameters.

    nexus tts "TEXT" --out FILE.wav|.mp3|.ogg|.flac [--voice NAME] [--model PATH] [--language xx] [--speed X]
    nexus tts voices [--json]
    nexus tts clone REFERENCE.wav --name NAME --model XTTS_FOLDER
    nexus image "PROMPT" --model PATH --out FILE.png [--negative TEXT] [--steps N] [--guidance G]
                [--width W] [--height H] [--seed S]
    nexus video --image FILE --model PATH --out FILE.mp4 [--frames N] [--fps N] [--motion 0-255]
                [--noise 0-0.1] [--steps N] [--seed S] [--width W] [--height H] [--decode-chunk N]
                [--no-vae-slicing] [--vae-tiling]
"""

from __future__ import annotations

import argparse
import io
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
    p.set_defaults(func=run_tts)

    p = sub.add_parser("image", help="draw a picture with a local diffusers pipeline")
    p.add_argument("prompt")
    p.add_argument("--model", type=Path, required=True, help="a text-to-image diffusers folder")
    p.add_argument("--out", type=Path, required=True, help="FILE.png (or .jpg, .webp)")
    p.add_argument("--negative", default="", help="what the picture must not show")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_image)

    p = sub.add_parser("video", help="animate a picture with Stable Video Diffusion")
    p.add_argument("--image", type=Path, required=True, help="the picture the video starts from")
    p.add_argument("--model", type=Path, required=True, help="a Stable Video Diffusion folder")
    p.add_argument("--out", type=Path, required=True, help="FILE.mp4")
    p.add_argument("--frames", type=int, default=14, help="8–32")
    p.add_argument("--fps", type=int, default=7)
    p.add_argument("--motion", type=int, default=127, help="motion bucket, 0–255: more is livelier")
    p.add_argument("--noise", type=float, default=0.02, help="noise augmentation, 0–0.1: more strays from the picture")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--seed", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--decode-chunk", type=int, help="frames the VAE decodes at once (fewer saves memory)")
    p.add_argument("--no-vae-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_video)


def _core(args: argparse.Namespace) -> Any:
    from nexus_core.core import Core

    return Core.open(args.data_dir)


def _finish(core: Any, handle: Any, args: argparse.Namespace, describe: Any) -> int:
    """Follow the job; print the gallery item (or why it did not finish)."""
    from nexus_core.cli_progress import follow

    snapshot = follow(core.runner, handle, stream=io.StringIO() if args.json else None)  # --json: only the summary
    if snapshot.state.value != "succeeded":
        print(f"nexus: {snapshot.state.value}: {snapshot.error or snapshot.message}", file=sys.stderr)
        return 130 if snapshot.state.value == "cancelled" else 1
    item = core.media.gallery.get(handle.result())
    summary = {"out": str(item.path), "gallery_id": item.id, "seconds": round(item.seconds, 3),
               "params": item.params, "notes": item.notes, **describe(item)}
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(f"{item.path} ({item.seconds:.1f} s)" + "".join(f"\n  note: {n}" for n in item.notes))
    return 0


def run_tts(args: argparse.Namespace) -> int:
    words = list(args.words)
    if args.text is None and words[:1] == ["voices"] and len(words) == 1:
        return _voices(args)
    if args.text is None and words[:1] == ["clone"]:
        return _clone(args, words[1:])
    text = args.text if args.text is not None else " ".join(words)
    if args.out is None:
        raise NexusError("Say where the audio goes: --out FILE.wav (or .mp3, .ogg, .flac).")
    from nexus_core.media.audio import check_format
    from nexus_core.media.service import SpeechRequest

    check_format(args.out)
    core = _core(args)
    try:
        started = time.perf_counter()
        first: list[float] = []
        disconnect = core.media.previews.connect(lambda p: first.append(time.perf_counter() - started))
        request = SpeechRequest(text, args.voice, str(args.model) if args.model else None, args.language, args.speed,
                                args.out.suffix.lower().lstrip("."))
        handle = core.media.speak(request, args.out)

        def describe(item: Any) -> dict[str, Any]:
            import soundfile

            info = soundfile.info(str(item.path))
            return {"voice": item.params["voice"], "seconds_of_audio": round(info.duration, 3),
                    "sample_rate": info.samplerate, "sentences": len(first),
                    "first_chunk_s": round(first[0], 3) if first else None,
                    "real_time_factor": round(item.seconds / info.duration, 4) if info.duration else None}

        try:
            return _finish(core, handle, args, describe)
        finally:
            disconnect()
    finally:
        core.close()


def _voices(args: argparse.Namespace) -> int:
    core = _core(args)
    try:
        core.library.scan()
        voices = core.media.speech.voices()
    finally:
        core.close()
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
    core = _core(args)
    try:
        voice = core.media.voices.clone(Path(rest[0]), args.name, args.model)
    finally:
        core.close()
    if args.json:
        print(json.dumps(voice.to_dict(), indent=2))
    else:
        print(f"saved the voice {args.name!r}; use it with: nexus tts \"…\" --voice {args.name!r} --out FILE.wav")
    if not coqui_available():
        print("note: coqui-tts cannot be imported here, so this voice will speak once it can "
              "(pip install coqui-tts; it needs torchaudio and torchcodec built for your torch).", file=sys.stderr)
    return 0


def run_image(args: argparse.Namespace) -> int:
    from nexus_core.media.image import ImageRequest

    request = ImageRequest(args.prompt, str(args.model), args.negative, args.steps, args.guidance, args.width,
                           args.height, args.seed)
    core = _core(args)
    try:
        return _finish(core, core.media.draw(request, args.out), args, lambda item: {})
    finally:
        core.close()


def run_video(args: argparse.Namespace) -> int:
    from nexus_core.media.video import VideoRequest

    request = VideoRequest(str(args.image), str(args.model), args.frames, args.fps, args.motion, args.noise,
                           args.steps, args.seed, args.width, args.height, args.decode_chunk,
                           not args.no_vae_slicing, args.vae_tiling)
    core = _core(args)
    try:
        return _finish(core, core.media.animate(request, args.out), args, _video_facts)
    finally:
        core.close()


def _video_facts(item: Any) -> dict[str, Any]:
    import imageio_ffmpeg

    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(item.path))
    return {"frames": frames, "duration_s": seconds}
