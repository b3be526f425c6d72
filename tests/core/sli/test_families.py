"""Layer streaming is exact: for a tiny model of every family, hidden_last, chosen layers and the top-k logits
equal a full in-memory forward (fp32), and each weight byte is read once per pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nexus_core.sli.runner import SliRunner  # noqa: E402

VOCAB = 96


def _configs() -> dict[str, Any]:
    t = transformers
    common = {"vocab_size": VOCAB}
    llama_like = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "max_position_embeddings": 128, **common}
    return {
        "llama": t.LlamaConfig(**llama_like),
        "mistral": t.MistralConfig(**llama_like),
        "qwen2": t.Qwen2Config(**llama_like),
        "gemma": t.GemmaConfig(**llama_like, head_dim=8),
        "phi3": t.Phi3Config(**llama_like, pad_token_id=0),
        "gpt2": t.GPT2Config(n_embd=32, n_layer=3, n_head=4, n_positions=128, **common),
        "opt": t.OPTConfig(hidden_size=32, ffn_dim=64, num_hidden_layers=3, num_attention_heads=4,
                           max_position_embeddings=128, word_embed_proj_dim=32, **common),
        "bloom": t.BloomConfig(hidden_size=32, n_layer=3, n_head=4, **common),
        "mamba": t.MambaConfig(hidden_size=32, state_size=8, num_hidden_layers=3, expand=2, conv_kernel=4,
                               **common),
        "mixtral": t.MixtralConfig(**llama_like, num_local_experts=4, num_experts_per_tok=2),
        "deepseek_v3": t.DeepseekV3Config(hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                                          num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
                                          n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
                                          first_k_dense_replace=1, q_lora_rank=16, kv_lora_rank=16,
                                          qk_rope_head_dim=4, v_head_dim=8, qk_nope_head_dim=4, n_group=2,
                                          topk_group=1, max_position_embeddings=128, **common),
        "qwen2_moe": t.Qwen2MoeConfig(**llama_like, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                      shared_expert_intermediate_size=32, decoder_sparse_step=1),
    }


CONFIGS = _configs()


def build(name: str, folder: Path) -> Any:
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(CONFIGS[name]).eval()
    model.save_pretrained(folder)
    return model


def token_data(path: Path, rows: int = 7) -> Path:
    generator = torch.Generator().manual_seed(1)
    lines = [json.dumps({"input_ids": torch.randint(1, VOCAB, (int(3 + (i * 5) % 11),), generator=generator)
                         .tolist()}) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def reference(model: Any, ids: Any, lengths: Any) -> tuple[Any, Any]:
    mask = (torch.arange(ids.shape[1])[None] < lengths[:, None]).long()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, output_hidden_states=True), mask.bool()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_streamed_pass_equals_the_in_memory_forward(name: str, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model = build(name, tmp_path / "model")
    runner = SliRunner(tmp_path / "model", tmp_path / "out", memory_budget=2**30, top_k=4, layers_out=(1,),
                       batch_size=3, device="cpu")
    try:
        result = runner.run(token_data(tmp_path / "data.jsonl"))
    finally:
        runner.close()
    assert result.status == "finished"
    if name in ("mixtral", "qwen2_moe", "deepseek_v3"):  # experts no token was routed to are never read
        assert 0.5 < result.read_ratio <= 1.0
    else:
        assert result.read_ratio == 1.0  # every weight byte read exactly once
    out = load_file(str(tmp_path / "out" / "outputs.safetensors"))
    ref, keep = reference(model, out["input_ids"], out["lengths"])
    assert float((ref.hidden_states[-1][keep] - out["hidden_last"][keep]).abs().max()) < 1e-4
    after_layer_1 = 1 if name == "mamba" else 2  # Mamba's hidden_states has no embedding entry first
    assert float((ref.hidden_states[after_layer_1][keep] - out["hidden_1"][keep]).abs().max()) < 1e-4
    values, indices = ref.logits.float().topk(4, dim=-1)
    assert float((values[keep] - out["topk_values"][keep]).abs().max()) < 1e-4
    assert float((indices[keep] == out["topk_indices"][keep]).float().mean()) > 0.99  # ties may swap
    assert float((torch.logsumexp(ref.logits.float(), -1)[keep] - out["logsumexp"][keep]).abs().max()) < 1e-4


def test_experts_no_token_is_routed_to_are_never_read(tmp_path: Path) -> None:
    config = transformers.MixtralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
                                        num_local_experts=8, num_experts_per_tok=1)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "model")
    (tmp_path / "one.jsonl").write_text(json.dumps({"input_ids": [5, 9]}) + "\n")
    runner = SliRunner(tmp_path / "model", tmp_path / "out", memory_budget=2**30, device="cpu")
    try:
        result = runner.run(tmp_path / "one.jsonl")
    finally:
        runner.close()
    expert_bytes = sum(s.end - s.start for k, s in runner.store.sources.items() if ".experts." in k)
    skipped = result.weight_bytes - result.bytes_read
    assert result.status == "finished" and skipped >= expert_bytes * 0.5  # 2 tokens reach at most 2 of 8 experts


ENCODER_DECODER = {"t5": "T5Config", "mt5": "MT5Config", "umt5": "UMT5Config"}


def build_encoder_decoder(name: str, folder: Path) -> Any:
    config = getattr(transformers, ENCODER_DECODER[name])(
        vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=3, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    model = transformers.AutoModelForSeq2SeqLM.from_config(config).eval()
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("name", sorted(ENCODER_DECODER))
def test_an_encoder_decoder_streams_the_encoder_then_the_decoder_exactly(name: str, tmp_path: Path) -> None:
    """T5: the encoder's layers, its output cached for every decoder layer's cross-attention, then the decoder's;
    T5 and mT5 share layer 0's relative-position bias with later layers (uMT5 has a table in every layer)."""
    from safetensors.torch import load_file

    model = build_encoder_decoder(name, tmp_path / "model")
    generator = torch.Generator().manual_seed(1)
    records = []
    for i in range(7):
        record = {"input_ids": torch.randint(2, VOCAB, (3 + (i * 5) % 11,), generator=generator).tolist()}
        if i % 3:  # the others get only the start token: the teacher's first-token distribution
            record["labels"] = torch.randint(2, VOCAB, (2 + (i * 3) % 7,), generator=generator).tolist()
        records.append(record)
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    runner = SliRunner(tmp_path / "model", tmp_path / "out", memory_budget=2**30, top_k=4, layers_out=(1, 3),
                       batch_size=3, device="cpu")
    try:
        result = runner.run(tmp_path / "data.jsonl")
    finally:
        runner.close()
    assert result.status == "finished" and result.read_ratio == 1.0
    out = load_file(str(tmp_path / "out" / "outputs.safetensors"))
    assert out["decoder_input_ids"][1, : int(out["decoder_lengths"][1])].tolist() == [0, *records[1]["labels"][:-1]]
    assert out["decoder_input_ids"][0, : int(out["decoder_lengths"][0])].tolist() == [0]
    ids, target = out["input_ids"], out["decoder_input_ids"]
    source_mask = (torch.arange(ids.shape[1])[None] < out["lengths"][:, None]).long()
    target_mask = (torch.arange(target.shape[1])[None] < out["decoder_lengths"][:, None]).long()
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=source_mask, decoder_input_ids=target,
                    decoder_attention_mask=target_mask, output_hidden_states=True)
    source, keep = source_mask.bool(), target_mask.bool()

    def gap(a: Any, b: Any, rows: Any) -> float:
        return float((a[rows] - b[rows]).abs().max())

    assert gap(ref.encoder_last_hidden_state, out["encoder_last"], source) < 1e-4
    assert gap(ref.encoder_hidden_states[2], out["hidden_1"], source) < 1e-4  # encoder layer 1
    assert gap(ref.decoder_hidden_states[1], out["hidden_3"], keep) < 1e-4  # layer 3 = the decoder's first
    assert gap(ref.decoder_hidden_states[-1], out["hidden_last"], keep) < 1e-4
    values, indices = ref.logits.float().topk(4, dim=-1)
    assert gap(values, out["topk_values"], keep) < 1e-4
    assert float((indices[keep] == out["topk_indices"][keep]).float().mean()) > 0.99
    assert gap(torch.logsumexp(ref.logits.float(), -1), out["logsumexp"], keep) < 1e-4


