"""The loader on real files: tiny models saved by transformers, each compared with transformers' own load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nexus_core.models.loader import load_model, load_model_safe, register_model_alias
from nexus_core.models.support import is_model_supported
from tests.core.models.conftest import write_json, write_weights

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

TINY_LLAMA = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 128}


def reference(folder: Path, cls: Any, **kwargs: Any) -> dict[str, Any]:
    """transformers' own loading of the same folder: the independent answer to compare against."""
    return cls.from_pretrained(folder, **kwargs).state_dict()


def assert_same_weights(model: Any, expected: dict[str, Any]) -> None:
    got = model.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize(("name", "cls_name", "category"), [
    ("llama", "LlamaForCausalLM", "causal_lm"), ("t5", "T5ForConditionalGeneration", "seq2seq"),
    ("bert", "BertModel", "encoder"), ("vit", "ViTModel", "vision_encoder"),
    ("whisper", "WhisperForConditionalGeneration", "asr"), ("llama-sharded", "LlamaForCausalLM", "causal_lm"),
])
def test_every_category_streams_the_same_weights_transformers_loads(tiny_models, name: str, cls_name: str,
                                                                    category: str) -> None:
    folder = tiny_models[name][0]
    loaded = load_model(folder)
    assert loaded.info.category == category
    assert type(loaded.model).__name__ == cls_name and loaded.strategy == cls_name
    assert loaded.method == "streamed" and loaded.device == "cpu" and loaded.dtype == "float32"
    assert not any(p.device.type == "meta" for p in loaded.model.parameters())
    assert not loaded.model.training
    assert_same_weights(loaded.model, reference(folder, getattr(tf, cls_name)))
    assert loaded.memory_bytes == sum(p.numel() * 4 for p in loaded.model.parameters()) + sum(
        b.numel() * b.element_size() for b in loaded.model.buffers())


def test_dtype_conversion_and_progress(tiny_models) -> None:
    folder = tiny_models["llama-sharded"][0]
    seen: list[tuple[int, int]] = []
    loaded = load_model(folder, dtype="bf16", progress=lambda done, total: seen.append((done, total)))
    assert loaded.dtype == "bfloat16"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    assert_same_weights(loaded.model, reference(folder, tf.LlamaForCausalLM, dtype=torch.bfloat16))
    assert seen and seen[-1][0] == seen[-1][1] > 0
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_tied_embeddings_stay_tied_and_a_base_checkpoint_loads_as_its_base_class(tmp_path: Path) -> None:
    torch.manual_seed(1)
    tied = tf.LlamaForCausalLM(tf.LlamaConfig(**TINY_LLAMA, tie_word_embeddings=True))
    tied.save_pretrained(tmp_path / "tied")
    loaded = load_model(tmp_path / "tied")
    assert loaded.model.lm_head.weight is loaded.model.model.embed_tokens.weight
    assert torch.equal(loaded.model.lm_head.weight, tied.lm_head.weight)

    tf.LlamaModel(tf.LlamaConfig(**TINY_LLAMA)).save_pretrained(tmp_path / "base")
    base = load_model(tmp_path / "base")
    assert base.info.category == "causal_lm" and base.strategy == "LlamaModel"
    assert_same_weights(base.model, reference(tmp_path / "base", tf.LlamaModel))


def test_the_cascade_moves_on_when_the_checkpoint_lacks_the_head(tmp_path: Path) -> None:
    """config.json says ForCausalLM but the weights are a base model's: the cascade lands on AutoModel."""
    folder = tmp_path / "headless"
    tf.LlamaModel(tf.LlamaConfig(**TINY_LLAMA)).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["LlamaForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    loaded = load_model(folder)
    assert loaded.strategy == "AutoModel" and type(loaded.model).__name__ == "LlamaModel"
    assert loaded.method == "streamed"


def test_a_generated_answer_matches_transformers(tiny_models) -> None:
    folder = tiny_models["llama"][0]
    ours = load_model(folder).model
    theirs = tf.LlamaForCausalLM.from_pretrained(folder).eval()
    ids = torch.tensor([[1, 5, 9, 20]])
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, theirs(ids).logits)


def test_a_multimodal_model_with_renamed_checkpoint_keys_streams(tmp_path: Path) -> None:
    torch.manual_seed(2)
    config = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                          num_attention_heads=4, image_size=32, patch_size=8, projection_dim=32),
        text_config=tf.LlamaConfig(**{**TINY_LLAMA, "num_hidden_layers": 1}), image_token_index=100)
    tf.LlavaForConditionalGeneration(config).save_pretrained(tmp_path / "llava")
    loaded = load_model(tmp_path / "llava")
    assert loaded.info.category == "multimodal" and loaded.method == "streamed"
    assert_same_weights(loaded.model, reference(tmp_path / "llava", tf.LlavaForConditionalGeneration))


