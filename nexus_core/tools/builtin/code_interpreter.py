"""``run_python``: the code interpreter, which runs model-written Python in the sandbox's code mode."""

from __future__ import annotations

import asyncio
from typing import Any

from nexus_core.tools.base import tool

MAX_OUTPUT_CHARS = 20_000


@tool(name="run_python", risk="risky", timeout_s=45.0, sandboxed=True)
async def run_python(code: str) -> dict[str, Any]:
    """Run a Python program in an isolated sandbox and return what it printed.

    The sandbox has no network, no access to your files (only a scratch folder that is deleted
    afterwards), and stops after 30 s or 256 MB. Only safe standard-library modules can be imported.

    Args:
        code: a complete Python program; print() whatever you want to see.
    """
    from nexus_core.sandbox import Sandbox

    result = await asyncio.to_thread(Sandbox("code").run_code, code)
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
