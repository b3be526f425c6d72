"""Audio out through ffmpeg: a stream fed sentence by sentence (any rate), a file, and a clear message where
there is no sound output. ffmpeg's null output stands in for the sound card this machine does not have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("imageio_ffmpeg")

from nexus_core.media.audio import AudioClip, save_audio
from nexus_core.media.playback import AudioPlayer
from nexus_core.media.speech import SpeechError


def test_a_stream_takes_clips_as_they_come_and_ends_cleanly() -> None:
    player = AudioPlayer(("null", "-"))
    player.begin_stream(16000)
    player.feed(AudioClip(np.zeros(16000, dtype=np.float32), 16000))
    player.feed(AudioClip(np.zeros(22050, dtype=np.float32), 22050))  # resampled to the stream's rate
    player.end_stream()
    assert player.wait(20) == 0 and player.fed == [16000, 16000]


def test_a_file_plays_and_stop_ends_it(tmp_path: Path) -> None:
    path = save_audio(AudioClip(np.zeros(8000, dtype=np.float32), 8000), tmp_path / "a.wav")
    player = AudioPlayer(("null", "-"))
    player.play_file(path)
    assert player.wait(20) == 0
    player.begin_stream(8000)
    assert player.playing
    player.stop()
    assert not player.playing


def test_without_an_output_the_message_says_what_to_do() -> None:
    player = AudioPlayer()
    player.output = None
    assert not player.available
    with pytest.raises(SpeechError, match="No audio output was found") as missing:
        player.begin_stream(16000)
    assert "Save the audio to a file" in missing.value.hint
