"""Pictures and videos on tiny pipelines built from configs: the real diffusers loading and sampling code,
seeds that reproduce, step previews, cancel, MP4 files checked by ffmpeg, and bad input refused up front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from PIL import Image

from nexus_core.media.diffusion import MediaCancelled, MediaError
from nexus_core.media.image import ImageGenerator, ImageRequest, read_parameters
from nexus_core.media.video import VideoGenerator, VideoRequest, write_mp4


@pytest.fixture(scope="module")
def images() -> ImageGenerator:
    return ImageGenerator()


def test_a_picture_with_its_parameters_previews_and_a_reproducible_seed(images: ImageGenerator, tiny_sd: Path,
                                                                        tmp_path: Path) -> None:
    previews = []
    request = ImageRequest("a red fox", str(tiny_sd), negative_prompt="blur", steps=3, width=24, height=16, seed=7)
    result = images.generate(request, tmp_path / "fox.png", on_step=previews.append)
    with Image.open(result.path) as picture:
        assert picture.size == (24, 16)
        first = np.asarray(picture).copy()
    assert [p.step for p in previews] == [1, 2, 3] and all(p.steps == 3 for p in previews)
    assert previews[-1].image.size == (12, 8)  # the latents' own size (this tiny VAE halves each side)
    assert read_parameters(result.path) == {**request.to_dict(), "pipeline": "StableDiffusionPipeline"}
    again = images.generate(request, tmp_path / "again.png")
    other = images.generate(ImageRequest(**{**request.to_dict(), "seed": 8}), tmp_path / "other.png")
    assert np.array_equal(first, np.asarray(Image.open(again.path)))
    assert not np.array_equal(first, np.asarray(Image.open(other.path)))
    native = images.generate(ImageRequest("a fox", str(tiny_sd), steps=1), tmp_path / "native.jpg")
    assert (native.request.width, native.request.height) == (16, 16) and native.request.seed is not None  # 8 × 2
    assert not list(tmp_path.glob("*.partial"))


def test_a_stopped_picture_is_not_saved(images: ImageGenerator, tiny_sd: Path, tmp_path: Path) -> None:
    seen = []
    with pytest.raises(MediaCancelled):
        images.generate(ImageRequest("a fox", str(tiny_sd), steps=5, width=16, height=16), tmp_path / "no.png",
                        on_step=seen.append, should_stop=lambda: len(seen) >= 1)
    assert len(seen) < 5 and not list(tmp_path.iterdir())


def test_bad_picture_requests_say_what_to_change(images: ImageGenerator, tiny_sd: Path, tiny_svd: Path,
                                                 tmp_path: Path) -> None:
    from tests.support.tiny_models import build_tiny_llama

    out = tmp_path / "x.png"
    with pytest.raises(MediaError, match="prompt is empty"):
        images.generate(ImageRequest("  ", str(tiny_sd)), out)
    with pytest.raises(MediaError, match="width = 15: this model takes sizes in multiples of 2") as size:
        images.generate(ImageRequest("a fox", str(tiny_sd), steps=1, width=15, height=16), out)
    assert size.value.hint == "Try 14."
    with pytest.raises(MediaError, match="image-to-video pipeline"):
        images.generate(ImageRequest("a fox", str(tiny_svd)), out)
    with pytest.raises(MediaError, match="not a diffusers pipeline folder"):
        images.generate(ImageRequest("a fox", str(build_tiny_llama(tmp_path / "llama"))), out)
    with pytest.raises(MediaError, match=r"\.gif: images are saved as"):
        images.generate(ImageRequest("a fox", str(tiny_sd)), tmp_path / "x.gif")
    assert not out.exists()


def _frames(path: Path) -> tuple[int, float]:
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))


def test_a_video_from_a_picture_is_an_mp4_of_the_frames_asked_for(tiny_svd: Path, start_image: Path,
                                                                   tmp_path: Path) -> None:
    import imageio_ffmpeg

    videos = VideoGenerator()
    previews = []
    request = VideoRequest(str(start_image), str(tiny_svd), frames=8, fps=4, motion_bucket=60, noise_aug=0.05,
                           steps=2, seed=3, width=32, height=24, vae_tiling=True)
    result = videos.generate(request, tmp_path / "clip.mp4", on_step=previews.append)
    assert result.frames == 8 and _frames(result.path) == (8, 2.0)  # 8 frames at 4 fps
    reader = imageio_ffmpeg.read_frames(str(result.path))
    meta = next(reader)
    reader.close()
    assert meta["size"] == (32, 24) and meta["fps"] == 4.0 and "h264" in meta["codec"]
    assert [p.step for p in previews] == [1, 2] and previews[0].image.size == (16, 12)
    assert any("cannot decode in tiles" in n for n in result.notes)  # SVD's VAE: a decode chunk instead
    assert result.request.seed == 3 and not list(tmp_path.glob("*.partial"))


def test_bad_video_requests_are_refused_before_any_model_loads(tiny_svd: Path, tiny_sd: Path, start_image: Path,
                                                               tmp_path: Path) -> None:
    videos = VideoGenerator()
    out = tmp_path / "v.mp4"
    base = {"image": str(start_image), "model": str(tiny_svd)}
    for change, message in (({"frames": 40}, "frames = 40: give 8–32"), ({"motion_bucket": 300}, "motion bucket"),
                            ({"noise_aug": 0.5}, r"noise aug = 0\.5: give 0\.0–0\.1"), ({"fps": 0}, "fps = 0")):
        with pytest.raises(MediaError, match=message):
            videos.validate(VideoRequest(**base, **change), out)
    with pytest.raises(MediaError, match=r"missing\.png does not exist"):
        videos.validate(VideoRequest(str(tmp_path / "missing.png"), str(tiny_svd)), out)
    (tmp_path / "fake.png").write_text("not a picture")
    with pytest.raises(MediaError, match=r"fake\.png is not an image"):
        videos.validate(VideoRequest(str(tmp_path / "fake.png"), str(tiny_svd)), out)
    with pytest.raises(MediaError, match="not Stable Video Diffusion"):
        videos.validate(VideoRequest(str(start_image), str(tiny_sd)), out)
    with pytest.raises(MediaError, match=r"\.gif: videos are saved as \.mp4"):
        videos.validate(VideoRequest(**base), tmp_path / "v.gif")
    assert videos.pipelines.manager.loaded() == []  # nothing was loaded for any of them


def test_mp4_export_pads_odd_sizes_and_takes_float_frames(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).random((5, 15, 21, 3), dtype=np.float32)
    path = write_mp4(frames, tmp_path / "odd.mp4", 10)
    assert _frames(path)[0] == 5
    with pytest.raises(MediaError, match="expected frames"):
        write_mp4(np.zeros((4, 4)), tmp_path / "bad.mp4", 10)
    assert not (tmp_path / "bad.mp4").exists()