def test_an_unknown_model_type_maps_to_the_class_its_config_names(tmp_path: Path) -> None:
    folder = tmp_path / "fork"
    tf.LlamaForCausalLM(tf.LlamaConfig(**TINY_LLAMA)).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "my_llama_fork"
    (folder / "config.json").write_text(json.dumps(config))
    report = is_model_supported(folder)
    assert report.supported and "LlamaForCausalLM" in report.reason
    loaded = load_model(folder)
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert any("my_llama_fork" in note for note in loaded.notes)

    config["architectures"] = ["MyForkForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    assert not is_model_supported(folder).supported
    outcome = load_model_safe(folder)
    assert outcome.kind == "not_supported" and "my_llama_fork" in outcome.message
    register_model_alias("my_llama_fork", "llama")
    assert is_model_supported(folder).supported
    assert type(load_model(folder).model).__name__ == "LlamaForCausalLM"


def test_custom_code_needs_consent(tiny_models, tmp_path: Path) -> None:
    folder = tmp_path / "custom"
    shutil.copytree(tiny_models["llama"][0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    outcome = load_model_safe(folder)
    assert not outcome.ok and outcome.kind == "consent"
    assert outcome.path and outcome.path.endswith("config.json") and "trust_remote_code" in outcome.hint


def test_a_model_that_will_not_fit_is_refused_with_the_numbers(tiny_models) -> None:
    outcome = load_model_safe(tiny_models["llama"][0], memory_budget=1000)
    assert outcome.kind == "memory"
    assert "needs about" in outcome.message and "free" in outcome.message and "RAM" in outcome.message
    assert "smaller" in outcome.hint


def test_weights_that_disagree_with_the_config_name_the_tensor(tiny_models, tmp_path: Path) -> None:
    folder = tmp_path / "mismatch"
    shutil.copytree(tiny_models["llama"][0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 48
    (folder / "config.json").write_text(json.dumps(config))
    outcome = load_model_safe(folder)
    assert outcome.kind == "weights"
    assert "model.safetensors" in outcome.message and "mlp" in outcome.message and "48]" in outcome.message
    assert outcome.path and outcome.path.endswith("model.safetensors")


def test_broken_folders_give_structured_errors(tiny_models, tmp_path: Path) -> None:
    sharded = tmp_path / "sharded"
    shutil.copytree(tiny_models["llama-sharded"][0], sharded)
    victim = sorted(sharded.glob("model-*.safetensors"))[1]
    victim.unlink()
    outcome = load_model_safe(sharded)
    assert outcome.kind == "folder" and victim.name in outcome.message

    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_models["llama"][0], truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) - 100])
    outcome = load_model_safe(truncated)
    assert outcome.kind == "folder" and "truncated" in outcome.message

    (tmp_path / "empty").mkdir()
    outcome = load_model_safe(tmp_path / "empty")
    assert outcome.kind == "folder" and "empty" in outcome.message

    bad_json = tmp_path / "bad-json"
    shutil.copytree(tiny_models["llama"][0], bad_json)
    (bad_json / "config.json").write_text('{"model_type": "llama",\n  oops}')
    outcome = load_model_safe(bad_json)
    assert outcome.kind == "folder" and "config.json" in outcome.message and "line 2" in outcome.message

    outcome = load_model_safe(tmp_path / "nowhere")
    assert outcome.kind == "folder" and "does not exist" in outcome.message


def test_pickle_weights_use_transformers_loader_with_a_note(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = tf.LlamaForCausalLM(tf.LlamaConfig(**TINY_LLAMA))
    folder = tmp_path / "pickle"
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    loaded = load_model(folder)
    assert loaded.method == "transformers" and any("safetensors" in n for n in loaded.notes)
    assert_same_weights(loaded.model, model.state_dict())


def test_processor_and_tokenizer_come_with_the_model(tmp_path: Path) -> None:
    from tests.support.tiny_models import build_tiny_llama

    folder = build_tiny_llama(tmp_path / "chat")
    loaded = load_model(folder)
    assert loaded.tokenizer is not None and loaded.tokenizer.chat_template
    assert loaded.processor is None and not loaded.notes


# ---- sparse autoencoders ---------------------------------------------------------------------------


def write_saelens(folder: Path, base: str, d_in: int = 8, d_sae: int = 32) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    tensors = {"W_enc": rng.standard_normal((d_in, d_sae)).astype(np.float32),
               "W_dec": rng.standard_normal((d_sae, d_in)).astype(np.float32),
               "b_enc": rng.standard_normal(d_sae).astype(np.float32),
               "b_dec": rng.standard_normal(d_in).astype(np.float32)}
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "sae_weights.safetensors"))
    write_json(folder / "cfg.json", {"model_name": base, "hook_name": "blocks.1.hook_resid_post", "d_in": d_in,
                                     "d_sae": d_sae, "architecture": "standard"})
    return tensors


def test_an_sae_loads_and_takes_its_tokenizer_from_the_base_model(tmp_path: Path) -> None:
    from tests.support.tiny_models import build_tiny_llama

    models = tmp_path / "models"
    build_tiny_llama(models / "tiny-base")
    tensors = write_saelens(tmp_path / "sae", "acme/tiny-base")
    loaded = load_model(tmp_path / "sae", search_roots=[models])
    sae = loaded.model
    assert loaded.strategy == "SparseAutoencoder" and sae.hook_name == "blocks.1.hook_resid_post"
    x = torch.randn(3, 8)
    expected = torch.relu(x @ torch.from_numpy(tensors["W_enc"]) + torch.from_numpy(tensors["b_enc"]))
    assert torch.allclose(sae.encode(x), expected)
    assert sae(x).shape == (3, 8)
    assert loaded.tokenizer is not None and "tiny-base" in loaded.notes[0]

    alone = load_model(tmp_path / "sae", search_roots=[tmp_path / "elsewhere"])
    assert alone.tokenizer is None and "hf download acme/tiny-base" in alone.notes[0]


def test_a_gemma_scope_npz_is_a_jumprelu_sae_with_its_base_named_by_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "gemma-scope-2b-pt-res" / "layer_3" / "width_16k" / "average_l0_10"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {"W_enc": rng.standard_normal((8, 16)).astype(np.float32),
              "W_dec": rng.standard_normal((16, 8)).astype(np.float32),
              "b_enc": np.zeros(16, np.float32), "b_dec": np.zeros(8, np.float32),
              "threshold": np.full(16, 0.5, np.float32)}
    np.savez(folder / "params.npz", **arrays)
    loaded = load_model(folder)
    assert loaded.info.base_model == "google/gemma-2-2b"
    assert loaded.model.architecture == "jumprelu"
    features = loaded.model.encode(torch.randn(4, 8))
    assert bool(((features == 0) | (features > 0.5)).all())


def test_an_sae_whose_weights_disagree_with_its_cfg_is_refused(tmp_path: Path) -> None:
    write_saelens(tmp_path / "sae", "acme/base")
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    cfg["d_sae"] = 64
    (tmp_path / "sae" / "cfg.json").write_text(json.dumps(cfg))
    outcome = load_model_safe(tmp_path / "sae")
    assert outcome.kind == "weights" and "d_sae=64" in outcome.message

    write_weights(tmp_path / "partial" / "sae_weights.safetensors", {"W_enc": (8, 4)})
    write_json(tmp_path / "partial" / "cfg.json", {"d_in": 8, "d_sae": 4})
    outcome = load_model_safe(tmp_path / "partial")
    assert outcome.kind == "weights" and "W_dec" in outcome.message


def test_a_diffusers_pipeline_loads_and_draws(tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    from tests.support.tiny_models import build_tiny_stable_diffusion

    folder = build_tiny_stable_diffusion(tmp_path / "tiny-sd")
    loaded = load_model(folder)
    assert loaded.info.category == "diffusers" and loaded.method == "diffusers"
    assert loaded.strategy == "StableDiffusionPipeline" and loaded.tokenizer is not None
    assert loaded.memory_bytes == sum(p.numel() * 4 for name in ("unet", "vae", "text_encoder")
                                      for p in getattr(loaded.model, name).parameters()) + sum(
        b.numel() * b.element_size() for name in ("unet", "vae", "text_encoder")
        for b in getattr(loaded.model, name).buffers())
    image = loaded.model("a cat", num_inference_steps=2, height=16, width=16, output_type="np").images
    assert image.shape == (1, 16, 16, 3)

    shutil.rmtree(folder / "unet")
    outcome = load_model_safe(folder)
    assert outcome.kind == "folder" and "unet" in outcome.message
