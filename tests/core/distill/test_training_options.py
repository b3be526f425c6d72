"""Distillation options on tiny real models: the offline top-k teacher cache, LoRA students, gradient
checkpointing, the attention implementation, saved `datasets` folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_core.distill.data import load_samples
from nexus_core.distill.losses import LossConfig, logit_divergence, topk_divergence
from nexus_core.distill.state import DistillConfig, load_state
from nexus_core.distill.trainer import DistillError, DistillRun
from tests.support.tiny_models import build_tiny_llama

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("options") / "teacher")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("options-data") / "text.jsonl"
    path.write_text("".join(json.dumps({"text": f"the quick brown fox {i} jumps over the lazy dog " * 2,
                                        "domain": "coder" if i % 3 == 0 else ""}) + "\n" for i in range(30)))
    return path


def config(teacher: Path, data: Path, **changes: object) -> DistillConfig:
    values = {"teachers": {"": str(teacher)}, "student": "half", "data": str(data), "sample_size": None,
              "max_steps": 5, "batch_size": 2, "max_length": 24, "checkpoint_every": 100, "warmup_steps": 1,
              "seed": 5, "lr": 5e-3}
    values.update(changes)
    return DistillConfig(**values)  # type: ignore[arg-type]


def weights(run: DistillRun) -> dict[str, object]:
    return {k: v.detach().clone() for k, v in run.student.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- the top-k divergence --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["kl", "rkl", "jsd"])
def test_topk_divergence_equals_the_full_one_when_k_covers_the_vocabulary(kind: str) -> None:
    torch.manual_seed(0)
    student, teacher_logits = torch.randn(2, 6, 40), torch.randn(2, 6, 40) * 3
    mask = torch.ones(2, 6)
    loss = LossConfig(kind, temperature=2.0)
    full = float(logit_divergence(student, teacher_logits, mask, loss))
    logprobs, ids = torch.log_softmax(teacher_logits / 2.0, -1).topk(40, -1)
    assert float(topk_divergence(student, logprobs, ids, mask, loss)) == pytest.approx(full, rel=1e-4)
    small = float(topk_divergence(student, *torch.log_softmax(teacher_logits / 2.0, -1).topk(5, -1), mask, loss))
    assert 0 < small <= full + 1e-6  # merging the tail never adds divergence


# ---- the offline teacher cache ---------------------------------------------------------------------------


def test_a_cached_run_frees_the_teachers_and_resumes_exactly(teacher: Path, data: Path, tmp_path: Path) -> None:
    settings = {"teacher_cache_top_k": 8, "ce_weight": 0.1}
    straight = DistillRun.create(tmp_path / "straight", config(teacher, data, **settings))
    phases: list[str] = []
    assert straight.run(phase=lambda text, _f: phases.append(text)).status == "finished"
    assert phases and phases[-1].startswith("Caching teacher outputs") and straight.teachers == {}
    cache = tmp_path / "straight" / "teacher_cache"
    shape = json.loads((cache / "cache.json").read_text())
    assert shape["top_k"] == 8 and shape["blocks"] == len(straight.train_blocks)
    history = load_state(tmp_path / "straight").history
    assert {"logit_kl", "ce", "total"} <= set(history[0]) and history[-1]["logit_kl"] < history[0]["logit_kl"]

    stopped = DistillRun.create(tmp_path / "stopped", config(teacher, data, **settings))
    steps: list[int] = []
    stopped.run(progress=lambda r: steps.append(r.step), should_stop=lambda: len(steps) >= 2)
    built = (tmp_path / "stopped" / "teacher_cache" / "cache.json").stat().st_mtime_ns
    resumed = DistillRun.resume(tmp_path / "stopped")
    rebuilt: list[str] = []
    assert resumed.run(phase=lambda text, _f: rebuilt.append(text)).status == "finished"
    assert rebuilt == [] and resumed.teachers == {}  # the cache was reused: no teacher was loaded
    assert (tmp_path / "stopped" / "teacher_cache" / "cache.json").stat().st_mtime_ns == built
    assert same_weights(weights(straight), weights(resumed))
    results = resumed.evaluate()  # evaluation loads the real teachers again
    assert results["teacher_perplexity"] > 1 and set(resumed.teachers) == {""}


def test_a_stale_cache_is_rebuilt(teacher: Path, data: Path, tmp_path: Path) -> None:
    run = DistillRun.create(tmp_path / "run", config(teacher, data, teacher_cache_top_k=4, max_steps=1))
    run.run()
    manifest = tmp_path / "run" / "teacher_cache" / "cache.json"
    manifest.write_text(manifest.read_text().replace('"key": "', '"key": "stale'))
    again = DistillRun.resume(tmp_path / "run", max_steps=2)
    again.state.status = "stopped"
    phases: list[str] = []
    again.run(phase=lambda text, _f: phases.append(text))
    assert phases and '"key": "stale' not in manifest.read_text()


def test_settings_that_cannot_work_together_are_refused(teacher: Path, data: Path, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="hidden states"):
        DistillRun.create(tmp_path / "a", config(teacher, data, teacher_cache_top_k=8, hidden_weight=0.5))
    with pytest.raises(DistillError, match="LoRA adapts a trained student"):
        DistillRun.create(tmp_path / "b", config(teacher, data, lora_rank=4))
    with pytest.raises(DistillError, match="attention must be one of"):
        DistillRun.create(tmp_path / "c", config(teacher, data, attention="flash"))
    assert not (tmp_path / "a").exists()


# ---- LoRA students ---------------------------------------------------------------------------------------


def test_a_lora_student_trains_only_its_adapters_and_exports_merged(teacher: Path, data: Path,
                                                                    tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    student = build_tiny_llama(tmp_path / "student", seed=7)
    base = load_file(str(student / "model.safetensors"))
    settings = {"student": str(student), "lora_rank": 4, "checkpoint_every": 2}
    run = DistillRun.create(tmp_path / "run", config(teacher, data, **settings))
    assert run.run().status == "finished"
    trainable = [name for name, p in run.student.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    saved = torch.load(sorted((tmp_path / "run" / "checkpoints").iterdir())[-1] / "training.pt", weights_only=True)
    assert set(saved["student"]) == set(trainable)  # checkpoints hold the adapters, not the frozen base
    assert (tmp_path / "run" / "student-adapter" / "adapter_config.json").is_file()
    merged = load_file(str(tmp_path / "run" / "student" / "model.safetensors"))
    assert merged.keys() == base.keys()  # a plain model folder, loadable without peft
    changed = [k for k in base if not torch.equal(base[k], merged[k])]
    assert changed and all(k.endswith("proj.weight") for k in changed)  # only adapted matrices moved

    stopped = DistillRun.create(tmp_path / "stopped", config(teacher, data, **settings))
    steps: list[int] = []
    stopped.run(progress=lambda r: steps.append(r.step), should_stop=lambda: len(steps) >= 3)
    resumed = DistillRun.resume(tmp_path / "stopped")
    resumed.run()
    assert same_weights(weights(run), weights(resumed))


# ---- memory and attention switches -----------------------------------------------------------------------


def test_gradient_checkpointing_and_eager_attention_train_the_same_student(teacher: Path, data: Path,
                                                                           tmp_path: Path) -> None:
    plain = DistillRun.create(tmp_path / "plain", config(teacher, data, hidden_weight=0.5))
    plain.run()
    checkpointed = DistillRun.create(tmp_path / "checkpointed", config(teacher, data, hidden_weight=0.5,
                                                                       gradient_checkpointing=True))
    checkpointed.run()
    on = [getattr(run.student, "is_activation_checkpointing", None) for run in (checkpointed, plain)]
    if on[0] is None:  # transformers 4 name
        on = [run.student.is_gradient_checkpointing for run in (checkpointed, plain)]
    assert on == [True, False]
    eager = DistillRun.create(tmp_path / "eager", config(teacher, data, hidden_weight=0.5, attention="eager"))
    eager.run()
    assert eager.student.config._attn_implementation == "eager"
    assert plain.student.config._attn_implementation == "sdpa"
    reference = weights(plain)
    for other in (checkpointed, eager):
        moved = weights(other)
        assert all(torch.allclose(reference[k], moved[k], atol=1e-5) for k in reference)
    exported = json.loads((tmp_path / "checkpointed" / "student" / "config.json").read_text())
    assert exported.get("use_cache", True) is True  # the exported model generates with its cache


# ---- saved datasets --------------------------------------------------------------------------------------


def test_a_saved_datasets_folder_is_read_inside_a_data_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "data"
    rows = [{"text": "first saved sample", "prompt": None, "completion": None},
            {"text": "", "prompt": None, "completion": None},
            {"text": None, "prompt": "what is 2+2", "completion": "4"}]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows),
                          "test": datasets.Dataset.from_list([{"text": "held back"}] * 2)}
                         ).save_to_disk(str(folder / "saved"))
    (folder / "extra.jsonl").write_text(json.dumps({"text": "a jsonl sample"}) + "\n")
    samples, report = load_samples(folder)
    assert [s.text for s in samples if s.text] == ["a jsonl sample", "first saved sample"]
    assert any(s.messages == (("user", "what is 2+2"), ("assistant", "4")) for s in samples)
    assert report.skipped == 1 and report.bad_lines == ["saved:2: no text or prompt/completion column"]
    assert len(report.files) == 2  # the jsonl file and the dataset folder (not its arrow files)


def test_a_compiled_student_trains_like_the_plain_one(teacher: Path, data: Path, tmp_path: Path) -> None:
    """torch.compile is off by default (compiling takes longer than a short run); when asked for, the compiled
    forward pass trains the same weights within float tolerance."""
    plain = DistillRun.create(tmp_path / "plain", config(teacher, data, max_steps=2))
    plain.run()
    assert plain.student_forward is plain.student
    compiled = DistillRun.create(tmp_path / "compiled", config(teacher, data, max_steps=2, compile=True))
    compiled.run()
    assert compiled.student_forward is not compiled.student and hasattr(compiled.student_forward, "_orig_mod")
    reference, moved = weights(plain), weights(compiled)
    assert all(torch.allclose(reference[k], moved[k], atol=1e-4) for k in reference)


# ---- the output head at kept positions only --------------------------------------------------------------


def test_the_output_head_runs_only_where_the_loss_looks_and_falls_back_when_logits_are_rescaled(
        teacher: Path) -> None:
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    from nexus_core.distill.outputs import head_at_positions_matches, kept_positions, outputs_at

    model = AutoModelForCausalLM.from_pretrained(teacher)
    batch = {"input_ids": torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]]),
             "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])}
    keep = kept_positions(batch)
    assert keep.tolist() == [[True, True, True, True], [True, True, False, False]]
    fast = outputs_at(model, batch, keep, hidden=True, fast=True)
    full = model(**batch, output_hidden_states=True)
    assert fast.logits.shape == (6, model.config.vocab_size)  # 6 predicting positions, not 2 × 5
    assert torch.allclose(fast.logits, full.logits[:, :-1][keep], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(fast.hidden_states, full.hidden_states, strict=True))
    assert head_at_positions_matches(model, batch)

    class Rescaled(LlamaForCausalLM):  # a model that changes its logits after the head (like logit soft-capping)
        def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 0.5
            return out

    rescaled = Rescaled.from_pretrained(teacher)
    assert not head_at_positions_matches(rescaled, batch)
    slow = outputs_at(rescaled, batch, keep, hidden=False, fast=False)
    assert torch.allclose(slow.logits, full.logits[:, :-1][keep] * 0.5, atol=1e-5)
