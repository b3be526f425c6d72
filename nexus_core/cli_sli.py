"""``nexus sli``: layer streaming — plan a pass over a model larger than memory, or run one.

    nexus sli plan PATH [--memory-budget SIZE] [--json]
    nexus sli run --model PATH --data FILE --out DIR [--memory-budget SIZE] [--top-k K] [--layers-out 3,7]
                  [--max-length N] [--batch-size B] [--device D] [--resume] [--json]

Ctrl-C stops between batches; ``--resume`` continues at the layer the pass was in.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sli", help="layer streaming: run models larger than memory, one layer at a time")
    ssub = p.add_subparsers(dest="sli_command", required=True, metavar="ACTION")
    q = ssub.add_parser("plan", help="per-layer bytes, peak memory and the expected time of a pass")
    q.add_argument("path", type=Path, help="the model folder")
    q.add_argument("--memory-budget", metavar="SIZE", help="e.g. 8GB (default: the memory that is free)")
    q.add_argument("--device", default="auto")
    q.add_argument("--max-length", type=int, default=512)
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("run", help="run the model over the data, layer by layer")
    q.add_argument("--model", type=Path, required=True)
    q.add_argument("--data", type=Path, required=True, help="text records (.jsonl .csv .txt) or {\"input_ids\"} jsonl")
    q.add_argument("--out", type=Path, required=True)
    q.add_argument("--memory-budget", metavar="SIZE")
    q.add_argument("--top-k", type=int, default=0, help="keep the teacher's top-K logits (a distillation cache)")
    q.add_argument("--layers-out", default="", help="also keep these layers' outputs, e.g. 3,7 "
                   "(encoder-decoders: encoder layers are numbered first)")
    q.add_argument("--max-length", type=int, default=512)
    q.add_argument("--batch-size", type=int)
    q.add_argument("--device", default="auto")
    q.add_argument("--dtype", default="auto")
    q.add_argument("--resume", action="store_true", help="continue a stopped pass in --out")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sli)


def _runner(args: argparse.Namespace, model: Path, out: Path, **options: Any) -> Any:
    from nexus_core.sli.runner import SliRunner, parse_size

    budget = parse_size(args.memory_budget) if args.memory_budget else None
    return SliRunner(model, out, memory_budget=budget, device=args.device, max_length=args.max_length, **options)


def cmd_sli(args: argparse.Namespace) -> int:
    if args.sli_command == "plan":
        return _plan(args)
    return _run(args)


def _plan(args: argparse.Namespace) -> int:
    import tempfile

    from nexus_core.units import human_size

    with tempfile.TemporaryDirectory() as scratch:
        runner = _runner(args, args.path, Path(scratch))
        try:
            plan = runner.plan(measure_disk=True)
        finally:
            runner.close()
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    print(f"{args.path.name}: {plan.family} family, {plan.layers} layers, {human_size(plan.weight_bytes)} of weights")
    print(f"  stays loaded: {human_size(plan.resident_bytes)} (embeddings, norms); output head "
          f"{human_size(plan.head_bytes)} (loaded at the end, for --top-k)")
    print(f"  largest layer: {human_size(plan.largest_layer)}; per layer: "
          + ", ".join(human_size(b) for b in plan.layer_bytes[:6]) + (" …" if plan.layers > 6 else ""))
    print(f"  memory budget: {human_size(plan.budget)} (minimum {human_size(plan.minimum_budget)}); next layer "
          f"read ahead: {'yes' if plan.prefetch else 'no (the budget holds one layer at a time)'}")
    if plan.disk_bytes_per_s:
        print(f"  disk read speed: {human_size(plan.disk_bytes_per_s)}/s → reading every weight once takes "
              f"{plan.expected_seconds():.1f} s per pass")
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        layers_out = tuple(int(x) for x in args.layers_out.split(",") if x.strip())
    except ValueError:
        raise NexusError("--layers-out takes layer numbers like 3,7.") from None
    runner = _runner(args, args.model, args.out, top_k=args.top_k, layers_out=layers_out,
                     batch_size=args.batch_size, dtype=args.dtype)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        print(f"\nnexus: {signal.Signals(signum).name}: stopping after this batch…", file=sys.stderr)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = runner.run(args.data, resume=args.resume, progress=None if args.json else _progress_line,
                            should_stop=stop.is_set)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runner.close()
        if sys.stderr.isatty():
            print("\r\x1b[2K", end="", file=sys.stderr)
    summary = {"status": result.status, "outputs": str(result.outputs) if result.outputs else None,
               "samples": result.samples, "tokens": result.tokens, "batch_size": result.batch_size,
               "seconds": round(result.seconds, 3), "bytes_read": result.bytes_read,
               "weight_bytes": result.weight_bytes, "read_ratio": round(result.read_ratio, 4)}
    if args.json:
        print(json.dumps(summary, indent=2))
    elif result.status == "finished":
        print(f"finished: {result.samples} samples ({result.tokens} tokens) in {result.seconds:.1f} s; read "
              f"{result.read_ratio:.2f}× the weights; outputs in {result.outputs}")
    else:
        print(f"stopped; continue with: nexus sli run --model {args.model} --data {args.data} --out {args.out} "
              "--resume")
    return 0 if result.status == "finished" else 130


def _progress_line(progress: Any) -> None:
    from nexus_core.units import human_size

    where = "embedding" if progress.stage == "embedding" else "tail" if progress.stage == "tail" else \
        f"layer {progress.layer + 1}/{progress.layers}"
    eta = f"  ETA {progress.eta_s:.0f} s" if progress.eta_s is not None else ""
    line = (f"{where}  batch {progress.batch}/{progress.batches}  read {human_size(progress.bytes_read)} "
            f"({human_size(progress.read_bytes_per_s)}/s){eta}")
    if sys.stderr.isatty():
        print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)
    elif progress.stage == "done" or progress.batch == progress.batches:
        print(line, file=sys.stderr)
