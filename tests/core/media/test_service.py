"""Media as jobs through the core: the gallery with parameters and one-click re-run, previews and spoken
sentences as events, cancel, bad input refused before a job is queued, and the agent's image tool."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from PIL import Image

from nexus_core.core import Core
from nexus_core.media.diffusion import MediaError
from nexus_core.media.image import ImageRequest
from nexus_core.media.service import MediaPreview, SpeechRequest
from nexus_core.media.speech import SpeechError
from nexus_core.media.video import VideoRequest
from nexus_core.tools.base import ToolContext, ToolFailure
from nexus_core.tools.builtin.image import generate_image
from tests.support.memory_keyring import MemoryKeyring


@pytest.fixture
def core(nexus_home: Path, tiny_sd: Path, tiny_svd: Path, tmp_path: Path) -> Iterator[Core]:
    models = tmp_path / "models"
    models.mkdir()
    for folder in (tiny_sd, tiny_svd):
        shutil.copytree(folder, models / folder.name)
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    opened.library.add_folder(models)
    opened.settings.scan_hf_cache = False
    opened.library.scan()
    yield opened
    opened.close(job_timeout=30)


def test_the_library_offers_image_and_video_models(core: Core) -> None:
    assert [p.name for p in core.media.image_models()] == ["tiny-sd"]
    assert [p.name for p in core.media.video_models()] == ["tiny-svd"]


def test_a_drawing_job_fills_the_gallery_and_reruns_to_the_same_picture(core: Core) -> None:
    previews: list[MediaPreview] = []
    core.media.previews.connect(previews.append)
    model = core.media.image_models()[0]
    handle = core.media.draw(ImageRequest("a lighthouse at dusk", str(model), steps=2, width=16, height=16))
    item = core.media.gallery.get(handle.result(timeout=120))
    assert item is not None and item.kind == "image" and item.exists and item.title == "a lighthouse at dusk"
    assert item.path.parent == core.paths.root / "media" / "image" and item.params["seed"] is not None
    assert [p.step for p in previews if p.job_id == handle.id] == [1, 2]
    again = core.media.gallery.get(core.media.rerun(item.id).result(timeout=120))
    assert again.id != item.id and again.path != item.path and again.params == item.params
    assert np.array_equal(np.asarray(Image.open(item.path)), np.asarray(Image.open(again.path)))
    assert [i.id for i in core.media.items("image")] == [again.id, item.id]


def test_a_cancelled_job_leaves_no_file_and_no_gallery_item(core: Core) -> None:
    model = core.media.image_models()[0]
    first_step = threading.Event()
    core.media.previews.connect(lambda p: first_step.set())
    out = core.paths.root / "media" / "stopped.png"
    handle = core.media.draw(ImageRequest("a fox", str(model), steps=400, width=16, height=16), out)
    assert first_step.wait(60)
    handle.cancel()
    assert handle.wait(60).state.value == "cancelled"
    assert not out.exists() and not list(out.parent.glob("*.partial")) and core.media.items() == []


def test_bad_requests_are_refused_before_a_job_is_queued(core: Core, tmp_path: Path) -> None:
    image_model, video_model = core.media.image_models()[0], core.media.video_models()[0]
    with pytest.raises(MediaError, match="prompt is empty"):
        core.media.draw(ImageRequest("", str(image_model)))
    with pytest.raises(MediaError, match="frames = 2"):
        core.media.animate(VideoRequest(str(tmp_path / "x.png"), str(video_model), frames=2))
    with pytest.raises(SpeechError, match="no language 'xx'"):
        core.media.speak(SpeechRequest("hello", voice="en-us", language="xx"))
    assert core.runner.jobs() == []


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_a_speech_job_sends_each_sentence_as_it_is_spoken(core: Core) -> None:
    spoken: list[MediaPreview] = []
    core.media.previews.connect(spoken.append)
    handle = core.media.speak(SpeechRequest("One sentence. Then another one. And a third.", voice="en-gb",
                                            format="mp3"))
    item = core.media.gallery.get(handle.result(timeout=60))
    assert item.kind == "speech" and item.path.suffix == ".mp3" and item.params["voice"] == "espeak:en-gb"
    assert [p.step for p in spoken] == [1, 2, 3] and all(p.audio.seconds > 0.3 for p in spoken)


def test_a_video_job_makes_an_mp4_in_the_gallery(core: Core, start_image: Path) -> None:
    handle = core.media.animate(VideoRequest(str(start_image), str(core.media.video_models()[0]), frames=8, steps=1,
                                             width=32, height=24, seed=5))
    item = core.media.gallery.get(handle.result(timeout=180))
    assert item.kind == "video" and item.path.suffix == ".mp4" and item.exists and item.params["frames"] == 8


def test_the_agent_draws_with_the_image_tool_into_its_workspace(core: Core, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    ctx = ToolContext(workspace, "c1", {"media": core.media, "settings": core.settings})
    result = generate_image.fn(ctx, **generate_image.validate({"prompt": "a blue bird", "steps": 2, "width": 16,
                                                               "height": 16, "seed": 11}))
    assert (workspace / result["file"]).is_file() and result["seed"] == 11 and result["model"] == "tiny-sd"
    assert core.media.items("image")[0].params["prompt"] == "a blue bird"
    with pytest.raises(ToolFailure, match="no image model 'nope'"):
        generate_image.fn(ctx, prompt="x", model="nope")
    with pytest.raises(ToolFailure, match="steps = 0"):
        generate_image.fn(ctx, prompt="x", steps=0)
    bare = ToolContext(workspace, "c1", {"media": core.media, "settings": core.settings})
    core.library.remove_folder(core.library.folders()[0])
    core.library.scan()
    with pytest.raises(ToolFailure, match="no image model is available"):
        generate_image.fn(bare, prompt="x")
