"""inspect_model: categories, exact parameter counts, shards, and a named file for every kind of bad input."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nexus_core.models import ModelFolderError, inspect_model
from tests.core.models.conftest import make_diffusers, make_multimodal, make_sae, write_json, write_weights

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("name", "category", "architecture", "model_type"), [
    ("llama", "causal_lm", "LlamaForCausalLM", "llama"),
    ("t5", "seq2seq", "T5ForConditionalGeneration", "t5"),
    ("bert", "encoder", "BertModel", "bert"),
    ("vit", "vision_encoder", "ViTModel", "vit"),
    ("whisper", "asr", "WhisperForConditionalGeneration", "whisper"),
    ("llama-sharded", "causal_lm", "LlamaForCausalLM", "llama"),
])
def test_saved_models_match_their_parameters(tiny_models, name, category, architecture, model_type) -> None:
    # Counts are of stored tensors; tied weights (T5, Whisper) are stored once, as parameters() also counts them.
    folder, expected = tiny_models[name]
    info = inspect_model(folder)
    assert (info.category, info.architecture, info.model_type) == (category, architecture, model_type)
    assert info.parameters == expected
    assert info.dtype == "float32"
    weights = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
    assert info.size_bytes == weights
    assert info.problems == []
    assert not info.custom_code


def test_sharded_save_lists_every_shard(tiny_models) -> None:
    folder, _ = tiny_models["llama-sharded"]
    info = inspect_model(folder)
    on_disk = sorted(p.name for p in folder.glob("*.safetensors"))
    assert len(on_disk) > 2
    assert info.shards == on_disk


def test_tokenizer_and_processor_flags(tiny_models) -> None:
    assert inspect_model(tiny_models["llama"][0]).has_tokenizer
    vit = inspect_model(tiny_models["vit"][0])
    assert vit.has_processor and not vit.has_tokenizer


def test_missing_shard_is_a_named_problem(tiny_models, tmp_path: Path) -> None:
    src, _ = tiny_models["llama-sharded"]
    dst = tmp_path / "partial"
    dst.mkdir()
    shards = sorted(src.glob("*.safetensors"))
    for f in src.iterdir():
        if f != shards[1]:
            (dst / f.name).write_bytes(f.read_bytes())
    info = inspect_model(dst)
    assert any(shards[1].name in p and "missing" in p for p in info.problems)
    assert shards[1].name not in info.shards


def test_diffusers_pipeline(tmp_path: Path) -> None:
    expected = make_diffusers(tmp_path / "sd")
    info = inspect_model(tmp_path / "sd")
    assert info.category == "diffusers"
    assert info.pipeline_class == "StableDiffusionPipeline"
    assert info.parameters == expected
    assert info.dtype == "float16"
    assert info.has_tokenizer
    assert set(info.components) == {"unet", "text_encoder", "scheduler", "tokenizer"}
    assert info.shards == ["text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors"]


def test_sae_with_base_model(tmp_path: Path) -> None:
    expected = make_sae(tmp_path / "sae")
    info = inspect_model(tmp_path / "sae")
    assert (info.category, info.base_model, info.parameters) == ("sae", "gemma-2-2b", expected)


def test_gemma_scope_npz(tmp_path: Path) -> None:
    folder = tmp_path / "layer_12" / "width_16k" / "average_l0_82"
    folder.mkdir(parents=True)
    np.savez(folder / "params.npz", W_enc=np.zeros((8, 16), np.float32), b_enc=np.zeros(16, np.float32))
    info = inspect_model(folder)
    assert (info.category, info.parameters, info.dtype) == ("sae", 8 * 16 + 16, "float32")


def test_multimodal(tmp_path: Path) -> None:
    expected = make_multimodal(tmp_path / "llava")
    info = inspect_model(tmp_path / "llava")
    assert (info.category, info.architecture, info.parameters) == ("multimodal", "LlavaForConditionalGeneration",
                                                                   expected)
    assert info.has_processor


def test_custom_code_and_config_dtype(tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", {"architectures": ["MyForCausalLM"], "model_type": "my",
                                          "auto_map": {"AutoModelForCausalLM": "modeling_my.MyForCausalLM"},
                                          "torch_dtype": "bfloat16"})
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * 10)
    info = inspect_model(tmp_path)
    assert info.custom_code and info.category == "causal_lm"
    assert info.dtype == "bfloat16"  # no safetensors: the config's dtype
    assert info.size_bytes == 10 and info.parameters == 0
    assert any("pytorch_model.bin" in p for p in info.problems)


@pytest.mark.parametrize(("arch", "model_type", "category"), [
    ("GPT2LMHeadModel", "gpt2", "causal_lm"),
    ("BartForConditionalGeneration", "bart", "seq2seq"),
    ("Wav2Vec2ForCTC", "wav2vec2", "asr"),
    ("Dinov2Model", "dinov2", "vision_encoder"),
    ("RobertaForMaskedLM", "roberta", "encoder"),
    ("SomethingForImageClassification", "something", "vision_encoder"),
    ("Blah", "blah", "unknown"),
])
def test_classify_by_config(tmp_path: Path, arch: str, model_type: str, category: str) -> None:
    write_json(tmp_path / "config.json", {"architectures": [arch], "model_type": model_type})
    assert inspect_model(tmp_path).category == category


def _assert_names(exc: pytest.ExceptionInfo[ModelFolderError], path: Path) -> None:
    assert exc.value.path == path
    assert str(path) in exc.value.user_message()


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist") as exc:
        inspect_model(tmp_path / "nope")
    _assert_names(exc, tmp_path / "nope")


def test_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ModelFolderError, match="not a folder") as exc:
        inspect_model(tmp_path / "f.txt")
    _assert_names(exc, tmp_path / "f.txt")


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="empty") as exc:
        inspect_model(tmp_path)
    _assert_names(exc, tmp_path)


def test_malformed_config_reports_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{\n  "model_type": "llama",\n  oops\n}')
    with pytest.raises(ModelFolderError, match="line 3, column 3") as exc:
        inspect_model(tmp_path)
    _assert_names(exc, tmp_path / "config.json")


@pytest.mark.parametrize("content", [b"\x01\x02", struct.pack("<Q", 500) + b'{"w": {'])
def test_truncated_safetensors_header(tmp_path: Path, content: bytes) -> None:
    write_json(tmp_path / "config.json", {"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    (tmp_path / "model.safetensors").write_bytes(content)
    with pytest.raises(ModelFolderError, match="truncated") as exc:
        inspect_model(tmp_path)
    _assert_names(exc, tmp_path / "model.safetensors")


def test_truncated_tensor_data_is_a_problem(tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", {"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    write_weights(tmp_path / "model.safetensors", {"w": (64, 64)})
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[:-100])
    info = inspect_model(tmp_path)
    assert info.parameters == 64 * 64
    assert any("model.safetensors is truncated" in p for p in info.problems)


def test_symlink_loop_config_is_named_not_hung(tmp_path: Path) -> None:
    (tmp_path / "config.json").symlink_to(tmp_path / "config.json")
    with pytest.raises(ModelFolderError) as exc:
        inspect_model(tmp_path)
    _assert_names(exc, tmp_path / "config.json")


def test_symlink_loop_folder(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ModelFolderError) as exc:
        inspect_model(tmp_path / "loop")
    assert exc.value.path == tmp_path / "loop"


def test_detection_never_imports_torch_or_transformers(tiny_models, tmp_path: Path) -> None:
    make_sae(tmp_path / "sae")
    code = (
        "import sys, json\n"
        "from nexus_core.models.detect import inspect_model\n"
        "infos = [inspect_model(p) for p in sys.argv[1:]]\n"
        "heavy = [m for m in ('torch', 'transformers', 'safetensors', 'numpy') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'params': [i.parameters for i in infos]}))\n"
    )
    folders = [str(tiny_models["llama-sharded"][0]), str(tmp_path / "sae")]
    out = subprocess.run([sys.executable, "-c", code, *folders], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["heavy"] == []
    assert result["params"][0] == tiny_models["llama-sharded"][1]
