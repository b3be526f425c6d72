"""Model-load memory benchmark: peak host RAM of our streamed load vs plain ``from_pretrained``, as ratios.

A Llama built from a config (about 435M parameters, 1.7 GB of float32 safetensors; sized by --hidden/--layers)
is saved once; every load then runs in a fresh Python process, and its peak resident memory (VmHWM) above
the process's own size after importing torch and transformers is the figure. Scenarios:

* ``bf16``: float32 file loaded as bfloat16 on the CPU (the dtype converts on the way in).
* ``fp32``: same dtype on the CPU (both sides map the file; little should be copied).
* ``cuda``: only when a GPU is present: weights moved to the GPU; the plain path is
  ``from_pretrained(...).to("cuda")`` (what you get without accelerate).

Target (issue 7): ratio <= 0.6 for a model larger than 1 GB. Run:

    .venv/bin/python benchmarks/model_load_memory.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.6

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import torch, transformers
from nexus_core.models.loader import load_model

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
base = hwm()
folder, method, device, dtype = sys.argv[1:5]
started = time.perf_counter()
if method == "plain":
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    model = model.to(device)
else:
    model = load_model(folder, device=device, dtype=dtype).model
if device.startswith("cuda"):
    torch.cuda.synchronize()
seconds = time.perf_counter() - started
weights = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({{"peak_above_base": hwm() - base, "seconds": seconds, "weights": weights}}))
"""


def build(folder: Path, hidden: int, layers: int) -> int:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=hidden, intermediate_size=int(hidden * 2.6875),
                                      num_hidden_layers=layers, num_attention_heads=hidden // 128,
                                      num_key_value_heads=hidden // 128, vocab_size=32000, tie_word_embeddings=False)
    with torch.device("meta"):
        skeleton = transformers.LlamaForCausalLM(config)
    n = sum(p.numel() for p in skeleton.parameters())
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return n


def measure(folder: Path, method: str, device: str, dtype: str) -> dict[str, float]:
    script = _CHILD.format(root=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script, str(folder), method, device, dtype], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--keep", type=Path, default=None, help="build (or reuse) the model here instead of a temp dir")
    parser.add_argument("--repeats", type=int, default=2, help="runs per method; the lowest peak counts")
    args = parser.parse_args()
    import torch

    scenarios = [("bf16", "cpu", "bfloat16"), ("fp32", "cpu", "float32")]
    if torch.cuda.is_available():
        scenarios.append(("cuda", "cuda", "bfloat16"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "llama"
        if not (folder / "model.safetensors").is_file():
            print(f"building the model in {folder} ...", flush=True)
            build(folder, args.hidden, args.layers)
        size = (folder / "model.safetensors").stat().st_size
        print(f"model: {size / 2**30:.2f} GiB of float32 safetensors in {folder}")
        print(f"{'scenario':<9} {'plain peak':>11} {'ours peak':>10} {'ratio':>6} {'plain s':>8} {'ours s':>7}  target")
        worst = 0.0
        for name, device, dtype in scenarios:
            plain = min((measure(folder, "plain", device, dtype) for _ in range(args.repeats)),
                        key=lambda r: r["peak_above_base"])
            ours = min((measure(folder, "ours", device, dtype) for _ in range(args.repeats)),
                       key=lambda r: r["peak_above_base"])
            ratio = ours["peak_above_base"] / max(plain["peak_above_base"], 1)
            if name != "fp32":
                worst = max(worst, ratio)
            print(f"{name:<9} {plain['peak_above_base'] / 2**20:>9.0f}MB {ours['peak_above_base'] / 2**20:>8.0f}MB "
                  f"{ratio:>6.2f} {plain['seconds']:>8.2f} {ours['seconds']:>7.2f}  "
                  + ("<= 0.6" if name != "fp32" else "(both map the file: no target)"))
        print(f"worst converting/moving ratio: {worst:.2f} (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
