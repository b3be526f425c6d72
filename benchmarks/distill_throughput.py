"""Distillation step throughput and memory: Nexus's trainer vs TRL's GKDTrainer, same models, data, machine.

Both distil the same teacher into the same student (Llama configs, BPE tokenizer trained on the standard
library) with forward KL at temperature 1, batch 8, sequences up to 256 tokens, AdamW, on the chat records
made from documented stdlib functions. TRL runs with lmbda=0 (no on-policy generation), so both do exactly
one teacher forward, one student forward/backward and one optimizer step per batch; TRL's own defaults
(bf16 autocast, gradient checkpointing) are turned off so both compute in float32 without recomputation.

Two comparisons, each tool in its own fresh process, alternated over rounds (median reported):
  * own pipelines: Nexus packs samples into full blocks; TRL's ChatML collator pads each batch;
  * same batches: Nexus with packing off, both fed the same samples in the same order (pure step cost).
Figures: real (non-padding) tokens per second over the timed steps, and peak RSS while stepping.

    .venv/bin/python benchmarks/distill_throughput.py [--steps 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.distill_common import (
    build_llama,
    build_tokenizer,
    function_records,
    read,
    split_files,
    stdlib_files,
    write_jsonl,
)

BATCH = 8
MAX_LENGTH = 256
WARMUP = 3


class PeakRss:
    """Samples this process's resident memory every 10 ms between start() and stop()."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self.running = False

    def start(self) -> None:
        self.running = True
        self.peak = self.process.memory_info().rss
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def stop(self) -> int:
        self.running = False
        return max(self.peak, self.process.memory_info().rss)


class Window:
    """Tokens and wall time from the end of the warm-up steps to the end of the last step."""

    def __init__(self, steps: int) -> None:
        self.steps, self.tokens, self.started, self.ended = steps, 0, 0.0, 0.0
        self.memory = PeakRss()

    def step_done(self, step: int, tokens: int) -> None:
        if step == WARMUP:
            self.started = time.perf_counter()
            self.memory.start()
        elif step > WARMUP:
            self.tokens += tokens
            if step == WARMUP + self.steps:
                self.ended = time.perf_counter()
                self.peak = self.memory.stop()

    def result(self) -> dict[str, float]:
        return {"tokens_per_s": self.tokens / (self.ended - self.started), "peak_rss_mb": self.peak / 2**20,
                "tokens": self.tokens}


def prepare(work: Path) -> None:
    files = stdlib_files()
    train, _held = split_files(files)
    tokenizer = build_tokenizer(work / "tokenizer", [read(f) for f in train[:200]])
    build_llama(work / "teacher", tokenizer, hidden=256, layers=4, heads=4, seed=1)
    build_llama(work / "student", tokenizer, hidden=128, layers=2, heads=2, seed=2)
    records = [r for r in function_records(train, limit=4000)  # whole samples: TRL refuses cut-off prompts
               if len(tokenizer(tokenizer.apply_chat_template(r["messages"], tokenize=False))["input_ids"])
               <= MAX_LENGTH]
    write_jsonl(work / "data.jsonl", records[:2000])


def run_nexus(work: Path, steps: int, pack: bool) -> dict[str, float]:
    from nexus_core.distill.state import DistillConfig
    from nexus_core.distill.trainer import DistillRun

    window = Window(steps)
    config = DistillConfig(teachers={"": str(work / "teacher")}, student=str(work / "student"),
                           data=str(work / "data.jsonl"), sample_size=None, max_steps=WARMUP + steps,
                           batch_size=BATCH, max_length=MAX_LENGTH, pack=pack, lr=5e-4, warmup_steps=0,
                           checkpoint_every=10**6, divergence="kl", temperature=1.0, held_out=0.01, device="cpu",
                           dtype="float32")
    run = DistillRun.create(Path(tempfile.mkdtemp(dir=work)) / "run", config)
    run.run(progress=lambda r: window.step_done(r.step, r.tokens))
    return window.result()


