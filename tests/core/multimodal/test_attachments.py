"""Attachments through the chat: sent in each provider's own format (OpenAI-compatible content parts, Anthropic
image blocks) to scripted servers on loopback, refused with the reason where a provider cannot take them, and
fused into a local model that has a fusion bundle; `nexus chat --image`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from nexus_core.cli import main
from nexus_core.core import Core
from nexus_core.providers.config import ProviderConfig
from tests.core.providers.conftest import add_provider, route_all
from tests.support.llm_servers import ScriptedAnthropicServer, ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    import soundfile
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "red.png")
    Image.new("RGB", (8, 8), (10, 10, 200)).save(tmp_path / "blue.bmp")
    soundfile.write(tmp_path / "beep.wav", np.zeros(800, dtype="float32"), 8000)
    soundfile.write(tmp_path / "beep.flac", np.zeros(800, dtype="float32"), 8000)
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    return {p.name: p for p in tmp_path.iterdir()}


@pytest.fixture
def core(nexus_home: Path) -> Iterator[Core]:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    yield opened
    opened.close(job_timeout=5)


def _answer(core: Core, text_: str, attachments: list[Path]) -> object:
    turn = core.chat.send(None, text_, attachments=attachments, use_tools=False)
    return turn.wait(60)


def test_pictures_and_sound_go_to_openai_compatible_servers_as_content_parts(core: Core,
                                                                             media: dict[str, Path]) -> None:
    with ScriptedOpenAIServer(models=["m1"]) as server:
        add_provider(core, server)
        route_all(core, "loc/m1")
        server.script(text(["A red square."]))
        message = _answer(core, "What is this?", [media["red.png"], media["blue.bmp"], media["beep.wav"]])
        assert message.status == "complete" and message.content == "A red square."
        parts = server.requests[-1].body["messages"][-1]["content"]
        assert parts[0] == {"type": "text", "text": "What is this?"}
        url = parts[1]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == media["red.png"].read_bytes()
        assert parts[2]["image_url"]["url"].startswith("data:image/png;base64,")  # BMP sent as PNG
        assert parts[3]["type"] == "input_audio" and parts[3]["input_audio"]["format"] == "wav"
        kept = core.chat.conversations.messages(message.conversation_id)[0].meta["attachments"]
        assert all(Path(p).is_relative_to(core.paths.root / "attachments") for p in kept)  # copies in the data dir
        refused = _answer(core, "and this?", [media["clip.mp4"]])
        assert refused.status == "error" and "cannot take video" in refused.error
        refused = _answer(core, "and this?", [media["beep.flac"]])
        assert "WAV or MP3 only" in refused.error


def test_anthropic_gets_image_blocks_and_refuses_sound(core: Core, media: dict[str, Path]) -> None:
    with ScriptedAnthropicServer(api_key="sk-ant-test-attach", models=["claude-x"]) as server:
        core.providers.save(ProviderConfig(name="ant", kind="anthropic", preset="custom", base_url=server.base_url,
                                           models=["claude-x"]))
        core.providers.set_api_key("ant", "sk-ant-test-attach")
        route_all(core, "ant/claude-x")
        server.script(text(["Blue."]))
        message = _answer(core, "Colour?", [media["blue.bmp"]])
        assert message.status == "complete", message.error
        blocks = server.requests[-1].body["messages"][-1]["content"]
        assert blocks[0]["type"] == "image" and blocks[0]["source"]["media_type"] == "image/png"
        assert blocks[-1] == {"type": "text", "text": "Colour?"}
        refused = _answer(core, "hear this", [media["beep.wav"]])
        assert refused.status == "error" and "takes pictures, not audio" in refused.error


def test_a_local_model_reads_pictures_through_its_fusion_bundle(core: Core, media: dict[str, Path],
                                                                tmp_path: Path) -> None:
    from nexus_core.multimodal.train import align
    from tests.support.tiny_models import build_tiny_clip_vision, build_tiny_llama

    llm = build_tiny_llama(tmp_path / "llm")
    clip = build_tiny_clip_vision(tmp_path / "clip")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"image": "red.png", "caption": "a red square"}))
    align(llm, {"vision": clip}, pairs, tmp_path / "bundle", max_steps=2, tokens=4)
    core.providers.save(ProviderConfig(name="tiny", kind="local", preset="local", folder=str(llm)))
    route_all(core, f"tiny/{llm.name}")
    refused = _answer(core, "What is this?", [media["red.png"]])
    assert refused.status == "error" and "reads text only" in refused.error and "nexus fuse train" in refused.error
    core.providers.save(ProviderConfig(name="tiny", kind="local", preset="local", folder=str(llm),
                                       fusion_bundle=str(tmp_path / "bundle")), replaces="tiny")
    answered = _answer(core, "What is this?", [media["red.png"]])
    assert answered.status == "complete", answered.error
    assert answered.meta.get("tokens_in", 0) > 4 + 1  # the prompt included the picture's 4 fused tokens
    refused = _answer(core, "and this?", [media["beep.wav"]])
    assert "handles only vision" in refused.error


def test_nexus_chat_attaches_files(media: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedOpenAIServer(models=["m"]) as server:
        server.script(text(["It is red."]))
        assert main(["chat", "Colour?", "--base-url", server.base_url, "--model", "m", "--image",
                     str(media["red.png"])]) == 0
        assert capsys.readouterr().out == "It is red.\n"
        assert server.requests[-1].body["messages"][-1]["content"][1]["type"] == "image_url"
        assert main(["chat", "?", "--base-url", server.base_url, "--model", "m", "--image",
                     str(media["red.png"].with_name("nope.png"))]) == 2
        assert "nope.png does not exist" in capsys.readouterr().err
