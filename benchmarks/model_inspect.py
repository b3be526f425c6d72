"""Model-inspect benchmark: ``inspect_model`` on a 10-shard folder, median of N runs. Target: < 50 ms.

Baseline in the same run: ``json.load`` of the folder's config.json alone, so the ratio says what reading the
index and ten safetensors headers adds on this (shared, noisy) machine. Needs numpy + safetensors, not torch.

    .venv/bin/python benchmarks/model_inspect.py [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_core.models.detect import inspect_model

TARGET_MS = 50.0


def build(folder: Path, shards: int = 10, tensors_per_shard: int = 40) -> int:
    """A tiny Llama-shaped folder: config, index and ``shards`` safetensors files; return its parameter count."""
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                    "torch_dtype": "float16", "hidden_size": 16}))
    weight_map: dict[str, str] = {}
    total = 0
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"model.layers.{s}.w{t}": np.zeros((16, 16), np.float16) for t in range(tensors_per_shard)}
        save_file(tensors, str(folder / name))
        weight_map.update(dict.fromkeys(tensors, name))
        total += sum(a.size for a in tensors.values())
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return total


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        expected = build(folder)
        info = inspect_model(folder)
        assert info.parameters == expected and len(info.shards) == 10, info

        def load_config() -> object:
            with (folder / "config.json").open() as fh:
                return json.load(fh)

        inspect = median_ms(lambda: inspect_model(folder), args.runs)
        baseline = median_ms(load_config, args.runs)
    print(f"inspect_model, 10 shards: median {inspect:.2f} ms over {args.runs} runs (target < {TARGET_MS:.0f} ms)")
    print(f"json.load(config.json):   median {baseline:.3f} ms (baseline); ratio {inspect / baseline:.0f}x")
    return 0 if inspect < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
