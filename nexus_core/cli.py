"""The ``nexus`` command: every capability of the app, headless."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nexus_core import __version__
from nexus_core.errors import NexusError


def _open_core(args: argparse.Namespace):
    from nexus_core.core import Core

    return Core.open(args.data_dir)


def open_core_for_providers(args: argparse.Namespace):
    """Open the core and, in passphrase mode, unlock the credential store from $NEXUS_CREDENTIALS_PASSPHRASE."""
    import os

    core = _open_core(args)
    passphrase = os.environ.get("NEXUS_CREDENTIALS_PASSPHRASE")
    if core.credentials.locked and passphrase:
        try:
            core.credentials.unlock(passphrase)
        except NexusError:
            core.close()
            raise
    return core


def json_object_arg(text: str, option: str, example: str) -> dict[str, object]:
    """A command-line option holding a JSON object, or a NexusError that says how to quote it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NexusError(f"{option} is not valid JSON: {exc.msg} at column {exc.colno}.",
                         hint=f"Quote it for the shell: {option} '{example}'") from None
    if not isinstance(value, dict):
        raise NexusError(f"{option} must be a JSON object.", hint=f"For example {option} '{example}'")
    return value


def cmd_info(args: argparse.Namespace) -> int:
    from nexus_core.runtime import installed_versions, torch_runtime

    core = _open_core(args)
    if args.diagnostics:
        from nexus_core.diagnostics import collect

        try:
            print(collect(core), end="")
        finally:
            core.close()
        return 0
    try:
        status = core.telemetry.open()
        info = {
            "version": __version__,
            "data_dir": str(core.paths.root),
            "log_file": str(core.paths.log_file),
            "store_schema": core.store.schema_version,
            "gpu": {"available": status.available, "reason": status.reason, "driver": status.driver_version,
                    "devices": list(status.device_names)},
            "libraries": installed_versions(),
        }
        if args.torch:
            info["torch"] = torch_runtime()
    finally:
        core.close()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Nexus Studio {info['version']}")
    print(f"  data folder   {info['data_dir']}")
    print(f"  log file      {info['log_file']}")
    print(f"  store schema  {info['store_schema']}")
    gpu = info["gpu"]
    print(f"  GPU           {', '.join(gpu['devices']) if gpu['available'] else gpu['reason']}"
          + (f" (driver {gpu['driver']})" if gpu["driver"] else ""))
    for name, version in info["libraries"].items():
        print(f"  {name:<13} {version or 'not installed'}")
    if "torch" in info:
        print(f"  torch runtime {info['torch']}")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from nexus_core.telemetry import GIB, TelemetrySampler

    sampler = TelemetrySampler(interval_s=args.interval)
    status = sampler.open()
    if not status.available and not args.json:
        print(f"# {status.reason} Showing CPU and RAM only.", file=sys.stderr)
    try:
        count = 0
        while args.count is None or count < args.count:
            if count:
                time.sleep(args.interval)
            sample = sampler.sample_once()
            count += 1
            if args.json:
                print(json.dumps(_sample_dict(sample)), flush=True)
                continue
            s = sample.system
            line = (f"{time.strftime('%H:%M:%S', time.localtime(sample.timestamp))}  CPU {s.cpu_percent:5.1f}%  "
                    f"RAM {s.ram_used / GIB:6.2f}/{s.ram_total / GIB:.2f} GiB  app {s.app_rss / GIB:5.2f} GiB")
            for g in sample.gpus:
                line += (f"  | GPU{g.index} {_num(g.util_gpu, '%')} mem-ctl {_num(g.util_memory, '%')} "
                         f"VRAM {g.memory_used / GIB:.2f}/{g.memory_total / GIB:.2f} GiB "
                         f"{_num(g.temperature_c, '°C')} {_num(g.power_w, 'W')}/{_num(g.power_limit_w, 'W')}")
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sampler.stop()
    return 0


def _num(value: float | None, unit: str) -> str:
    return f"{value:.0f}{unit}" if value is not None else f"-{unit}"


def _sample_dict(sample) -> dict:
    from dataclasses import asdict

    return asdict(sample)


