"""Layer-streaming passes: stop and resume at a layer, bad input with clear messages, the CLI, a full disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nexus_core.cli import main  # noqa: E402
from nexus_core.models.devices import ModelLoadError  # noqa: E402
from nexus_core.sli.families import UnsupportedFamily  # noqa: E402
from nexus_core.sli.runner import SliError, SliRunner, parse_size  # noqa: E402
from tests.support.tiny_models import build_tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("sli") / "model")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "text.jsonl"
    path.write_text("".join(json.dumps({"text": f"the quick brown fox {i} jumps " * (1 + i % 3)}) + "\n"
                            for i in range(9)))
    return path


def outputs(folder: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    return load_file(str(folder / "outputs.safetensors"))


def test_a_pass_stopped_in_a_layer_resumes_there_and_ends_identical(model: Path, data: Path, tmp_path: Path) -> None:
    straight = SliRunner(model, tmp_path / "straight", memory_budget=2**30, top_k=3, batch_size=2)
    try:
        straight.run(data)
    finally:
        straight.close()
    seen: list[tuple[str, int]] = []
    stopped = SliRunner(model, tmp_path / "stopped", memory_budget=2**30, top_k=3, batch_size=2)
    try:
        first = stopped.run(data, progress=lambda p: seen.append((p.stage, p.layer)),
                            should_stop=lambda: ("layer", 1) in seen)
    finally:
        stopped.close()
    assert first.status == "stopped" and not (tmp_path / "stopped" / "outputs.safetensors").exists()
    state = json.loads((tmp_path / "stopped" / ".sli_state.json").read_text())
    assert state["next_layer"] == 1  # layer 0 finished, layer 1 was interrupted
    with pytest.raises(SliError, match="already holds a pass"):
        SliRunner(model, tmp_path / "stopped", memory_budget=2**30, top_k=3).run(data)
    resumed = SliRunner(model, tmp_path / "stopped", memory_budget=2**30, top_k=3, batch_size=2)
    try:
        second = resumed.run(data, resume=True)
    finally:
        resumed.close()
    assert second.status == "finished"
    assert second.bytes_read < straight.store.bytes_read  # layer 0 was not read again
    a, b = outputs(tmp_path / "straight"), outputs(tmp_path / "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "stopped").glob("*.bin"))  # the working caches are gone
    with pytest.raises(SliError, match="already finished"):
        SliRunner(model, tmp_path / "stopped", memory_budget=2**30, top_k=3).run(data, resume=True)
    with pytest.raises(SliError, match="another model or settings"):
        SliRunner(model, tmp_path / "straight", memory_budget=2**30, top_k=5).run(data, resume=True)


def test_bad_input_says_what_is_wrong(model: Path, data: Path, tmp_path: Path) -> None:
    with pytest.raises(SliError, match=r"smaller than this model needs") as caught:
        SliRunner(model, tmp_path / "a", memory_budget=10_000).plan()
    assert "--memory-budget" in caught.value.hint
    import transformers

    bert = tmp_path / "bert"
    transformers.BertLMHeadModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                         intermediate_size=64, vocab_size=50, is_decoder=True)
                                 ).save_pretrained(bert)
    with pytest.raises(UnsupportedFamily, match="bert") as unsupported:
        SliRunner(bert, tmp_path / "b")
    assert "llama" in unsupported.value.hint and "mamba" in unsupported.value.hint
    sharded = tmp_path / "sharded"
    transformers.AutoModelForCausalLM.from_pretrained(model).save_pretrained(sharded, max_shard_size="100KB")
    shards = sorted(sharded.glob("model-*.safetensors"))
    assert len(shards) > 1
    index_path = sharded / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    moved = next(k for k, v in index["weight_map"].items() if v == shards[0].name)
    index["weight_map"][moved] = shards[-1].name  # an index from another download
    index_path.write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=f"places tensor {moved} in {shards[-1].name}, but it is in "
                                             f"{shards[0].name}") as disagree:
        SliRunner(sharded, tmp_path / "c")
    assert "download the model folder again" in disagree.value.hint
    shards[-1].unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        SliRunner(sharded, tmp_path / "c")
    bad = tmp_path / "ids.jsonl"
    bad.write_text(json.dumps({"input_ids": [1, 2]}) + "\n" + json.dumps({"input_ids": "nope"}) + "\n")
    with pytest.raises(SliError, match=r"ids\.jsonl line 2"):
        SliRunner(model, tmp_path / "d", memory_budget=2**30).run(bad)
    far = tmp_path / "far.jsonl"
    far.write_text(json.dumps({"input_ids": [1, 10**6]}) + "\n")
    with pytest.raises(SliError, match="outside the model's vocabulary"):
        SliRunner(model, tmp_path / "e", memory_budget=2**30).run(far)
    assert parse_size("8GB") == 8 * 2**30 and parse_size("512 MiB") == 512 * 2**20 and parse_size("1024") == 1024


def test_a_full_disk_stops_cleanly_and_the_pass_resumes(model: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))\n"  # room for the ids, not the caches
        "from nexus_core.cli import main\n"
        f"sys.exit(main(['sli', 'run', '--model', {str(model)!r}, '--data', {str(data)!r}, '--out', {str(out)!r},"
        " '--memory-budget', '1GB']))\n")
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, cwd=repo)
    assert done.returncode != 0 and "do not fit in the output folder" in done.stderr, done.stderr[-1500:]
    assert "--resume" in done.stderr and not (out / "outputs.safetensors").exists()
    assert main(["sli", "run", "--model", str(model), "--data", str(data), "--out", str(out), "--resume",
                 "--memory-budget", "1GB", "--json"]) == 0
    assert (out / "outputs.safetensors").is_file()


def test_cli_plan_and_run(model: Path, data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["sli", "plan", str(model), "--memory-budget", "1GB", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["family"] == "llama" and plan["layers"] == 2 and len(plan["layer_bytes"]) == 2
    assert plan["disk_bytes_per_s"] > 0 and plan["expected_seconds"] > 0 and plan["prefetch"] is True
    assert main(["sli", "plan", str(model), "--memory-budget", "1GB"]) == 0
    text = capsys.readouterr().out
    assert "llama family, 2 layers" in text and "disk read speed" in text
    code = main(["sli", "run", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "o"),
                 "--top-k", "4", "--layers-out", "0", "--memory-budget", "1GB", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["status"] == "finished" and summary["read_ratio"] == 1.0
    assert {"hidden_last", "hidden_0", "topk_values", "topk_indices", "logsumexp"} <= set(outputs(tmp_path / "o"))
    assert main(["sli", "run", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "p"),
                 "--layers-out", "9"]) == 2
    assert "not a layer of this model" in capsys.readouterr().err
