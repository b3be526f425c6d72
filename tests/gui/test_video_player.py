"""The video player: a newer file replaces one still decoding; a file that cannot be played says so."""

from __future__ import annotations

from pathlib import Path

from app.widgets.video_player import VideoPlayer


def _video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    import imageio_ffmpeg

    width, height = size
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=8, codec="libx264", quality=5)
    writer.send(None)
    for n in range(frames):
        shade = (n * 7) % 256
        writer.send(bytes([shade, 255 - shade, 90]) * (width * height))
    writer.close()
    return path


def test_the_last_file_loaded_is_the_one_shown(qtbot, tmp_path: Path) -> None:
    long = _video(tmp_path / "long.mp4", 160, (320, 240))
    short = _video(tmp_path / "short.mp4", 3, (64, 48))
    player = VideoPlayer()
    qtbot.addWidget(player)
    player.load(long, autoplay=False)
    player.load(short, autoplay=False)  # asked for before the long one is decoded
    qtbot.waitUntil(lambda: len(player.frames) == 3, timeout=30_000)
    qtbot.wait(2_000)  # the long file's decoding ends meanwhile: it must not replace the short one
    assert len(player.frames) == 3 and player.frames[0].width() == 64
    player.load(long, autoplay=True)
    qtbot.waitUntil(lambda: len(player.frames) == 160, timeout=30_000)
    assert player.timer.isActive()


def test_a_damaged_file_says_it_cannot_be_played(qtbot, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    player = VideoPlayer()
    qtbot.addWidget(player)
    player.load(broken)
    qtbot.waitUntil(lambda: "cannot be played" in player.screen.text(), timeout=30_000)
    assert "broken.mp4" in player.screen.text() and player.frames == []
