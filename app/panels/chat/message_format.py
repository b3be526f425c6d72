"""The words under an answer: who answered, how it was routed, how fast, how many tokens, at what cost."""

from __future__ import annotations

from typing import Any

from app.panels.chat.live_turn import LiveTurn
from nexus_core.routing.classify import TASK_LABELS, TaskType

SEPARATOR = "  ·  "


def task_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return TASK_LABELS[TaskType(value)]
    except ValueError:
        return value


def duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def cost(usd: float | None) -> str:
    if usd is None:
        return ""
    if usd == 0:
        return "free"
    return f"${usd:.4f}" if usd >= 0.0001 else "< $0.0001"


def model_ref(meta: dict[str, Any]) -> str:
    ref = meta.get("model_ref")
    if ref:
        return str(ref)
    provider, model = meta.get("provider"), meta.get("model")
    return f"{provider}/{model}" if provider and model else ""


def footer(meta: dict[str, Any]) -> str:
    """E.g. ``loc/m1 · standard tier · Chat · 1.20 s · first token 180 ms · 7 → 5 tokens · $0.0003``."""
    parts = [model_ref(meta)]
    if meta.get("tier"):
        parts.append(f"{meta['tier']} tier")
    parts.append(task_label(meta.get("task_type")))
    if meta.get("latency_ms") is not None:
        parts.append(duration(meta["latency_ms"]))
    if meta.get("ttft_ms") is not None:
        parts.append(f"first token {duration(meta['ttft_ms'])}")
    tokens_in, tokens_out = meta.get("tokens_in"), meta.get("tokens_out")
    if tokens_in is not None or tokens_out is not None:
        parts.append(f"{_count(tokens_in)} → {_count(tokens_out)} tokens")
    parts.append(cost(meta.get("cost_usd")))
    return SEPARATOR.join(p for p in parts if p)


def live_footer(live: LiveTurn) -> str:
    """While the answer streams: where it was routed, as soon as that is known."""
    if not live.model_ref and not live.tier:
        return "Choosing a model…"
    route = SEPARATOR.join(p for p in (f"{live.tier} tier" if live.tier else "", task_label(live.task_type)) if p)
    who = live.model_ref or "a model"
    stopping = " (stopping)" if live.stopping else ""
    return f"Answering with {who}{SEPARATOR + route if route else ''}…{stopping}"


def incomplete(error: str | None) -> str:
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else "the answer was cut short."
    return f"Incomplete — {first}"


def _count(value: Any) -> str:
    return "?" if value is None else f"{int(value):,}"
