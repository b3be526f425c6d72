"""Fusion over tiny real models built from configs (a Llama, a CLIP vision tower, Whisper, VideoMAE) loaded through
the universal loader: encoder widths from the configs, the bridge's embeddings, masks, positions and labels, that
alignment trains only the projectors and lowers the caption loss, bundles and their checks, bad media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nexus_core.cli import main
from nexus_core.multimodal import bundle as bundles
from nexus_core.multimodal.encoders import load_encoder
from nexus_core.multimodal.fusion import IGNORE, FusionConfig, FusionError, ModalitySpec, NeuralArchitect, NexusBridge
from nexus_core.multimodal.media import MediaError
from nexus_core.multimodal.train import Aligner, align, read_pairs
from tests.support.tiny_models import (
    build_tiny_clip_vision,
    build_tiny_llama,
    build_tiny_videomae,
    build_tiny_whisper,
)

COLOURS = {"red": (230, 20, 20), "blue": (20, 20, 230), "green": (20, 200, 20), "black": (0, 0, 0)}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("multimodal")
    out = {"llm": build_tiny_llama(root / "llm", vocab_words=[*COLOURS, "square"]),
           "clip": build_tiny_clip_vision(root / "clip"), "clip48": build_tiny_clip_vision(root / "clip48",
                                                                                           hidden_size=48),
           "whisper": build_tiny_whisper(root / "whisper"), "videomae": build_tiny_videomae(root / "videomae"),
           "other_llm": build_tiny_llama(root / "other-llm", vocab_words=["zebra"])}
    data = root / "data"
    data.mkdir()
    for name, rgb in COLOURS.items():
        Image.new("RGB", (40, 40), rgb).save(data / f"{name}.png")
    (data / "pairs.jsonl").write_text("\n".join(json.dumps({"image": f"{n}.png", "caption": f"a {n} square"})
                                                for n in COLOURS))
    out["data"] = data / "pairs.jsonl"
    return out


def _wav(path: Path, seconds: float = 0.5, rate: int = 8000) -> Path:
    import soundfile

    soundfile.write(path, np.sin(np.linspace(0, 440 * seconds * 6.28, int(rate * seconds))).astype("float32"), rate)
    return path


def _mp4(path: Path) -> Path:
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(str(path), (32, 32))
    writer.send(None)
    for k in range(8):
        writer.send(np.full((32, 32, 3), k * 30, np.uint8).tobytes())
    writer.close()
    return path


def test_encoders_load_through_the_universal_loader_with_widths_from_their_configs(models: dict[str, Path],
                                                                                  tmp_path: Path) -> None:
    vision = load_encoder(models["clip"], "vision")
    assert (vision.width, vision.model_type) == (24, "clip_vision_model")
    assert vision.features([models["data"].parent / "red.png"]).shape == (1, 17, 24)  # 16 patches + class token
    audio = load_encoder(models["whisper"], "audio")
    assert audio.width == 16 and audio.sampling_rate == 16000  # Whisper's encoder (d_model), resampled from 8 kHz
    assert audio.features([_wav(tmp_path / "tone.wav")]).shape == (1, 1500, 16)
    video = load_encoder(models["videomae"], "video")
    assert (video.width, video.frames) == (24, 4)
    assert video.features([_mp4(tmp_path / "clip.mp4")]).shape == (1, 32, 24)  # 2 tubelets × 16 patches
    assert all(not p.requires_grad for p in vision.model.parameters())


def test_the_bridge_places_each_attachment_at_its_placeholder_with_masks_positions_and_labels(
        models: dict[str, Path]) -> None:
    from nexus_core.models.loader import load_model

    loaded = load_model(models["llm"], device="cpu", dtype="float32")
    tokenizer, embed = loaded.tokenizer, loaded.model.get_input_embeddings()
    bridge = NexusBridge(loaded.model, tokenizer)
    image, sound = torch.randn(3, 32), torch.randn(2, 32)
    built = bridge.build(["look <image> and <audio> now", "<image>"], [[image, sound], [image]],
                         targets=["red", "a blue square"])
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    before, between, after = ids("look "), ids(" and "), ids(" now")
    row = built["inputs_embeds"][0]
    start = 1 + len(before)  # after the BOS token and "look "
    assert torch.equal(row[start:start + 3], image)
    assert torch.equal(row[start + 3 + len(between):start + 5 + len(between)], sound)
    assert torch.allclose(row[1:start], embed(torch.tensor(before)))
    length0 = 1 + len(before) + 3 + len(between) + 2 + len(after) + len(ids("red")) + 1  # + EOS
    length1 = 1 + 3 + len(ids("a blue square")) + 1
    assert built["attention_mask"].sum(dim=1).tolist() == [length0, length1]
    assert built["position_ids"][1, :length1].tolist() == list(range(length1))  # right padding for training
    labels = built["labels"][0]
    assert labels[:length0 - len(ids("red")) - 1].eq(IGNORE).all()
    assert labels[length0 - len(ids("red")) - 1:length0].tolist() == [*ids("red"), tokenizer.eos_token_id]
    left = bridge.build(["<image>"], [[image]], pad_left=True)
    assert left["position_ids"][0, 0] == 0 and left["attention_mask"].all()
    with pytest.raises(FusionError, match=r"1 placeholder\(s\) for 2 attachment"):
        bridge.build(["<image>"], [[image, image]])


def test_the_architect_projects_to_the_llm_width_and_cross_attention_mixes_modalities() -> None:
    config = FusionConfig(4096, {"vision": ModalitySpec(512, 8), "audio": ModalitySpec(768, 4),
                                 "video": ModalitySpec(1024, 6)}, cross_attention=True, heads=16)
    architect = NeuralArchitect(config)
    features = {"vision": torch.randn(2, 50, 512), "audio": torch.randn(2, 1500, 768),
                "video": torch.randn(2, 32, 1024)}
    fused = architect.project_and_fuse(features)
    assert {k: tuple(v.shape) for k, v in fused.items()} == {"vision": (2, 8, 4096), "audio": (2, 4, 4096),
                                                            "video": (2, 6, 4096)}
    features["audio"] = features["audio"] * 10  # the other modalities see the audio through the attention block
    assert not torch.allclose(architect.project_and_fuse(features)["vision"], fused["vision"])
    with pytest.raises(FusionError, match="768"):
        architect.project_and_fuse({"audio": torch.randn(1, 4, 512)})
    with pytest.raises(FusionError, match="do not divide"):
        FusionConfig(100, {"vision": ModalitySpec(8)}, cross_attention=True, heads=16)


def test_alignment_trains_only_the_projectors_and_lowers_the_caption_loss(models: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    from nexus_core.models.loader import load_model

    llm = load_model(models["llm"], device="cpu", dtype="float32")
    encoder = load_encoder(models["clip"], "vision")
    llm_before = {k: v.clone() for k, v in llm.model.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    torch.manual_seed(0)
    untrained = NeuralArchitect(FusionConfig(32, {"vision": ModalitySpec(24, 4)}))
    start = {k: v.clone() for k, v in untrained.state_dict().items()}
    pairs = read_pairs(models["data"])
    loss_before = Aligner(llm.model, llm.tokenizer, {"vision": encoder}, untrained).loss(pairs)
    result = align(models["llm"], {"vision": models["clip"]}, models["data"], tmp_path / "bundle", epochs=40,
                   batch_size=4, lr=3e-3, tokens=4, seed=0)
    trained = bundles.load_architect(bundles.read(tmp_path / "bundle"))
    assert any(not torch.equal(start[k], v) for k, v in trained.state_dict().items())  # the projectors learned
    loss_after = Aligner(llm.model, llm.tokenizer, {"vision": encoder}, trained).loss(pairs)
    assert loss_after < loss_before - 0.05, (loss_before, loss_after)
    assert result.losses[-1] < result.losses[0] and result.steps == 40
    # the frozen models are untouched (the training loaded its own copies; these are the same files' weights)
    reloaded = load_model(models["llm"], device="cpu", dtype="float32").model.state_dict()
    assert all(torch.equal(v, reloaded[k]) for k, v in llm_before.items())
    assert all(torch.equal(v, load_encoder(models["clip"], "vision").model.state_dict()[k])
               for k, v in encoder_before.items())


def test_only_projector_parameters_get_gradients(models: dict[str, Path]) -> None:
    from nexus_core.models.loader import load_model

    llm = load_model(models["llm"], device="cpu", dtype="float32")
    for parameter in llm.model.parameters():
        parameter.requires_grad_(False)
    encoder = load_encoder(models["clip"], "vision")
    architect = NeuralArchitect(FusionConfig(32, {"vision": ModalitySpec(24, 4)}))
    loss = Aligner(llm.model, llm.tokenizer, {"vision": encoder}, architect).batch_loss(read_pairs(models["data"]))
    loss.backward()
    assert all(p.grad is not None for p in architect.parameters())
    assert all(p.grad is None for p in llm.model.parameters())
    assert all(p.grad is None for p in encoder.model.parameters())


def test_bundles_refuse_another_llm_or_an_encoder_of_another_width(models: dict[str, Path], tmp_path: Path) -> None:
    from nexus_core.models.loader import load_model
    from nexus_core.multimodal.chat import FusedInputs

    align(models["llm"], {"vision": models["clip"]}, models["data"], tmp_path / "bundle", max_steps=2, tokens=4)
    found = bundles.read(tmp_path / "bundle")
    assert found.llm.width == 32 and found.encoders["vision"].width == 24 and found.training["steps"] == 2
    other = load_model(models["other_llm"], device="cpu", dtype="float32")
    with pytest.raises(FusionError, match=r"trained for llm .* not for other-llm"):
        FusedInputs.load(tmp_path / "bundle", other.model, models["other_llm"])
    with pytest.raises(FusionError, match="clip48 gives 48-wide features, but the bundle's projector takes 24"):
        bundles.check_encoder(found, "vision", models["clip48"], load_encoder(models["clip48"], "vision").width)
    llm = load_model(models["llm"], device="cpu", dtype="float32")
    fused = FusedInputs.load(tmp_path / "bundle", llm.model, models["llm"])
    inputs = fused.inputs(llm.tokenizer, "what is this? " + fused.placeholders([models["data"].parent / "red.png"]),
                          [models["data"].parent / "red.png"])
    output = llm.model.generate(**{k: v for k, v in inputs.items() if k != "position_ids"}, max_new_tokens=3,
                                do_sample=False, pad_token_id=llm.tokenizer.pad_token_id)
    assert output.shape[1] <= 3  # only the new tokens (the prompt was given as embeddings)
    with pytest.raises(FusionError, match="handles only vision"):
        fused.placeholders([_wav(tmp_path / "a.wav")])
    (tmp_path / "bundle" / bundles.WEIGHTS).unlink()
    with pytest.raises(FusionError, match=r"projectors.safetensors is missing"):
        bundles.read(tmp_path / "bundle")


def test_bad_media_and_data_are_named(models: dict[str, Path], tmp_path: Path) -> None:
    encoder = load_encoder(models["clip"], "vision")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    with pytest.raises(MediaError, match=r"broken.png cannot be read as a picture"):
        encoder.features([broken])
    with pytest.raises(MediaError, match=r"notes.docx is not a picture, sound or video"):
        from nexus_core.multimodal.media import modality_of

        modality_of(tmp_path / "notes.docx")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "x.png", "caption": "c"}\n{oops\n')
    with pytest.raises(MediaError, match=r"x.png does not exist"):
        read_pairs(bad)
    bad.write_text('{"caption": "no media"}\n')
    with pytest.raises(MediaError, match=r"bad.jsonl line 1 needs one of image, audio or video"):
        read_pairs(bad)
    with pytest.raises(FusionError, match="vision pairs but no vision encoder"):
        align(models["llm"], {"audio": models["whisper"]}, models["data"], tmp_path / "b")


def test_nexus_fuse_train_writes_a_bundle(models: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuse", "train", "--llm", str(models["llm"]), "--vision", str(models["clip"]), "--data",
                 str(models["data"]), "--out", str(tmp_path / "b"), "--max-steps", "3", "--tokens", "4",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 3 and Path(report["bundle"]).is_dir()
    assert main(["fuse", "info", str(tmp_path / "b")]) == 0
    assert json.loads(capsys.readouterr().out)["encoders"]["vision"]["width"] == 24
    assert main(["fuse", "train", "--llm", str(models["llm"]), "--data", str(models["data"]), "--out",
                 str(tmp_path / "c")]) == 2


def _tiny_siglip(folder: Path) -> Path:
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(hidden_size=20, intermediate_size=40, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=8)
    SiglipVisionModel(config).save_pretrained(folder)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _tiny_dinov2(folder: Path) -> Path:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    config = Dinov2Config(hidden_size=28, intermediate_size=56, num_hidden_layers=1, num_attention_heads=2,
                          image_size=32, patch_size=8)
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _tiny_wav2vec2(folder: Path) -> Path:
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    config = Wav2Vec2Config(hidden_size=12, intermediate_size=24, num_hidden_layers=1, num_attention_heads=2,
                            conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_feat_extract_layers=2,
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, vocab_size=12)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("build", "modality", "width", "kind"), [
    (_tiny_siglip, "vision", 20, "siglip_vision_model"), (_tiny_dinov2, "vision", 28, "dinov2"),
    (_tiny_wav2vec2, "audio", 12, "wav2vec2")])
def test_siglip_dinov2_and_wav2vec2_encoders(build, modality: str, width: int, kind: str, models: dict[str, Path],  # type: ignore[no-untyped-def]
                                             tmp_path: Path) -> None:
    encoder = load_encoder(build(tmp_path / kind), modality)
    assert (encoder.width, encoder.model_type) == (width, kind)
    media = models["data"].parent / "red.png" if modality == "vision" else _wav(tmp_path / "tone.wav", seconds=1.0)
    features = encoder.features([media, media])
    assert features.shape[0] == 2 and features.shape[2] == width and features.shape[1] > 1
    assert torch.allclose(features[0], features[1], atol=1e-5)