def test_an_encoder_decoder_pass_resumes_in_the_decoder(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    build_encoder_decoder("t5", tmp_path / "model")
    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"input_ids": [2 + i, 5, 7 + i], "labels": [9, 4 + i]})
                                                 + "\n" for i in range(5)))
    straight = SliRunner(tmp_path / "model", tmp_path / "straight", memory_budget=2**30, top_k=3, device="cpu",
                         batch_size=2)
    try:
        straight.run(tmp_path / "data.jsonl")
    finally:
        straight.close()
    seen: list[int] = []
    stopped = SliRunner(tmp_path / "model", tmp_path / "stopped", memory_budget=2**30, top_k=3, device="cpu",
                        batch_size=2)
    try:
        first = stopped.run(tmp_path / "data.jsonl", progress=lambda p: seen.append(p.layer),
                            should_stop=lambda: 3 in seen)  # stop inside the decoder's first layer
    finally:
        stopped.close()
    state = json.loads((tmp_path / "stopped" / ".sli_state.json").read_text())
    assert first.status == "stopped" and state["stack"] == 1 and state["next_layer"] == 3
    assert not list((tmp_path / "stopped").glob("activations-0-*.bin"))  # the encoder's working caches are gone
    resumed = SliRunner(tmp_path / "model", tmp_path / "stopped", memory_budget=2**30, top_k=3, device="cpu",
                        batch_size=2)
    try:
        assert resumed.run(tmp_path / "data.jsonl", resume=True).status == "finished"
    finally:
        resumed.close()
    a, b = (load_file(str(tmp_path / d / "outputs.safetensors")) for d in ("straight", "stopped"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_chat_records_give_an_encoder_decoder_its_target_and_cannot_teach_a_causal_student(tmp_path: Path) -> None:
    """Text through the model's tokenizer: the last assistant message is what the decoder reads (shifted right);
    the pass runs from the CLI; its outputs are refused as a causal student's teacher cache, with the reason."""
    from safetensors.torch import load_file

    from nexus_core.cli import main
    from nexus_core.distill.sli_cache import SliCacheError, sample_rows
    from tests.support.tiny_models import build_tokenizer

    tokenizer = build_tokenizer(chat_template=False)
    config = transformers.T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                   decoder_start_token_id=0, pad_token_id=0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    chat = {"messages": [{"role": "user", "content": "the quick brown fox"}, {"role": "assistant", "content": "jumps"}]}
    (tmp_path / "chat.jsonl").write_text(json.dumps(chat) + "\n" + json.dumps({"text": "over the lazy dog"}) + "\n")
    assert main(["sli", "run", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "chat.jsonl"), "--out",
                 str(tmp_path / "out"), "--memory-budget", "1GB", "--top-k", "2", "--device", "cpu", "--json"]) == 0
    out = load_file(str(tmp_path / "out" / "outputs.safetensors"))
    answer = tokenizer("jumps")["input_ids"]
    assert out["decoder_input_ids"][0, : int(out["decoder_lengths"][0])].tolist() == [0, *answer[:-1]]
    assert out["input_ids"][0, : int(out["lengths"][0])].tolist() == tokenizer("user: the quick brown fox")["input_ids"]
    assert int(out["decoder_lengths"][1]) == 1  # a text record: the decoder reads only its start token
    with pytest.raises(SliCacheError, match="encoder-decoder"):
        sample_rows(tmp_path / "out", 64)
