"""Does distillation help? The fraction of the scratch→teacher gap a distilled student closes.

1. A teacher (Llama, 256 wide, 4 layers) is trained for a few minutes on the Python standard library's source
   (a BPE tokenizer trained on the same files).
2. A half-width, half-depth student is trained for a fixed step budget twice, through the same trainer, from
   the same initial weights, on the same blocks in the same order: once distilled from the teacher (forward KL
   plus a little cross-entropy), once from scratch (cross-entropy on the text only).
3. Held-out perplexity on stdlib files none of them saw; the figure is
   (scratch NLL − distilled NLL) / (scratch NLL − teacher NLL), in nats per token.

    .venv/bin/python benchmarks/distill_quality.py [--teacher-seconds 300] [--steps 400]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.distill_common import build_llama, build_tokenizer, read, split_files, stdlib_files

BLOCK = 128
BATCH = 8


def blocks_of(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    return [stream[i:i + BLOCK] for i in range(0, len(stream) - BLOCK + 1, BLOCK)]


def train_teacher(folder: Path, blocks: list[list[int]], seconds: float) -> dict[str, float]:
    """Plain next-token training for a wall-clock budget (linear decay over an estimate of the steps)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    started, step, tokens = time.perf_counter(), 0, 0
    order = torch.randperm(len(blocks), generator=generator).tolist()
    probe_steps, estimate = 5, None
    while True:
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
        if step == probe_steps:
            estimate = int(seconds / (elapsed / probe_steps))
        scale = 1.0 if estimate is None else max(0.05, 1 - step / max(estimate, 1))
        for group in optimizer.param_groups:
            group["lr"] = 2e-3 * min(1.0, (step + 1) / 20) * scale
        rows = [order[(step * BATCH + i) % len(order)] for i in range(BATCH)]
        ids = torch.tensor([blocks[r] for r in rows])
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        tokens += ids.numel()
    model.save_pretrained(folder)
    return {"steps": step, "tokens": tokens, "seconds": time.perf_counter() - started}


def held_out_nll(folder: Path, blocks: list[list[int]]) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(blocks), 16):
            ids = torch.tensor(blocks[start:start + 16])
            loss = model(input_ids=ids, labels=ids).loss
            total += float(loss) * ids[:, 1:].numel()
            count += ids[:, 1:].numel()
    return total / count


def distil(work: Path, name: str, steps: int, **loss: Any) -> Path:
    from nexus_core.distill.state import DistillConfig
    from nexus_core.distill.trainer import DistillRun

    config = DistillConfig(teachers={"": str(work / "teacher")}, student="half", data=str(work / "train.jsonl"),
                           sample_size=None, max_steps=steps, batch_size=BATCH, max_length=BLOCK, lr=2e-3,
                           warmup_steps=20, checkpoint_every=10**6, held_out=0.01, seed=0, device="cpu",
                           dtype="float32", **loss)
    run = DistillRun.create(work / name, config)
    started = time.perf_counter()
    run.run()
    print(f"  {name}: {steps} steps in {time.perf_counter() - started:.0f} s", flush=True)
    return work / name / "student"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-seconds", type=float, default=300)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--files", type=int, default=300, help="training files from the standard library")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_files, held_files = split_files(stdlib_files())
        train_texts = [read(f) for f in train_files[:args.files]]
        tokenizer = build_tokenizer(work / "tokenizer", train_texts)
        train_blocks = blocks_of(tokenizer, train_texts)
        held_blocks = blocks_of(tokenizer, [read(f) for f in held_files[:20]])
        print(f"corpus: {len(train_texts)} training files ({len(train_blocks) * BLOCK:,} tokens), "
              f"{len(held_blocks) * BLOCK:,} held-out tokens from other files", flush=True)
        build_llama(work / "teacher", tokenizer, hidden=256, layers=4, heads=4, seed=1)
        report = train_teacher(work / "teacher", train_blocks, args.teacher_seconds)
        print(f"teacher: {report['steps']} steps, {report['tokens']:,} tokens in {report['seconds']:.0f} s", flush=True)
        (work / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in train_texts))
        distilled = distil(work, "distilled", args.steps, divergence="kl", temperature=1.0, logit_weight=1.0,
                           ce_weight=0.5)
        scratch = distil(work, "scratch", args.steps, logit_weight=0.0, ce_weight=1.0)
        nll = {"teacher": held_out_nll(work / "teacher", held_blocks),
               "distilled": held_out_nll(distilled, held_blocks), "scratch": held_out_nll(scratch, held_blocks)}
        print(f"\nheld-out perplexity ({len(held_blocks) * BLOCK:,} tokens), student = half width and depth, "
              f"{args.steps} steps × {BATCH} × {BLOCK} tokens:")
        for name in ("teacher", "scratch", "distilled"):
            print(f"  {name:9s}  perplexity {math.exp(nll[name]):8.2f}   NLL {nll[name]:.4f} nats/token")
        gap = nll["scratch"] - nll["teacher"]
        if gap <= 0:
            print("  the teacher is no better than the scratch student: train it longer (--teacher-seconds)")
            return
        print(f"  fraction of the scratch→teacher gap closed by distillation: "
              f"{(nll['scratch'] - nll['distilled']) / gap:.2f}")


if __name__ == "__main__":
    main()
