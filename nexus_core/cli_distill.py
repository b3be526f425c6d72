"""``nexus distill``: start a teacher → student run, resume one, or evaluate one.

    nexus distill --teacher PATH [--teacher DOMAIN=PATH ...] --student PATH|CONFIG.json|half --data PATH
                  --out RUN_DIR [--preset debug|standard|production | --sample-size N] [--lora-rank R]
                  [--teacher-cache K] [--gradient-checkpointing] [...]
    nexus distill --resume RUN_DIR [--max-steps N]
    nexus distill eval RUN_DIR

Ctrl-C or SIGTERM saves a checkpoint and exits (code 130); ``--resume`` continues exactly where it stopped.
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
    p = sub.add_parser("distill", help="distil teacher models into a student (start, --resume, or eval RUN_DIR)")
    p.add_argument("action", nargs="*", metavar="eval RUN_DIR", help="'eval RUN_DIR' evaluates a finished run")
    p.add_argument("--teacher", action="append", default=[], metavar="[DOMAIN=]PATH",
                   help="teacher model folder; repeat with DOMAIN=PATH to route samples by their 'domain'")
    p.add_argument("--student", help="student model folder, a config.json, or 'half' (half the teacher)")
    p.add_argument("--data", help="a data file or a folder searched recursively (.jsonl .csv .txt .parquet)")
    p.add_argument("--out", type=Path, help="the run folder (state, checkpoints, exported student)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run; every setting comes from it")
    p.add_argument("--preset", choices=["debug", "standard", "production"], help="sample size: 50 / 500 / 5000")
    p.add_argument("--sample-size", type=int)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--no-pack", action="store_true", help="one sample per sequence instead of packing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--loss", choices=["kl", "rkl", "jsd"], default="kl")
    p.add_argument("--jsd-beta", type=float, default=0.5)
    p.add_argument("--hidden-weight", type=float, default=0.0)
    p.add_argument("--ce-weight", type=float, default=0.0)
    p.add_argument("--critical-layers", default="", help="student layer numbers like 3,7, or 'auto'")
    p.add_argument("--critical-multiplier", type=float, default=10.0)
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", help="auto (bf16/fp16 mixed precision on a GPU that has it), float32...")
    p.add_argument("--lora-rank", type=int, default=0, help="train LoRA adapters of this rank on a trained student")
    p.add_argument("--lora-alpha", type=float, help="LoRA scaling (default: twice the rank)")
    p.add_argument("--teacher-cache", default="0", metavar="K|DIR",
                   help="K: cache the teachers' top-K log-probabilities first, then train without them in memory; "
                        "DIR: a layer-streaming pass (nexus sli run --top-k) of a teacher larger than memory")
    p.add_argument("--gradient-checkpointing", action="store_true", help="less memory for activations, more time")
    p.add_argument("--attention", choices=["auto", "sdpa", "eager"], default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the student (off by default)")
    p.add_argument("--json", action="store_true", help="print the final state as JSON")
    p.set_defaults(func=cmd_distill)


def _teachers(values: list[str]) -> dict[str, str]:
    teachers: dict[str, str] = {}
    for value in values:
        domain, sep, path = value.partition("=")
        if not sep or Path(value).exists():
            domain, path = "", value
        if domain in teachers:
            raise NexusError(f"Two teachers for the domain {domain or '(default)'!r}.",
                             hint="Give each --teacher its own DOMAIN=PATH.")
        teachers[domain] = path
    return teachers


def _config(args: argparse.Namespace) -> Any:
    from nexus_core.distill.data import PRESETS
    from nexus_core.distill.state import DistillConfig

    cache = str(args.teacher_cache).strip()
    teacher_outputs = None if cache.isdigit() else str(Path(cache))
    data = args.data or teacher_outputs  # a streamed teacher's pass brings its own samples
    missing = [flag for flag, value in (("--teacher", args.teacher), ("--student", args.student),
                                        ("--data", data), ("--out", args.out)) if not value]
    if missing:
        raise NexusError(f"A new run needs {', '.join(missing)}.", hint="Or continue one with --resume RUN_DIR.")
    critical: list[int] | str = []
    if args.critical_layers == "auto":
        critical = "auto"
    elif args.critical_layers:
        try:
            critical = [int(x) for x in args.critical_layers.split(",") if x.strip()]
        except ValueError:
            raise NexusError("--critical-layers takes layer numbers like 3,7 or 'auto'.") from None
    sample_size = args.sample_size if args.sample_size else PRESETS[args.preset or "standard"]
    return DistillConfig(teachers=_teachers(args.teacher), student=args.student, data=data,
                         sample_size=sample_size, epochs=args.epochs, max_steps=args.max_steps, lr=args.lr,
                         batch_size=args.batch_size, grad_accum=args.grad_accum, max_length=args.max_length,
                         pack=not args.no_pack, seed=args.seed, divergence=args.loss, temperature=args.temperature,
                         jsd_beta=args.jsd_beta, hidden_weight=args.hidden_weight, ce_weight=args.ce_weight,
                         critical_layers=critical, critical_multiplier=args.critical_multiplier,
                         checkpoint_every=args.checkpoint_every, device=args.device, dtype=args.dtype,
                         lora_rank=args.lora_rank, lora_alpha=args.lora_alpha,
                         teacher_cache_top_k=int(cache) if cache.isdigit() else 0, teacher_outputs=teacher_outputs,
                         gradient_checkpointing=args.gradient_checkpointing, attention=args.attention,
                         compile=args.compile)


def cmd_distill(args: argparse.Namespace) -> int:
    from nexus_core.distill.trainer import DistillRun

    if args.action:
        if args.action[0] != "eval" or len(args.action) != 2:
            raise NexusError(f"Unknown distill action {' '.join(args.action)!r}.",
                             hint="Use: nexus distill eval RUN_DIR")
        run = DistillRun.resume(Path(args.action[1]))
        run.prepare()
        results = run.evaluate()
        print(json.dumps(results, indent=2))
        return 0
    run = DistillRun.resume(args.resume, max_steps=args.max_steps) if args.resume else \
        DistillRun.create(args.out, _config(args))
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        print(f"\nnexus: {signal.Signals(signum).name}: saving a checkpoint, then stopping…", file=sys.stderr)

    already_finished = run.state.status == "finished"
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"nexus: {run.state.data_summary}", file=sys.stderr)
    try:
        state = run.run(progress=_progress_line, should_stop=stop.is_set, phase=_phase_line)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if sys.stderr.isatty():
            print("\r\x1b[2K", end="", file=sys.stderr)  # clean up the progress line
    if state.status == "finished" and not already_finished:
        run.evaluate()
    if getattr(run, "world", None) is not None and not run.world.main:
        return 130 if state.status == "stopped" else 0  # one report per run, from rank 0
    elif already_finished:
        print("nexus: the run had already finished; nothing to do (use `nexus distill eval` to evaluate again)",
              file=sys.stderr)
    if args.json:
        print(json.dumps({"status": state.status, "step": state.step, "results": state.results,
                          "run_dir": str(run.run_dir)}, indent=2))
    else:
        print(f"{state.status} at step {state.step}: {run.run_dir}" + (
            f"; student in {run.run_dir / 'student'}" if state.status == "finished" else
            f"; continue with: nexus distill --resume {run.run_dir}"))
        for key, value in state.results.items():
            print(f"  {key}: {value}")
    return 130 if state.status == "stopped" else 0


def _phase_line(text: str, fraction: float) -> None:
    if sys.stderr.isatty():
        print(f"\r\x1b[2K{text}", end="", file=sys.stderr, flush=True)
    elif fraction >= 1.0:
        print(text, file=sys.stderr)


def _progress_line(report: Any) -> None:
    loss = report.parts.get("total", 0.0)
    rate = report.tokens / report.seconds if report.seconds else 0.0
    line = f"step {report.step}/{report.total_steps}  loss {loss:.4f}  lr {report.lr:.2e}  {rate:,.0f} tok/s"
    if sys.stderr.isatty():
        print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)
    elif report.step == report.total_steps or report.step % 10 == 0:
        print(line, file=sys.stderr)
