"""Tiny real models saved once per session, plus hand-written fixtures for layouts transformers cannot write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    """name -> (folder, sum(p.numel() for p in model.parameters())) for tiny models saved by transformers."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny")
    llama = tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=128)
    builds: dict[str, Any] = {
        "llama": tf.LlamaForCausalLM(llama),
        "t5": tf.T5ForConditionalGeneration(tf.T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                                                        num_decoder_layers=1, num_heads=4)),
        "bert": tf.BertModel(tf.BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=1,
                                           num_attention_heads=4, intermediate_size=64)),
        "vit": tf.ViTModel(tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                        num_attention_heads=4, intermediate_size=64)),
        "whisper": tf.WhisperForConditionalGeneration(tf.WhisperConfig(
            vocab_size=128, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=8,
            max_source_positions=16, max_target_positions=16, pad_token_id=0, bos_token_id=1,
            eos_token_id=2, decoder_start_token_id=3, suppress_tokens=[], begin_suppress_tokens=[])),
    }
    out: dict[str, tuple[Path, int]] = {}
    for name, model in builds.items():
        folder = root / name
        model.save_pretrained(folder)
        out[name] = (folder, sum(p.numel() for p in model.parameters()))
    (out["llama"][0] / "tokenizer_config.json").write_text("{}")
    (out["vit"][0] / "preprocessor_config.json").write_text('{"image_processor_type": "ViTImageProcessor"}')
    sharded = root / "llama-sharded"
    builds["llama"].save_pretrained(sharded, max_shard_size="30KB")
    out["llama-sharded"] = (sharded, out["llama"][1])
    return out


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def write_weights(path: Path, shapes: dict[str, tuple[int, ...]], dtype: Any = np.float32) -> int:
    """Write a safetensors file of zeros; return its element count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.zeros(s, dtype=dtype) for k, s in shapes.items()}, str(path))
    return sum(int(np.prod(s)) for s in shapes.values())


def make_diffusers(folder: Path) -> int:
    """A two-component pipeline (unet + text encoder) plus a scheduler and tokenizer; return parameter count."""
    write_json(folder / "model_index.json", {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
        "scheduler": ["diffusers", "PNDMScheduler"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "safety_checker": [None, None]})
    write_json(folder / "unet" / "config.json", {"_class_name": "UNet2DConditionModel"})
    n = write_weights(folder / "unet" / "diffusion_pytorch_model.safetensors", {"w": (4, 8), "b": (8,)},
                      np.float16)
    write_json(folder / "text_encoder" / "config.json", {"model_type": "clip_text_model"})
    n += write_weights(folder / "text_encoder" / "model.safetensors", {"emb": (16, 4)}, np.float16)
    write_json(folder / "scheduler" / "scheduler_config.json", {"_class_name": "PNDMScheduler"})
    write_json(folder / "tokenizer" / "tokenizer_config.json", {})
    (folder / "tokenizer" / "vocab.json").write_text("{}")
    return n


def make_sae(folder: Path) -> int:
    write_json(folder / "cfg.json", {"model_name": "gemma-2-2b", "hook_name": "blocks.12.hook_resid_post",
                                     "d_in": 8, "d_sae": 32, "dtype": "float32", "architecture": "jumprelu"})
    return write_weights(folder / "sae_weights.safetensors",
                         {"W_enc": (8, 32), "W_dec": (32, 8), "b_enc": (32,), "b_dec": (8,), "threshold": (32,)})


def make_multimodal(folder: Path) -> int:
    write_json(folder / "config.json", {
        "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
        "vision_config": {"model_type": "clip_vision_model", "hidden_size": 8},
        "text_config": {"model_type": "llama", "hidden_size": 8, "vocab_size": 16}, "torch_dtype": "bfloat16"})
    write_json(folder / "processor_config.json", {"processor_class": "LlavaProcessor"})
    return write_weights(folder / "model.safetensors", {"vision.w": (8, 8), "text.emb": (16, 8)})
