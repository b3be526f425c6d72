"""Audio out through ffmpeg (imageio-ffmpeg's build has PulseAudio and ALSA outputs): a file, or raw samples
fed as they are made, so a spoken answer starts playing after its first sentence."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from pathlib import Path

from nexus_core.media.audio import AudioClip, resample
from nexus_core.media.speech import SpeechError


def audio_output() -> tuple[str, str] | None:
    """ffmpeg's output device for this session: PulseAudio (PipeWire serves it too), else ALSA, else None."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.environ.get("PULSE_SERVER") or (runtime and Path(runtime, "pulse", "native").exists()):
        return "pulse", "default"
    if Path("/dev/snd").is_dir() and any(p.name.startswith("pcm") for p in Path("/dev/snd").iterdir()):
        return "alsa", "default"
    return None


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SpeechError("Playing audio needs ffmpeg (the imageio-ffmpeg package).",
                          hint="Run ./setup.sh install.") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class AudioPlayer:
    """One sound at a time; ``output`` is an ffmpeg output (format, device), found by ``audio_output``."""

    def __init__(self, output: tuple[str, str] | None = None) -> None:
        self.output = output or audio_output()
        self._process: subprocess.Popen[bytes] | None = None
        self._rate = 0
        self._chunks: queue.Queue[bytes | None] | None = None
        self.fed: list[int] = []  # samples per chunk of the current stream
        self._lock = threading.RLock()

    @property
    def available(self) -> bool:
        return self.output is not None

    @property
    def playing(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self, inputs: list[str], *, stream: bool) -> subprocess.Popen[bytes]:
        if self.output is None:
            raise SpeechError("No audio output was found (no PulseAudio server, no ALSA device).",
                              hint="Save the audio to a file instead, or start the desktop's sound server.")
        self.stop()
        fmt, device = self.output
        command = [_ffmpeg(), "-hide_banner", "-loglevel", "error", *([] if stream else ["-nostdin"]), *inputs,
                   "-f", fmt, device]
        return subprocess.Popen(command, stdin=subprocess.PIPE if stream else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def play_file(self, path: Path) -> None:
        with self._lock:
            self._process = self._start(["-i", str(path)], stream=False)

    def begin_stream(self, rate: int) -> None:
        """Start a stream of mono float samples at ``rate``; ``feed`` clips, then ``end_stream``. Feeding never
        blocks: a thread writes to ffmpeg, which takes the samples at the sound card's pace."""
        with self._lock:
            self._rate, self.fed = rate, []
            process = self._process = self._start(["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "-"],
                                                  stream=True)
            chunks: queue.Queue[bytes | None] = queue.Queue()
            self._chunks = chunks
        threading.Thread(target=_pump, args=(process, chunks), name="audio-out", daemon=True).start()

    def feed(self, clip: AudioClip) -> None:
        import numpy as np

        with self._lock:
            chunks = self._chunks
            if chunks is None:
                return
            samples = resample(clip, self._rate).samples if clip.rate != self._rate else clip.samples
            chunks.put(np.asarray(samples, dtype="<f4").tobytes())
            self.fed.append(len(samples))

    def end_stream(self) -> None:
        with self._lock:
            if self._chunks is not None:
                self._chunks.put(None)
                self._chunks = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Until playback ends: ffmpeg's exit status (0: played to the end)."""
        process = self._process
        return process.wait(timeout) if process is not None else None

    def stop(self) -> None:
        if self._chunks is not None:
            self._chunks.put(None)
            self._chunks = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()


def _pump(process: subprocess.Popen[bytes], chunks: queue.Queue[bytes | None]) -> None:
    """Write queued samples to ffmpeg until the end marker (or until ffmpeg is gone)."""
    stdin = process.stdin
    assert stdin is not None
    while True:
        data = chunks.get()
        if data is None:
            break
        try:
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return  # stopped meanwhile
    try:
        stdin.close()
    except OSError:
        pass
