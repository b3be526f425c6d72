"""Tiny random transformers models built offline, so local-model tests never download anything.

The tokenizer is a real byte-level BPE trained in milliseconds on a small corpus: random weights then
produce arbitrary byte tokens, including halves of multi-byte characters, which is exactly what the
incremental decoder has to cope with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<s>", "</s>", "<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
TOOL_TOKENS = ["<tool_call>", "</tool_call>"]  # added but not special: decoding keeps them, as Qwen's do

_WORDS = """
the a an and or but if then else of to in on at by for with from up down out over under again
I you he she it we they me him her us them my your his its our their this that these those
is are was were be been being have has had do does did will would can could should may might must
hello hi thanks thank please yes no not okay sure sorry good bad great fine new old big small long short
what which who whom whose when where why how all any both each few more most other some such only own
same so than too very just now here there today tomorrow yesterday time day week year hour minute
user assistant system tool call function name arguments result answer question file folder model
weather city temperature sunny rainy cold warm Paris London Tokyo Berlin number count list read write
quick brown fox jumps lazy dog cat mouse story tell me about world people water food book work home
"name": "arguments": "type": "object" "function" "description": "parameters": "properties": "string" "city"
{"type": {"name": {"city": }} "},
"""
_PUNCTUATION = ". , ! ? : ; ' \" ( ) [ ] { } - _ / \\ = + * < > | @ # $ % & ~ ` ^"
_EXTRA_TEXT = "0 1 2 3 4 5 6 7 8 9 10 42 100 2024 café naïve über 日本語 中文 😀 👍 → ✓"

CHAT_TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}
{% endif %}Tools:
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}Call one as <tool_call>{"name": ..., "arguments": {...}}</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'system' and loop.first %}
{%- elif message.role == 'assistant' %}<|im_start|>assistant
{{ message.content or '' }}
{%- for call in message.tool_calls or [] %}
<tool_call>{"name": {{ call.function.name | tojson }}, "arguments": {{ call.function.arguments | tojson }}}</tool_call>
{%- endfor %}<|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


def _corpus(vocab_words: list[str]) -> list[str]:
    words = _WORDS.split()
    lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 6)]
    lines += [_PUNCTUATION, _EXTRA_TEXT]
    lines += [" ".join([word] * 8) for word in vocab_words]  # repeated so BPE learns them whole
    return lines


def build_tokenizer(*, chat_template: bool = True, vocab_words: list[str] | None = None,
                    special_tool_tokens: bool = False) -> Any:
    """A ``PreTrainedTokenizerFast`` over a freshly trained byte-level BPE with ChatML special tokens.

    ``special_tool_tokens`` registers ``<tool_call>`` as a special token, as some tool-calling models do.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    extra = list(vocab_words or [])
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    merges = 320 + sum(len(word) for word in extra)
    trainer = trainers.BpeTrainer(vocab_size=256 + len(SPECIAL_TOKENS) + merges, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_corpus(extra), trainer)
    bpe.add_tokens([AddedToken(token, special=special_tool_tokens, normalized=False) for token in TOOL_TOKENS])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>")
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_llama(folder: Path, *, chat_template: bool = True, vocab_words: list[str] | None = None,
                     seed: int = 0) -> Path:
    """Write a tiny random Llama (safetensors) plus tokenizer into ``folder``; about 0.2 s once torch is imported."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(chat_template=chat_template, vocab_words=vocab_words)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def corrupt_weights(folder: Path) -> None:
    """Cut the safetensors file in half, as an interrupted download or a full disk would."""
    for path in sorted(Path(folder).glob("*.safetensors")):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def build_tiny_stable_diffusion(folder: Path) -> Path:
    """A Stable Diffusion pipeline a few hundred KB big (sizes from diffusers' own tests) with a hand-written
    CLIP BPE vocabulary, saved by diffusers itself; a 16×16 image takes a fraction of a second on a CPU."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
                                norm_num_groups=2, attention_head_dim=2)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=2)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=8,
                                        intermediate_size=16, num_attention_heads=2, num_hidden_layers=1,
                                        vocab_size=64, max_position_embeddings=16))
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    staging = folder.parent / f".{folder.name}-tokenizer"
    staging.mkdir(exist_ok=True)
    (staging / "vocab.json").write_text(json.dumps(vocab))
    (staging / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(staging / "vocab.json"), str(staging / "merges.txt"), model_max_length=16)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer,
                                   scheduler=DDIMScheduler(steps_offset=1, clip_sample=False), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def build_tiny_vits(folder: Path, *, language: str = "eng") -> Path:
    """A tiny random VITS (MMS-TTS layout: character vocabulary, no phonemiser) that transformers' text-to-speech
    pipeline runs for real; it speaks noise, at 16 kHz."""
    import json

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(["<pad>", *" abcdefghijklmnopqrstuvwxyz.,!?'-"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = VitsTokenizer(str(folder / "vocab.json"), pad_token="<pad>", unk_token="<pad>", add_blank=True,
                              normalize=True, phonemize=False, language=language)
    config = VitsConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, ffn_dim=32,
                        flow_size=16, spectrogram_bins=33, upsample_initial_channel=32, upsample_rates=[4, 4],
                        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                        prior_encoder_num_flows=2, prior_encoder_num_wavenet_layers=2,
                        posterior_encoder_num_wavenet_layers=2, duration_predictor_num_flows=2,
                        duration_predictor_filter_channels=16, depth_separable_num_layers=2, sampling_rate=16000)
    torch.manual_seed(0)
    VitsModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_svd(folder: Path) -> Path:
    """A Stable Video Diffusion pipeline of about 8 MB (sizes after diffusers' own tests; the CLIP image encoder
    takes the 224-pixel input SVD always gives it): 8 frames of 32×24 in a few seconds on a CPU."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=4, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=16,
        num_attention_heads=2, projection_class_embeddings_input_dim=24, addition_time_embed_dim=8)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       interpolation_type="linear", num_train_timesteps=1000,
                                       prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
                                       steps_offset=1, timestep_spacing="leading", timestep_type="continuous",
                                       use_karras_sigmas=True)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=16, projection_dim=16, num_hidden_layers=1,
                                                             num_attention_heads=2, image_size=224,
                                                             intermediate_size=24, patch_size=32))
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler,
                                        feature_extractor=CLIPImageProcessor(crop_size=224, size=224))
    pipe.save_pretrained(folder)
    return folder


def build_tiny_clip_vision(folder: Path, *, hidden_size: int = 24, seed: int = 0) -> Path:
    """A tiny random CLIP vision tower (32×32 pictures, 8×8 patches) with its image processor."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    folder = Path(folder)
    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=1,
                              num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)
    CLIPVisionModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def build_tiny_whisper(folder: Path, *, seed: int = 0) -> Path:
    """A tiny random Whisper (its encoder is what fusion uses) with its feature extractor (80 mel bins, 30 s)."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    folder = Path(folder)
    torch.manual_seed(seed)
    config = WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=64,
                           num_mel_bins=80, max_source_positions=1500, max_target_positions=32,
                           decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


def build_tiny_videomae(folder: Path, *, seed: int = 0) -> Path:
    """A tiny random VideoMAE (4 frames of 32×32) with its image processor."""
    import torch
    from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEModel

    folder = Path(folder)
    torch.manual_seed(seed)
    config = VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=24,
                            num_hidden_layers=1, num_attention_heads=2, intermediate_size=48)
    VideoMAEModel(config).save_pretrained(folder)
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
