"""``run_python``: the code interpreter, which runs model-written Python in the sandbox's code mode."""

from __future__ import annotations

import asyncio
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.tools.base import ToolContext, ToolFailure, tool

MAX_OUTPUT_CHARS = 20_000
MAX_TIME_S = 600.0  # the settings' upper bound for sandbox_code_time_s


@tool(name="run_python", risk="risky", timeout_s=MAX_TIME_S + 15.0, sandboxed=True)
async def run_python(ctx: ToolContext, code: str) -> dict[str, Any]:
    """Run a Python program in an isolated sandbox and return what it printed.

    The sandbox has no network, no access to your files (only a scratch folder that is deleted
    afterwards), and stops at its time and memory limits (30 s and 256 MB unless the user changed them).
    Only safe standard-library modules can be imported.

    Args:
        code: a complete Python program; print() whatever you want to see.
    """
    from nexus_core.sandbox import Limits, Sandbox

    settings = ctx.services.get("settings")
    limits = require = None
    if settings is not None:
        seconds = min(float(settings.sandbox_code_time_s), MAX_TIME_S)
        limits = Limits(wall_s=seconds, cpu_s=max(1, round(seconds)), memory_mb=settings.sandbox_code_memory_mb)
        require = True if settings.sandbox_require_bubblewrap else None
    try:
        sandbox = Sandbox("code", limits=limits, use_bubblewrap=require)
    except NexusError as exc:
        why = (" (Settings → Code sandbox requires bubblewrap is on, so the code did not run in the weaker sandbox)"
               if require else "")
        raise ToolFailure(exc.user_message() + why, kind="unavailable") from None
    result = await asyncio.to_thread(sandbox.run_code, code)
    return {
        "exit_code": result.exit_code,
        "stdout": _cap(result.stdout),
        "stderr": _cap(result.stderr),
        "limit_hit": result.limit_hit,
        "blocked": result.blocked,
        "ran": result.ran,
        "duration_s": round(result.duration_s, 3),
        "isolation": _isolation(result.ran, result.used_bubblewrap),
    }


def _cap(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n[… {len(text) - MAX_OUTPUT_CHARS} more characters cut]"


def _isolation(ran: bool, used_bubblewrap: bool) -> str:
    if not ran:
        return "not run: the code check refused it"
    return "bubblewrap" if used_bubblewrap else "weaker (no bubblewrap on this machine)"
