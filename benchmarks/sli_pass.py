"""Layer streaming against the alternatives, on a model that does not fit its memory budget.

Figures: bytes read per pass ÷ weight bytes (per-batch streaming would read the weights once per batch);
achieved weight read speed ÷ the disk's sequential read speed measured in the same run; wall time of a pass
vs accelerate's disk offload (``device_map`` with an offload folder) on the same model, data and budget;
peak RSS of each against the budget. Each pass runs in a fresh process with the model's files dropped from
the page cache first.

    .venv/bin/python benchmarks/sli_pass.py [--hidden 1024] [--layers 8] [--samples 48] [--budget-mb 600] [--batch 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEQ = 128


def drop_cache(folder: Path) -> None:
    for path in folder.glob("*.safetensors"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def peak_rss() -> tuple[threading.Event, list[int]]:
    """Sample this process's RSS; ``peak[1]`` is the RSS at the start (torch and the Llama modeling code
    imported: both contenders need them, and the import alone is about 100 MiB)."""
    import psutil
    import torch  # noqa: F401 - in the baseline, as the pass needs them
    from transformers import LlamaForCausalLM  # noqa: F401

    stop = threading.Event()
    process = psutil.Process()
    peak = [process.memory_info().rss, process.memory_info().rss]

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    return stop, peak


def build(work: Path, hidden: int, layers: int, samples: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 11 // 4, num_hidden_layers=layers,
                         num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, vocab_size=32000,
                         max_position_embeddings=1024, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(work / "model", max_shard_size="200MB")
    generator = torch.Generator().manual_seed(1)
    (work / "data.jsonl").write_text("".join(
        json.dumps({"input_ids": torch.randint(1, 32000, (SEQ,), generator=generator).tolist()}) + "\n"
        for _ in range(samples)))


def worker_sli(work: Path, budget: int, batch: int) -> dict[str, float]:
    from nexus_core.sli.runner import SliRunner, measure_disk_read

    disk = measure_disk_read(work / "model")
    drop_cache(work / "model")
    stop, peak = peak_rss()
    runner = SliRunner(work / "model", work / "sli-out", memory_budget=budget, batch_size=batch or None,
                       device="cpu", max_length=SEQ, top_k=8)  # a teacher's pass: the head's top-k is kept too
    started = time.perf_counter()
    result = runner.run(work / "data.jsonl")
    seconds = time.perf_counter() - started
    runner.close()
    stop.set()
    return {"seconds": seconds, "bytes_read": result.bytes_read, "weight_bytes": result.weight_bytes,
            "read_seconds": result.read_seconds, "disk_bytes_per_s": disk or 0.0, "peak_rss": peak[0],
            "base_rss": peak[1],
            "batches": -(-result.samples // result.batch_size), "batch": result.batch_size}


def worker_accelerate(work: Path, budget: int, batch: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM

    drop_cache(work / "model")
    stop, peak = peak_rss()
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(work / "model", device_map="auto", dtype=torch.float32,
                                                 max_memory={"cpu": budget}, offload_folder=str(work / "offload"))
    rows = [json.loads(line)["input_ids"] for line in (work / "data.jsonl").read_text().splitlines()]
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            ids = torch.tensor(rows[start:start + batch])
            model(input_ids=ids, output_hidden_states=True).logits.topk(8, dim=-1)
    seconds = time.perf_counter() - started
    stop.set()
    return {"seconds": seconds, "peak_rss": peak[0], "base_rss": peak[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch", type=int, default=0, help="0: the batch layer streaming picks for the budget")
    parser.add_argument("--budget-mb", type=int, default=600)
    parser.add_argument("--worker", choices=["sli", "accelerate"])
    parser.add_argument("--work")
    args = parser.parse_args()
    budget = args.budget_mb * 2**20
    if args.worker:
        fn = worker_sli if args.worker == "sli" else worker_accelerate
        print("RESULT " + json.dumps(fn(Path(args.work), budget, args.batch)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build(work, args.hidden, args.layers, args.samples)
        weights = sum(p.stat().st_size for p in (work / "model").glob("*.safetensors"))
        results: dict[str, dict[str, float]] = {}
        batch = args.batch
        for tool in ("sli", "accelerate"):  # accelerate gets the batch layer streaming ran with
            done = subprocess.run([sys.executable, __file__, "--worker", tool, "--work", str(work), "--budget-mb",
                                   str(args.budget_mb), "--batch", str(batch)], capture_output=True, text=True,
                                  timeout=3600)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{tool} failed:\n{done.stderr[-3000:]}")
            results[tool] = json.loads(line[7:])
            batch = int(results["sli"]["batch"])
        sli, acc = results["sli"], results["accelerate"]
        print(f"model: Llama {args.hidden} wide × {args.layers} layers, {weights / 2**20:.0f} MiB of fp32 weights; "
              f"{args.samples} samples × {SEQ} tokens, batch {batch}; budget {args.budget_mb} MiB")
        print(f"bytes read per pass ÷ weight bytes: {sli['bytes_read'] / sli['weight_bytes']:.2f} "
              f"(per-batch streaming: {sli['batches']:.0f}, one read per batch)")
        read_speed = sli["bytes_read"] / sli["read_seconds"] if sli["read_seconds"] else 0.0
        print(f"weight read speed {read_speed / 2**20:.0f} MiB/s ÷ disk sequential read "
              f"{sli['disk_bytes_per_s'] / 2**20:.0f} MiB/s = {read_speed / sli['disk_bytes_per_s']:.2f} "
              "(target >= 0.8)")
        print(f"wall time: layer streaming {sli['seconds']:.1f} s, accelerate disk offload {acc['seconds']:.1f} s "
              f"→ ratio {acc['seconds'] / sli['seconds']:.2f}× in favour of layer streaming")
        grown = {k: (r["peak_rss"] - r["base_rss"]) / 2**20 for k, r in results.items()}
        print(f"peak RSS above the process's start (torch and the model code imported): layer streaming "
              f"{grown['sli']:.0f} MiB, accelerate {grown['accelerate']:.0f} MiB; budget {args.budget_mb} MiB "
              f"(ratio to budget {grown['sli'] / args.budget_mb:.2f} and {grown['accelerate'] / args.budget_mb:.2f})")


if __name__ == "__main__":
    main()
