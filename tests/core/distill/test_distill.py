"""Distillation on tiny real models: losses, data, sticky state, exact resume, routing by domain, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nexus_core.cli import main
from nexus_core.distill.data import DataError, load_samples, split_and_order
from nexus_core.distill.losses import LossConfig, layer_map, logit_divergence
from nexus_core.distill.state import DistillConfig, RunStateError, load_state
from nexus_core.distill.trainer import DistillError, DistillRun
from tests.support.tiny_models import build_tiny_llama

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("distill") / "teacher")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "nested").mkdir(parents=True)
    with (folder / "text.jsonl").open("w") as handle:
        for i in range(30):
            handle.write(json.dumps({"text": f"the quick brown fox {i} jumps over the lazy dog " * 2,
                                     "domain": "coder" if i % 3 == 0 else ""}) + "\n")
        handle.write("{not json\n")
        handle.write(json.dumps({"nothing": "here"}) + "\n")
    (folder / "nested" / "chat.jsonl").write_text(json.dumps(
        {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi there"}]}) + "\n")
    (folder / "notes.txt").write_text("first paragraph of notes\n\nsecond paragraph of notes\n")
    return folder


def config(teacher: Path, data: Path, **changes: object) -> DistillConfig:
    values = {"teachers": {"": str(teacher)}, "student": "half", "data": str(data), "sample_size": None,
              "max_steps": 6, "batch_size": 2, "max_length": 24, "checkpoint_every": 2, "hidden_weight": 0.5,
              "ce_weight": 0.1, "warmup_steps": 2, "seed": 3}
    values.update(changes)
    return DistillConfig(**values)  # type: ignore[arg-type]


def test_divergences_are_zero_for_identical_logits_and_ordered_as_expected() -> None:
    logits = torch.randn(2, 5, 11)
    mask = torch.ones(2, 5)
    for kind in ("kl", "rkl", "jsd"):
        assert float(logit_divergence(logits, logits, mask, LossConfig(divergence=kind))) == pytest.approx(0, abs=1e-6)
    other = torch.randn(2, 5, 11)
    kl = float(logit_divergence(other, logits, mask, LossConfig("kl", temperature=1.0)))
    p, q = torch.softmax(logits, -1), torch.softmax(other, -1)
    assert kl == pytest.approx(float((p * (p.log() - q.log())).sum(-1).mean()), rel=1e-4)
    jsd = float(logit_divergence(other, logits, mask, LossConfig("jsd", temperature=1.0)))
    assert 0 < jsd <= math.log(2) + 1e-6  # JSD is bounded by log 2
    masked = torch.zeros(2, 5)
    masked[0, 0] = 1
    assert float(logit_divergence(other, logits, masked, LossConfig("kl", temperature=1.0))) == pytest.approx(
        float((p[0, 0] * (p[0, 0].log() - q[0, 0].log())).sum()), rel=1e-4)


def test_layer_map_matches_the_ends() -> None:
    assert layer_map(2, 4) == [0, 3]
    assert layer_map(4, 8) == [0, 2, 5, 7]
    assert layer_map(1, 6) == [5]


def test_data_formats_broken_lines_and_split(data: Path) -> None:
    samples, report = load_samples(data)
    assert report.samples == len(samples) == 30 + 1 + 2 and report.skipped == 2
    assert report.bad_lines[0].startswith("text.jsonl:31: not JSON") and "text.jsonl:32" in report.bad_lines[1]
    assert any(s.messages for s in samples) and sum(s.domain == "coder" for s in samples) == 10
    train, held = split_and_order(33, seed=1, sample_size=20, held_out=0.1)
    assert len(train) == 18 and len(held) == 2 and not set(train) & set(held)
    assert split_and_order(33, seed=1, sample_size=20) == split_and_order(33, seed=1, sample_size=20)
    with pytest.raises(DataError, match="does not exist"):
        load_samples(data.parent / "nowhere")
    empty = data.parent / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="No data files"):
        load_samples(empty)


def test_a_run_trains_checkpoints_exports_and_evaluates(teacher: Path, data: Path, tmp_path: Path) -> None:
    run = DistillRun.create(tmp_path / "run", config(teacher, data))
    seen = []
    state = run.run(progress=lambda r: seen.append(r))
    assert state.status == "finished" and state.step == 6 and [r.step for r in seen] == [1, 2, 3, 4, 5, 6]
    assert {"logit_kl", "hidden_mse", "ce", "total"} <= set(seen[0].parts) and seen[0].tokens > 0
    assert run.fast_student and run.fast_teachers == {"": True}  # Llama's head runs at kept positions only
    assert (tmp_path / "run" / "student" / "config.json").is_file()
    assert len(list((tmp_path / "run" / "checkpoints").iterdir())) == 2  # older ones pruned
    student = json.loads((tmp_path / "run" / "student" / "config.json").read_text())
    assert student["hidden_size"] == 16 and student["num_hidden_layers"] == 1  # half the teacher
    results = run.evaluate()
    assert results["student_perplexity"] > 1 and 0 <= results["top1_agreement"] <= 1
    assert load_state(tmp_path / "run").results["held_out_tokens"] > 0


def test_a_stopped_run_resumes_to_the_same_weights_as_an_unstopped_one(teacher: Path, data: Path,
                                                                        tmp_path: Path) -> None:
    straight = DistillRun.create(tmp_path / "straight", config(teacher, data, checkpoint_every=100))
    straight.run()
    stopped = DistillRun.create(tmp_path / "stopped", config(teacher, data, checkpoint_every=100))
    steps: list[int] = []
    state = stopped.run(progress=lambda r: steps.append(r.step), should_stop=lambda: len(steps) >= 3)
    assert state.status == "stopped" and state.step == 3
    resumed = DistillRun.resume(tmp_path / "stopped")
    assert resumed.run().status == "finished"
    a, b = straight.student.state_dict(), resumed.student.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["total"] for h in load_state(tmp_path / "straight").history] == \
        [h["total"] for h in load_state(tmp_path / "stopped").history]


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(teacher: Path, data: Path,
                                                                     tmp_path: Path) -> None:
    run = DistillRun.create(tmp_path / "run", config(teacher, data, max_steps=4, checkpoint_every=2))
    steps: list[int] = []
    run.run(progress=lambda r: steps.append(r.step), should_stop=lambda: len(steps) >= 4)
    newest = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1]
    (newest / "training.pt").write_bytes(b"garbage")
    resumed = DistillRun.resume(tmp_path / "run", max_steps=6)
    resumed.prepare()
    assert resumed.state.step == 2  # rewound to the readable checkpoint


def test_teachers_are_routed_by_domain(teacher: Path, data: Path, tmp_path: Path) -> None:
    other = build_tiny_llama(tmp_path / "coder-teacher")
    run = DistillRun.create(tmp_path / "run", config(teacher, data, teachers={"": str(teacher), "coder": str(other)},
                                                     max_steps=3, pack=False))
    assert run.run().status == "finished" and set(run.teachers) == {"", "coder"}


def test_bad_inputs_say_what_is_wrong(teacher: Path, data: Path, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="Teacher"):
        DistillRun.create(tmp_path / "a", config(tmp_path / "nowhere", data)).run()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DistillError, match="cannot be written"):
        DistillRun.create(tmp_path / "file" / "run", config(teacher, data))
    run_dir = tmp_path / "b"
    DistillRun.create(run_dir, config(teacher, data))
    state = json.loads((run_dir / ".pipeline_state.json").read_text())
    state["config"]["batch_size"] = "lots"
    (run_dir / ".pipeline_state.json").write_text(json.dumps(state))
    with pytest.raises(RunStateError, match="batch_size"):
        DistillRun.resume(run_dir)
    state["version"] = 99
    (run_dir / ".pipeline_state.json").write_text(json.dumps(state))
    with pytest.raises(RunStateError, match="another version"):
        DistillRun.resume(run_dir)
    with pytest.raises(RunStateError, match=r"no \.pipeline_state\.json"):
        DistillRun.resume(tmp_path / "empty-run")


def test_cli_start_resume_and_eval(teacher: Path, data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    code = main(["distill", "--teacher", str(teacher), "--student", "half", "--data", str(data), "--out", str(out),
                 "--preset", "debug", "--max-steps", "2", "--batch-size", "2", "--max-length", "24", "--json"])
    assert code == 0
    first = json.loads(capsys.readouterr().out)
    assert first["status"] == "finished" and first["step"] == 2
    code = main(["distill", "--resume", str(out), "--max-steps", "4", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["step"] == 2  # a finished run stays finished
    assert main(["distill", "eval", str(out)]) == 0
    assert "student_perplexity" in json.loads(capsys.readouterr().out)
    assert main(["distill", "--student", "half"]) != 0
    assert "needs --teacher, --data, --out" in capsys.readouterr().err


def test_a_packed_run_with_more_blocks_than_samples_reloads(teacher: Path, tmp_path: Path) -> None:
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps({"text": "word " * 200}) + "\n" for _ in range(4)))
    run = DistillRun.create(tmp_path / "run", config(teacher, data, max_steps=None, max_length=16, batch_size=1,
                                                     hidden_weight=0.0, ce_weight=0.0))
    steps: list[int] = []
    run.run(progress=lambda r: steps.append(r.step), should_stop=lambda: len(steps) >= 8)
    state = load_state(tmp_path / "run")  # position (in blocks) is past the number of samples: still valid
    assert state.position == 8 > len(state.order)


def test_csv_rows_are_read_and_bad_rows_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("prompt,completion,domain\nwhat is 2+2,4,math\n,,\nname a colour,blue,\n")
    samples, report = load_samples(path)
    assert [s.messages[1][1] for s in samples] == ["4", "blue"] and samples[0].domain == "math"
    assert report.skipped == 1 and report.bad_lines == ["table.csv:3: no text or prompt/completion column"]
