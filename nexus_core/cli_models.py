"""``nexus models``: inspect or load one local model folder, or scan folders for models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nexus_core.units import human_count, human_size


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="local model folders: inspect or load one, or scan folders for models")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    q = msub.add_parser("inspect", help="what a model folder holds and whether it can be loaded")
    q.add_argument("path", type=Path)
    q.add_argument("--json", action="store_true")
    q.add_argument("--trust-remote-code", action="store_true",
                   help="count models that ship their own code as loadable (that code would run)")
    q = msub.add_parser("load", help="load a model folder (streamed onto the device) and report how it went")
    q.add_argument("path", type=Path)
    q.add_argument("--device", default="auto", help="auto (default: CUDA when there is one), cpu, cuda, cuda:N")
    q.add_argument("--dtype", default="auto", help="auto (default), float32, float16 or bfloat16")
    q.add_argument("--trust-remote-code", action="store_true", help="run the model's own code (auto_map)")
    q.add_argument("--json", action="store_true")
    q = msub.add_parser("scan", help="find model folders (plain folders and the Hugging Face cache)")
    q.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    return _ACTIONS[args.models_command](args)


def _inspect(args: argparse.Namespace) -> int:
    from nexus_core.models import inspect_model, is_model_supported

    info = inspect_model(args.path)
    report = is_model_supported(info, trust_remote_code=args.trust_remote_code)
    data = {**info.to_dict(), **report.to_dict()}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{info.name}  ({info.path})")
    for label, value in (("category", info.category), ("architecture", info.architecture or "-"),
                         ("model type", info.model_type or "-"),
                         ("parameters", f"{human_count(info.parameters)} ({info.parameters:,})"),
                         ("size", human_size(info.size_bytes)), ("dtype", info.dtype or "-"),
                         ("weight files", len(info.shards)), ("tokenizer", "yes" if info.has_tokenizer else "no"),
                         ("processor", "yes" if info.has_processor else "no"),
                         ("custom code", "yes (auto_map)" if info.custom_code else "no")):
        print(f"  {label:<13} {value}")
    if info.base_model:
        print(f"  {'base model':<13} {info.base_model}")
    print(f"  {'supported':<13} {'yes' if report.supported else 'no'}: {report.reason}")
    if report.strategy:
        print(f"  {'loader':<13} {report.strategy}")
    for problem in info.problems:
        print(f"  problem: {problem}", file=sys.stderr)
    return 0


def _scan(args: argparse.Namespace) -> int:
    from nexus_core.models import ModelFolderError, is_model_supported, scan_models

    for d in args.dirs:
        if not d.is_dir():
            raise ModelFolderError("The folder to scan does not exist." if not d.exists()
                                   else "The path to scan is not a folder.", path=d,
                                   hint="Pass folders that hold models (or the Hugging Face cache).")
    result = scan_models(list(args.dirs))
    reports = [is_model_supported(m) for m in result.models]
    if args.json:
        print(json.dumps({"models": [{**m.to_dict(), **r.to_dict()} for m, r in zip(result.models, reports,
                                                                                    strict=True)],
                          "errors": [{"path": str(p), "problem": why} for p, why in result.errors]}, indent=2))
    else:
        if not result.models:
            print("No model folders found.")
        else:
            print(f"{'NAME':<32} {'CATEGORY':<15} {'PARAMS':>8} {'SIZE':>10} {'DTYPE':<9} {'OK':<3} PATH")
        for m, r in zip(result.models, reports, strict=True):
            print(f"{m.name[:32]:<32} {m.category:<15} {human_count(m.parameters):>8} "
                  f"{human_size(m.size_bytes):>10} {(m.dtype or '-')[:9]:<9} {'yes' if r.supported else 'no':<3} "
                  f"{m.path}")
    for path, why in result.errors:
        print(f"nexus: cannot read {path}: {why}", file=sys.stderr)
    return 1 if result.errors else 0


def _load(args: argparse.Namespace) -> int:
    """Exit 0 when the model loaded, 1 with the loader's structured error otherwise."""
    from nexus_core.config import load_settings
    from nexus_core.models.loader import load_model_safe
    from nexus_core.models.scan import model_roots
    from nexus_core.paths import DataPaths

    settings = load_settings(DataPaths.prepare(None).settings_file).settings
    outcome = load_model_safe(args.path, device=args.device, dtype=args.dtype,
                              trust_remote_code=args.trust_remote_code, search_roots=model_roots(settings))
    if args.json:
        print(json.dumps(outcome.to_dict(), indent=2))
        return 0 if outcome.ok else 1
    if outcome.loaded is None:
        print(f"nexus: cannot load {args.path}: {outcome.message}", file=sys.stderr)
        if outcome.path:
            print(f"  file: {outcome.path}", file=sys.stderr)
        if outcome.hint:
            print(f"  what to do: {outcome.hint}", file=sys.stderr)
        return 1
    s = outcome.loaded.summary()
    print(f"{s['name']}  loaded on {s['device']} in {s['dtype']} ({s['seconds']:.2f} s)")
    for label, value in (("class", s["strategy"]), ("method", s["method"]),
                         ("memory", human_size(s["memory_bytes"])), ("tokenizer", s["tokenizer"] or "-"),
                         ("processor", s["processor"] or "-")):
        print(f"  {label:<10} {value}")
    for note in s["notes"]:
        print(f"  note: {note}")
    return 0


_ACTIONS = {"inspect": _inspect, "load": _load, "scan": _scan}
