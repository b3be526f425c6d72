"""Retention: call records older than the configured age become per-day aggregates (``llm_calls_daily``), in
one transaction, so nothing is counted twice or lost if the app stops halfway."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from nexus_core.observability.columns import (
    ATTEMPT,
    COST,
    LATENCY,
    MODEL,
    MODULE,
    OUTCOME,
    PROVIDER,
    TASK,
    TIER,
    TOKENS_IN,
    TOKENS_OUT,
    TTFT,
)
from nexus_core.observability.histogram import histogram
from nexus_core.store import Store

_KEY = ("day", "provider", "model", "task_type", "tier", "outcome", "module_context")


def day_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d")


def rollup_days(since: float, until: float) -> tuple[str, str]:
    """The first and last local day a range touches (roll-ups count whole days)."""
    return day_of(since), day_of(max(since, until - 1e-3))


def pending(store: Store, retention_days: float, now: float | None = None) -> bool:
    """Are there records old enough to roll up (a cheap, indexed check)?"""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    return store.query_one("SELECT 1 FROM llm_calls WHERE started_at < ? LIMIT 1", (cutoff,)) is not None


def roll_up(store: Store, retention_days: float, now: float | None = None) -> int:
    """Fold the records older than ``retention_days`` into the daily table; the number of records folded."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    with store.transaction() as conn:
        rows = conn.execute(
            f"SELECT started_at, {PROVIDER}, {MODEL}, COALESCE({TASK}, 'unknown'), COALESCE({TIER}, 'pinned'), "
            f"{OUTCOME}, COALESCE({MODULE}, ''), {ATTEMPT}, {TOKENS_IN}, {TOKENS_OUT}, {COST}, {LATENCY}, {TTFT} "
            "FROM llm_calls WHERE started_at < ?", (cutoff,)).fetchall()
        if not rows:
            return 0
        latencies: dict[tuple[str, ...], list[float]] = defaultdict(list)
        ttfts: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for started, provider, model, task, tier, outcome, module, attempt, t_in, t_out, cost, latency, ttft in rows:
            key = (day_of(started), str(provider), str(model), str(task), str(tier), str(outcome), str(module))
            group = groups.setdefault(key, {"calls": 0, "fallbacks": 0, "input_tokens": 0, "output_tokens": 0,
                                            "cost_usd": 0.0, "generating_tokens": 0, "generating_s": 0.0})
            group["calls"] += 1
            group["fallbacks"] += int((attempt or 1) > 1)
            group["input_tokens"] += int(t_in or 0)
            group["output_tokens"] += int(t_out or 0)
            group["cost_usd"] += float(cost or 0.0)
            if latency is not None and latency >= 0:
                latencies[key].append(float(latency))
                if ttft is not None and 0 <= ttft <= latency:
                    ttfts[key].append(float(ttft))
                    if t_out and latency > ttft:
                        group["generating_tokens"] += int(t_out)
                        group["generating_s"] += (latency - ttft) / 1000
        for key, group in groups.items():
            existing = conn.execute(
                "SELECT calls, fallbacks, input_tokens, output_tokens, cost_usd, generating_tokens, generating_s, "
                "latency_hist, ttft_hist FROM llm_calls_daily WHERE " + " AND ".join(f"{k} = ?" for k in _KEY),
                key).fetchone()
            lat_hist, ttft_hist = histogram(latencies[key]), histogram(ttfts[key])
            if existing is not None:  # the day was partly rolled up before (a shorter retention, then a longer)
                for name, value in zip(("calls", "fallbacks", "input_tokens", "output_tokens", "cost_usd",
                                        "generating_tokens", "generating_s"), existing[:7], strict=True):
                    group[name] += value
                lat_hist += decode_hist(existing[7])
                ttft_hist += decode_hist(existing[8])
            conn.execute(
                "INSERT OR REPLACE INTO llm_calls_daily (day, provider, model, task_type, tier, outcome, "
                "module_context, calls, fallbacks, input_tokens, output_tokens, cost_usd, generating_tokens, "
                "generating_s, latency_hist, ttft_hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, group["calls"], group["fallbacks"], group["input_tokens"], group["output_tokens"],
                 group["cost_usd"], group["generating_tokens"], group["generating_s"], _encode(lat_hist),
                 _encode(ttft_hist)))
        conn.execute("DELETE FROM llm_calls WHERE started_at < ?", (cutoff,))  # the store's triggers take them
        # out of the hourly aggregates, leaving empty rows behind
        for table in ("llm_calls_hourly", "llm_latency_hourly"):
            conn.execute(f"DELETE FROM {table} WHERE hour <= ? AND calls <= 0", (cutoff,))
    return len(rows)


def _encode(hist: Counter[int]) -> str:
    return json.dumps({str(k): v for k, v in sorted(hist.items())})


def decode_hist(text: str) -> Counter[int]:
    try:
        return Counter({int(k): int(v) for k, v in json.loads(text).items()})
    except (ValueError, TypeError, AttributeError):
        return Counter()
