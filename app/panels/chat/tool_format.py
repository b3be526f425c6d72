"""The words of a tool card and of the approval dialog: argument summaries, readable JSON, status lines."""

from __future__ import annotations

import json
from typing import Any

from app.panels.chat.message_format import SEPARATOR, duration
from app.panels.chat.tool_run import FAILED, RUNNING, ToolRun

SUMMARY_CHARS = 60  # the argument summary in a card's one-line header
PREVIEW_CHARS = 1500  # a longer result is cut here until "Show more"
PREVIEW_LINES = 30
PROMINENT_KEYS = ("command", "cmd", "code", "script", "path", "url")  # what a risky call is mostly about

STATE_LABELS = {"running": "⏳ running…", "ok": "✓ ok", "failed": "✗ failed", "denied": "⊘ denied",
                "stopped": "■ stopped"}
APPROVAL_LABELS = {"once": "Allowed once by you", "always": "Always allowed in this conversation",
                   "deny": "Denied by you"}


def parse(text: str) -> Any:
    """The JSON value of ``text``, or None when it is not JSON (a model may send broken arguments)."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def pretty(text: str) -> str:
    """Objects and lists indented for reading; anything else as it is."""
    value = parse(text)
    return pretty_value(value) if isinstance(value, dict | list) else text


def pretty_value(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def summary(arguments: str, limit: int = SUMMARY_CHARS) -> str:
    """E.g. ``Paris`` for one argument, ``path=notes.txt, text=hello`` for several."""
    if not arguments.strip():
        return ""
    value = parse(arguments)
    if value is None:
        return shorten(arguments, limit)
    if isinstance(value, dict):
        if len(value) == 1:
            return shorten(_scalar(next(iter(value.values()))), limit)
        return shorten(", ".join(f"{key}={_scalar(item)}" for key, item in value.items()), limit)
    return shorten(_scalar(value), limit)


def status(run: ToolRun) -> str:
    """E.g. ``✗ failed (not_found) · 12 ms``."""
    label = STATE_LABELS.get(run.state, run.state)
    if run.state == FAILED and run.error_kind:
        label += f" ({run.error_kind})"
    if run.duration_ms is not None and run.state != RUNNING:
        label += SEPARATOR + duration(run.duration_ms)
    return label


def preview(text: str) -> tuple[str, int]:
    """The start of a long result and how many characters were left out (0: nothing was)."""
    cut = len(text)
    lines = 0
    for index, char in enumerate(text):
        if char == "\n":
            lines += 1
            if lines >= PREVIEW_LINES:
                cut = index
                break
    cut = min(cut, PREVIEW_CHARS)
    return text[:cut], len(text) - cut


def prominent(arguments: dict[str, Any]) -> str:
    """The one argument that says what a risky call does (a shell command, a path), if there is one."""
    for key in PROMINENT_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
