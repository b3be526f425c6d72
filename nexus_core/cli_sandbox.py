"""``nexus sandbox``: run a Python file in the sandbox, or say how strong the sandbox is on this machine."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

LIMIT_EXIT = 124  # like timeout(1): the run was stopped by a limit
BAD_INPUT_EXIT = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sandbox", help="run Python in the sandbox; check whether bubblewrap isolates it here")
    ssub = p.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    run = ssub.add_parser("run", help="run a .py file in the sandbox and print its output")
    run.add_argument("file", type=Path, metavar="FILE.py")
    run.add_argument("--mode", choices=["code", "validate", "integration"], default="code")
    run.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                     help="host[:port] the integration mode may reach (repeatable)")
    run.add_argument("--timeout", type=float, default=None, metavar="S", help="wall-clock limit in seconds")
    run.add_argument("--memory-mb", type=int, default=None, metavar="N", help="memory limit in MB")
    run.add_argument("--json", action="store_true", help="print the whole result as JSON")
    check = ssub.add_parser("check", help="is bubblewrap available, and if not, why")
    check.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from nexus_core.errors import NexusError

    try:
        return _check(args) if args.sandbox_command == "check" else _run(args)
    except (NexusError, ValueError) as exc:
        message = exc.user_message() if isinstance(exc, NexusError) else str(exc)
        print(f"nexus sandbox: {message}", file=sys.stderr)
        return BAD_INPUT_EXIT


def _check(args: argparse.Namespace) -> int:
    from nexus_core.sandbox import sandbox_capabilities

    caps = sandbox_capabilities()
    if args.json:
        print(json.dumps({"bubblewrap": caps.bubblewrap, "reason": caps.reason, "strength": caps.strength}))
    else:
        print(f"bubblewrap: {'yes' if caps.bubblewrap else 'no'}")
        print(f"strength:   {caps.strength}")
        print(f"why:        {caps.reason}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from nexus_core.sandbox import Sandbox, policy_for

    limits = policy_for(args.mode).limits
    if args.timeout is not None:
        limits = replace(limits, wall_s=args.timeout, cpu_s=max(1, math.ceil(args.timeout)))
    if args.memory_mb is not None:
        limits = replace(limits, memory_mb=args.memory_mb)
    sandbox = Sandbox(args.mode, limits=limits, allowed_hosts=args.allow_host)
    result = sandbox.run_file(args.file)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        if result.stderr and not result.stderr.endswith("\n"):
            sys.stderr.write("\n")
        print(f"[sandbox] {result.summary()}", file=sys.stderr)
    if not result.ran:
        return 1
    if result.limit_hit:
        return LIMIT_EXIT
    code = result.exit_code if result.exit_code is not None else 1
    return code if code >= 0 else 128 - code
