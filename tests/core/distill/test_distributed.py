"""Two processes under torchrun (gloo, CPU) train the same student as one process with twice the batch."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.tiny_models import build_tiny_llama

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def distill(*args: str, launcher: list[str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [*(launcher or [sys.executable]), "-m", "nexus_core.cli", "distill", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=cwd)


def test_two_gloo_processes_match_one_process_with_the_whole_batch(tmp_path: Path) -> None:
    """The same run under torchrun and under `accelerate launch` (two CPU processes each)."""
    from safetensors.torch import load_file

    teacher = build_tiny_llama(tmp_path / "teacher")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": f"the quick brown fox {i} jumps over the lazy dog " * 6}) + "\n"
                            for i in range(80)))
    common = ["--teacher", str(teacher), "--student", "half", "--data", str(data), "--max-steps", "4",
              "--max-length", "24", "--sample-size", "80", "--hidden-weight", "0.5", "--json"]
    repo = Path(__file__).resolve().parents[3]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(free_port())]
    two = distill(*common, "--out", str(tmp_path / "two"), "--batch-size", "2", launcher=torchrun, cwd=repo)
    assert two.returncode == 0, two.stderr[-2000:]
    assert json.loads(two.stdout[two.stdout.index("{"):])["status"] == "finished"  # one report, from rank 0
    one = distill(*common, "--out", str(tmp_path / "one"), "--batch-size", "4", cwd=repo)
    assert one.returncode == 0, one.stderr[-2000:]
    runs = ["two", "one"]
    if importlib.util.find_spec("accelerate") is not None:
        accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                      "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                      "--main_process_port", str(free_port()), "-m", "nexus_core.cli"]  # multi_gpu falls back to gloo
        launched = subprocess.run([*accelerate, "distill", *common, "--out", str(tmp_path / "accelerate"),
                                   "--batch-size", "2"], capture_output=True, text=True, timeout=240, cwd=repo)
        assert launched.returncode == 0, launched.stderr[-2000:]
        runs.append("accelerate")
    students = [load_file(str(tmp_path / name / "student" / "model.safetensors")) for name in runs]
    b = students[1]
    for a in students[:1] + students[2:]:
        assert a.keys() == b.keys()
        assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
