"""A teacher larger than memory teaches: its layer-streaming pass (top-k logits) drives a distillation run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nexus_core.cli import main  # noqa: E402
from nexus_core.distill.state import DistillConfig, load_state  # noqa: E402
from nexus_core.distill.trainer import DistillError, DistillRun  # noqa: E402
from nexus_core.sli.runner import SliRunner  # noqa: E402
from tests.support.tiny_models import build_tiny_llama  # noqa: E402


def test_a_pass_with_the_whole_vocabulary_trains_exactly_like_the_live_teacher(tmp_path: Path) -> None:
    teacher = build_tiny_llama(tmp_path / "teacher")
    data = tmp_path / "text.jsonl"
    data.write_text("".join(json.dumps({"text": f"the quick brown fox {i} jumps over the lazy dog"}) + "\n"
                            for i in range(12)))
    vocab = json.loads((teacher / "config.json").read_text())["vocab_size"]
    runner = SliRunner(teacher, tmp_path / "pass", memory_budget=2**30, top_k=vocab, max_length=24)
    try:
        assert runner.run(data).status == "finished"
    finally:
        runner.close()
    common = {"teachers": {"": str(teacher)}, "student": "half", "sample_size": None, "max_steps": 3, "batch_size": 2,
              "max_length": 24, "pack": False, "temperature": 1.0, "warmup_steps": 1, "seed": 4}
    live = DistillRun.create(tmp_path / "live", DistillConfig(data=str(data), **common))  # type: ignore[arg-type]
    live.run()
    streamed = DistillRun.create(tmp_path / "streamed", DistillConfig(  # type: ignore[arg-type]
        data=str(tmp_path / "pass"), teacher_outputs=str(tmp_path / "pass"), **common))
    streamed.run()
    assert streamed.teachers == {}  # the teacher's weights were never loaded
    a, b = load_state(tmp_path / "live").history, load_state(tmp_path / "streamed").history
    assert [round(h["logit_kl"], 4) for h in a] == [round(h["logit_kl"], 4) for h in b]
    results = streamed.evaluate()
    assert results["student_perplexity"] > 1 and 0 <= results["top1_agreement"] <= 1
    assert "teacher_perplexity" not in results and streamed.teachers == {}


def test_the_cli_takes_a_pass_folder_as_the_teacher_cache(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    teacher = build_tiny_llama(tmp_path / "teacher")
    data = tmp_path / "text.jsonl"
    data.write_text("".join(json.dumps({"text": f"hello world {i} tell me about the weather"}) + "\n"
                            for i in range(8)))
    assert main(["sli", "run", "--model", str(teacher), "--data", str(data), "--out", str(tmp_path / "pass"),
                 "--top-k", "16", "--memory-budget", "1GB", "--json"]) == 0
    capsys.readouterr()
    code = main(["distill", "--teacher", str(teacher), "--student", "half", "--teacher-cache", str(tmp_path / "pass"),
                 "--out", str(tmp_path / "run"), "--max-steps", "2", "--batch-size", "2", "--temperature", "2",
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "finished" and "student_perplexity" in out["results"]
    assert "layer-streaming pass" in load_state(tmp_path / "run").data_summary
    with pytest.raises(DistillError, match="one teacher"):
        DistillRun.create(tmp_path / "bad", DistillConfig(teachers={"": str(teacher)}, student="half",
                                                         data=str(tmp_path / "pass"), hidden_weight=0.5,
                                                         teacher_outputs=str(tmp_path / "pass")))
    assert main(["distill", "--teacher", str(teacher), "--student", "half", "--teacher-cache", str(tmp_path),
                 "--out", str(tmp_path / "run2")]) != 0
    assert "no outputs.safetensors" in capsys.readouterr().err