def run_trl(work: Path, steps: int, order: list[int] | None) -> dict[str, float]:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl.experimental.gkd import GKDConfig, GKDTrainer
    from trl.experimental.utils import DataCollatorForChatML

    window = Window(steps)
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    records = [json.loads(line) for line in (work / "data.jsonl").read_text().splitlines()]
    if order is not None:
        records = [records[i] for i in order]
    last_tokens = [0]

    class Timing(TrainerCallback):
        def on_step_end(self, _args: Any, state: Any, _control: Any, **_kw: Any) -> None:
            window.step_done(state.global_step, last_tokens[0])

    class InOrder(GKDTrainer):  # the same order as the Nexus run for the same-batches comparison
        def compute_loss(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            last_tokens[0] = int(inputs["attention_mask"].sum())  # the batch being trained (loaders run ahead)
            return super().compute_loss(model, inputs, *args, **kwargs)

        def _get_train_sampler(self, *_args: Any, **_kwargs: Any) -> Any:
            return torch.utils.data.SequentialSampler(self.train_dataset) if order is not None else \
                super()._get_train_sampler(*_args, **_kwargs)

    args = GKDConfig(output_dir=str(Path(tempfile.mkdtemp(dir=work))), per_device_train_batch_size=BATCH,
                     max_length=MAX_LENGTH, max_steps=WARMUP + steps, lmbda=0.0, beta=0.0, temperature=1.0,
                     learning_rate=5e-4, lr_scheduler_type="linear", warmup_steps=0, max_grad_norm=1.0,
                     logging_steps=10**6, save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                     disable_tqdm=True, seed=0, bf16=False, fp16=False,
                     gradient_checkpointing=False)  # TRL's defaults differ: align precision and recomputation
    trainer = InOrder(model=AutoModelForCausalLM.from_pretrained(work / "student"),
                      teacher_model=AutoModelForCausalLM.from_pretrained(work / "teacher"), args=args,
                      train_dataset=datasets.Dataset.from_list(records), processing_class=tokenizer,
                      data_collator=DataCollatorForChatML(tokenizer=tokenizer, max_length=MAX_LENGTH),
                      callbacks=[Timing()])
    trainer.train()
    return window.result()


def worker(args: argparse.Namespace) -> None:
    work = Path(args.work)
    if not (work / "data.jsonl").exists():
        prepare(work)
    if args.worker == "nexus":
        result = run_nexus(work, args.steps, pack=args.mode == "own")
    else:
        order = None
        if args.mode == "same":  # the Nexus run's training order (its state file), one sample per row
            from nexus_core.distill.data import split_and_order

            count = len((work / "data.jsonl").read_text().splitlines())
            order, _held = split_and_order(count, seed=0, sample_size=None, held_out=0.01)
        result = run_trl(work, args.steps, order)
    print("RESULT " + json.dumps(result))


def measure(work: Path, tool: str, mode: str, steps: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--worker", tool, "--mode", mode, "--work", str(work),
                          "--steps", str(steps)], capture_output=True, text=True, timeout=3600)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"{tool}/{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", choices=["nexus", "trl"])
    parser.add_argument("--mode", choices=["own", "same"], default="own")
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        prepare(work)
        print(f"prepared tokenizer, teacher (256×4), student (128×2) and data in {time.perf_counter() - started:.0f} s")
        for mode, title in (("own", "own pipelines (Nexus packs, TRL pads)"),
                            ("same", "same batches (no packing, same order)")):
            results: dict[str, list[dict[str, float]]] = {"nexus": [], "trl": []}
            for _ in range(args.rounds):
                for tool in ("nexus", "trl"):
                    results[tool].append(measure(work, tool, mode, args.steps))
            speed = {tool: statistics.median(r["tokens_per_s"] for r in rs) for tool, rs in results.items()}
            peak = {tool: statistics.median(r["peak_rss_mb"] for r in rs) for tool, rs in results.items()}
            print(f"\n{title}, {args.steps} timed steps, batch {BATCH}, max length {MAX_LENGTH}, "
                  f"median of {args.rounds}:")
            for tool in ("nexus", "trl"):
                print(f"  {tool:5s}  {speed[tool]:9,.0f} tokens/s   peak RSS while stepping {peak[tool]:7.0f} MB")
            print(f"  throughput ratio Nexus/TRL: {speed['nexus'] / speed['trl']:.2f} (target >= 1.2)")
            print(f"  peak memory ratio Nexus/TRL: {peak['nexus'] / peak['trl']:.2f}")


if __name__ == "__main__":
    main()