def cmd_jobs(args: argparse.Namespace) -> int:
    core = _open_core(args)
    try:
        if args.clear:
            removed = core.runner.clear_history()
            print(f"Removed {removed} finished job(s) from the history.")
            return 0
        jobs = core.runner.history(args.limit)
    finally:
        core.close()
    if args.json:
        print(json.dumps([{k: v for k, v in vars(j).items()} for j in jobs], indent=2, default=str))
        return 0
    if not jobs:
        print("No jobs have run yet.")
    for job in jobs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at))
        elapsed = f"{job.elapsed_s:.1f}s" if job.elapsed_s is not None else "-"
        detail = job.error or job.message
        print(f"{when}  {job.state.value:<11} {elapsed:>8}  {job.name}" + (f"  — {detail}" if detail else ""))
    return 0


def _backup_job(ctx, store, destination: Path) -> str:
    def on_pages(done: int, total: int) -> None:
        ctx.check()
        ctx.progress(done / total if total else 1.0, f"{done}/{total} pages")

    return str(store.backup(destination, progress=on_pages, pages_per_step=16))


def cmd_store(args: argparse.Namespace) -> int:
    from nexus_core.cli_progress import follow

    core = _open_core(args)
    try:
        if args.store_command == "check":
            problems = core.store.integrity_check()
            print("The store is sound." if not problems else "\n".join(problems))
            return 0 if not problems else 1
        destination = Path(args.to) if args.to else (
            core.paths.backups_dir / f"nexus-v{core.store.schema_version}-{time.strftime('%Y%m%d-%H%M%S')}.db")
        handle = core.runner.submit(_backup_job, core.store, destination, name="Back up the store",
                                    params={"destination": str(destination)})
        snap = follow(core.runner, handle)
        if snap.state.value != "succeeded":
            print(f"Backup {snap.state.value}: {snap.error or snap.message}", file=sys.stderr)
            return 1
        print(f"Backed up to {destination}")
        return 0
    finally:
        core.close()


def cmd_launcher(args: argparse.Namespace) -> int:
    from nexus_core.launcher import install_launcher, uninstall_launcher

    if args.launcher_command == "install":
        path = install_launcher()
        print(f"Installed the Nexus Studio launcher: {path}")
    else:
        removed = uninstall_launcher()
        print("Removed: " + ", ".join(map(str, removed)) if removed else "No launcher was installed.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nexus", description="Nexus Studio, headless.")
    parser.add_argument("--version", action="version", version=f"nexus-studio {__version__}")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder to use (default: $NEXUS_HOME or the platform user-data folder)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="versions, data folder, GPU and driver")
    p.add_argument("--json", action="store_true")
    p.add_argument("--torch", action="store_true", help="also import torch and report CUDA (slow)")
    p.add_argument("--diagnostics", action="store_true",
                   help="print a full report for a bug report (settings, providers, routing, modules, recent "
                        "problems), with no secrets in it")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("monitor", help="print GPU/CPU/RAM samples")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples (0.25-5)")
    p.add_argument("--count", type=int, default=None, help="stop after N samples (default: until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("jobs", help="background job history")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.add_argument("--clear", action="store_true", help="forget finished jobs")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("store", help="check or back up the data store")
    store_sub = p.add_subparsers(dest="store_command", required=True)
    backup = store_sub.add_parser("backup", help="copy the store safely, even while the app runs")
    backup.add_argument("--to", default=None, help="destination file (default: the backups folder)")
    store_sub.add_parser("check", help="run SQLite's integrity check")
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("launcher", help="add or remove the desktop launcher")
    p.add_argument("launcher_command", choices=["install", "uninstall"])
    p.set_defaults(func=cmd_launcher)

    from nexus_core import (
        cli_agents,
        cli_calls,
        cli_chat,
        cli_distill,
        cli_evolve,
        cli_fuse,
        cli_media,
        cli_metrics,
        cli_models,
        cli_modules,
        cli_pipeline,
        cli_providers,
        cli_sandbox,
        cli_serve,
        cli_setup,
        cli_sli,
    )

    cli_agents.add_parser(sub)
    cli_calls.add_parser(sub)
    cli_chat.add_parser(sub)
    cli_distill.add_parser(sub)
    cli_evolve.add_parser(sub)
    cli_fuse.add_parser(sub)
    cli_media.add_parser(sub)
    cli_metrics.add_parser(sub)
    cli_models.add_parser(sub)
    cli_modules.add_parser(sub)
    cli_pipeline.add_parser(sub)
    cli_providers.add_parser(sub)
    cli_sandbox.add_parser(sub)
    cli_serve.add_parser(sub)
    cli_setup.add_parser(sub)
    cli_sli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except NexusError as exc:
        print(f"nexus: {exc.user_message()}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"nexus: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
