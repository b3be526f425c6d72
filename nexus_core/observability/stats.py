"""Statistics over the LLM call records: what the dashboard and ``nexus calls`` show.

Counts, sums and groupings run in SQLite (``started_at`` is indexed); latency percentiles are exact, from the
latencies of the range. Days older than the retention age come from the daily roll-ups (whole days), whose
latency histograms give percentiles within a few percent (``approximate`` says so). Everything is read-only
and runs off the GUI thread.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus_core.errors import NexusError
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
from nexus_core.observability.histogram import hist_percentile, histogram
from nexus_core.observability.retention import decode_hist, rollup_days
from nexus_core.store import Store

PERCENTILES = (50, 95, 99)
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class StatsError(NexusError):
    """The call history cannot be read as asked."""


def parse_since(text: str, now: float | None = None) -> float:
    """'90s', '30m', '1h', '7d', '2w', or a date/time ('2026-11-01', '2026-11-01T08:00') → epoch seconds."""
    now = time.time() if now is None else now
    match = _SPAN.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StatsError(f"{text!r} is neither a span nor a date.",
                         hint="Write a span like 90s, 30m, 1h, 7d, 2w, or a date like 2026-11-01.") from None
    return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=datetime.now().astimezone().tzinfo
                                                                   ).timestamp()


@dataclass(frozen=True)
class CallFilter:
    since: float
    until: float
    provider: str | None = None
    model: str | None = None
    task_type: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["started_at >= ?", "started_at < ?"], [self.since, self.until]
        for column, value in ((PROVIDER, self.provider), (MODEL, self.model), (TASK, self.task_type)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        return " AND ".join(clauses), params


@dataclass
class ModelLatency:
    provider: str
    model: str
    calls: int
    errors: int
    latency_ms: dict[int, float]  # percentile → ms
    ttft_ms: dict[int, float]
    output_tokens_per_s: float | None  # output tokens over the generating time (latency − time to first token)

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass
class CallStats:
    since: float
    until: float
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    by_task: dict[str, int] = field(default_factory=dict)
    model_by_task: dict[tuple[str, str], int] = field(default_factory=dict)  # ("provider/model", task) → calls
    models: list[ModelLatency] = field(default_factory=list)
    tier_flow: dict[tuple[str, str], int] = field(default_factory=dict)  # (tier, "provider/model") → calls
    fallbacks: int = 0  # calls that were a retry or a fallback (attempt > 1)
    cost_by_day: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (day, provider, task) → $
    # "provider/model" → (bucket middle, p50, p95, p99 latency in ms), for the buckets that had calls
    latency_over_time: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    by_module: dict[str, int] = field(default_factory=dict)
    approximate: bool = False  # some of the range came from daily roll-ups (percentiles from histograms)
    estimated_cost_usd: float = 0.0  # of ``cost_usd``: calls recorded without a price, priced with today's table
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since, "until": self.until, "calls": self.calls, "errors": self.errors,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6), "estimated_cost_usd": round(self.estimated_cost_usd, 6),
            "by_task": self.by_task,
            "model_by_task": [{"model": m, "task_type": t, "calls": n} for (m, t), n in self.model_by_task.items()],
            "models": [{"provider": m.provider, "model": m.model, "calls": m.calls, "errors": m.errors,
                        "latency_ms": {f"p{p}": v for p, v in m.latency_ms.items()},
                        "ttft_ms": {f"p{p}": v for p, v in m.ttft_ms.items()},
                        "output_tokens_per_s": m.output_tokens_per_s} for m in self.models],
            "tier_flow": [{"tier": t, "model": m, "calls": n} for (t, m), n in self.tier_flow.items()],
            "fallbacks": self.fallbacks,
            "cost_by_day": [{"day": d, "provider": p, "task_type": t, "cost_usd": round(c, 6)}
                            for (d, p, t), c in self.cost_by_day.items()],
            "by_module": self.by_module, "approximate": self.approximate, "problems": self.problems,
        }


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile of already sorted values, linearly interpolated (numpy's default method)."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


class CallStatistics:
    def __init__(self, store: Store) -> None:
        self.store = store

    def compute(self, flt: CallFilter, *, time_buckets: int = 48,
                prices: dict[str, tuple[float, float]] | None = None) -> CallStats:
        """Everything the dashboard shows for ``flt``; a damaged store gives an empty result with the problem.

        ``prices`` ("provider/model" → US dollars per million input and output tokens) prices the calls that
        were recorded without a cost (no price was set then); their cost is counted in ``estimated_cost_usd``."""
        stats = CallStats(flt.since, flt.until)
        try:
            self._fill(stats, flt, time_buckets)
            if prices:
                self._estimate(stats, flt, prices)
        except sqlite3.DatabaseError as exc:
            stats.problems.append(f"The call history cannot be read ({exc}); the store may be damaged: "
                                  "nexus store check says more.")
        return stats

    def _fill(self, stats: CallStats, flt: CallFilter, time_buckets: int) -> None:
        where, params = flt.where()
        query = self.store.query
        row = query(f"SELECT COUNT(*), SUM({OUTCOME} = 'error'), TOTAL({TOKENS_IN}), TOTAL({TOKENS_OUT}), "
                    f"TOTAL({COST}), SUM({ATTEMPT} > 1) FROM llm_calls WHERE {where}", params)[0]
        stats.calls, stats.errors = int(row[0] or 0), int(row[1] or 0)
        stats.input_tokens, stats.output_tokens, stats.cost_usd = int(row[2]), int(row[3]), float(row[4])
        stats.fallbacks = int(row[5] or 0)
        if stats.calls:
            for task, n in query(f"SELECT COALESCE({TASK}, 'unknown'), COUNT(*) FROM llm_calls WHERE {where} "
                                 "GROUP BY 1", params):
                _add(stats.by_task, str(task), int(n))
            for provider, model, task, n in query(
                    f"SELECT {PROVIDER}, {MODEL}, COALESCE({TASK}, 'unknown'), COUNT(*) FROM llm_calls "
                    f"WHERE {where} GROUP BY 1, 2, 3", params):
                _add(stats.model_by_task, (f"{provider}/{model}", str(task)), int(n))
            for tier, provider, model, n in query(
                    f"SELECT COALESCE({TIER}, 'pinned'), {PROVIDER}, {MODEL}, COUNT(*) FROM llm_calls "
                    f"WHERE {where} GROUP BY 1, 2, 3", params):
                _add(stats.tier_flow, (str(tier), f"{provider}/{model}"), int(n))
            for module, n in query(f"SELECT {MODULE}, COUNT(*) FROM llm_calls WHERE {where} AND {MODULE} IS NOT "
                                   "NULL GROUP BY 1", params):
                _add(stats.by_module, str(module), int(n))
            for day, provider, task, cost in query(
                    f"SELECT date(started_at, 'unixepoch', 'localtime'), {PROVIDER}, COALESCE({TASK}, 'unknown'), "
                    f"TOTAL({COST}) FROM llm_calls WHERE {where} GROUP BY 1, 2, 3 HAVING TOTAL({COST}) > 0", params):
                _add(stats.cost_by_day, (str(day), str(provider), str(task)), float(cost))
        models = _Models()
        if stats.calls:
            self._raw_latencies(stats, models, where, params, time_buckets)
        self._rollups(stats, models, flt)
        models.finish(stats)
        stats.by_task = dict(sorted(stats.by_task.items(), key=lambda kv: -kv[1]))
        stats.by_module = dict(sorted(stats.by_module.items(), key=lambda kv: -kv[1]))

    def _estimate(self, stats: CallStats, flt: CallFilter, prices: dict[str, tuple[float, float]]) -> None:
        where, params = flt.where()
        for day, provider, model, task, t_in, t_out in self.store.query(
                f"SELECT date(started_at, 'unixepoch', 'localtime'), {PROVIDER}, {MODEL}, COALESCE({TASK}, "
                f"'unknown'), TOTAL({TOKENS_IN}), TOTAL({TOKENS_OUT}) FROM llm_calls WHERE {where} AND {COST} IS NULL "
                "GROUP BY 1, 2, 3, 4", params):
            price = prices.get(f"{provider}/{model}")
            if price is None:
                continue
            cost = (t_in * price[0] + t_out * price[1]) / 1e6
            if cost > 0:
                stats.cost_usd += cost
                stats.estimated_cost_usd += cost
                _add(stats.cost_by_day, (str(day), str(provider), str(task)), cost)

    def _raw_latencies(self, stats: CallStats, models: _Models, where: str, params: list[Any],
                       time_buckets: int) -> None:
        width = max(1.0, (stats.until - stats.since) / time_buckets)
        over_time: dict[tuple[str, int], list[float]] = defaultdict(list)
        rows = self.store.query(
            f"SELECT {PROVIDER}, {MODEL}, {LATENCY}, {TTFT}, {TOKENS_OUT}, {OUTCOME}, started_at FROM llm_calls "
            f"WHERE {where}", params)
        for provider, model, latency, ttft, out_tokens, outcome, started in rows:
            key = (str(provider), str(model))
            models.count(key, 1, int(outcome == "error"))
            if latency is None or not math.isfinite(latency) or latency < 0:
                continue  # a record from a broken clock or a failed call without timing
            models.latencies[key].append(float(latency))
            over_time[(f"{provider}/{model}", int((started - stats.since) // width))].append(float(latency))
            if ttft is not None and 0 <= ttft <= latency:
                models.ttfts[key].append(float(ttft))
                if out_tokens and latency - ttft > 0:
                    models.generating[key][0] += out_tokens
                    models.generating[key][1] += (latency - ttft) / 1000
        for (model, bucket), values in sorted(over_time.items(), key=lambda kv: kv[0][1]):
            values.sort()
            stats.latency_over_time.setdefault(model, []).append(
                (stats.since + (bucket + 0.5) * width, *(round(percentile(values, p), 2) for p in PERCENTILES)))

    def _rollups(self, stats: CallStats, models: _Models, flt: CallFilter) -> None:
        """Add the daily roll-ups of the days the range touches (records older than the retention age)."""
        first, last = rollup_days(flt.since, flt.until)
        clauses, params = ["day >= ?", "day <= ?"], [first, last]
        for column, value in (("provider", flt.provider), ("model", flt.model), ("task_type", flt.task_type)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        rows = self.store.query(
            "SELECT day, provider, model, task_type, tier, outcome, module_context, calls, fallbacks, input_tokens, "
            "output_tokens, cost_usd, generating_tokens, generating_s, latency_hist, ttft_hist FROM llm_calls_daily "
            f"WHERE {' AND '.join(clauses)} ORDER BY day", params)
        daily: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        for (day, provider, model, task, tier, outcome, module, calls, fallbacks, t_in, t_out, cost, gen_tokens,
             gen_s, lat_hist, ttft_hist) in rows:
            stats.approximate = True
            name, key = f"{provider}/{model}", (str(provider), str(model))
            stats.calls += calls
            stats.errors += calls if outcome == "error" else 0
            stats.fallbacks += fallbacks
            stats.input_tokens += t_in
            stats.output_tokens += t_out
            stats.cost_usd += cost
            _add(stats.by_task, task, calls)
            _add(stats.model_by_task, (name, task), calls)
            _add(stats.tier_flow, (tier, name), calls)
            if module:
                _add(stats.by_module, module, calls)
            if cost > 0:
                _add(stats.cost_by_day, (day, provider, task), cost)
            models.count(key, calls, calls if outcome == "error" else 0)
            latencies = decode_hist(lat_hist)
            models.rolled[key] += latencies
            models.rolled_ttft[key] += decode_hist(ttft_hist)
            models.generating[key][0] += gen_tokens
            models.generating[key][1] += gen_s
            daily[(name, day)] += latencies
        for (name, day), hist in daily.items():
            if hist:
                noon = datetime.strptime(day, "%Y-%m-%d").replace(hour=12).timestamp()
                stats.latency_over_time.setdefault(name, []).append(
                    (noon, *(round(hist_percentile(hist, p), 2) for p in PERCENTILES)))
        for series in stats.latency_over_time.values():
            series.sort()


class _Models:
    """Per (provider, model): call counts, raw latencies, and the roll-ups' histograms."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # calls, errors
        self.latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.ttfts: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.rolled: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        self.rolled_ttft: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        self.generating: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])  # tokens, seconds

    def count(self, key: tuple[str, str], calls: int, errors: int) -> None:
        self.counts[key][0] += calls
        self.counts[key][1] += errors

    def finish(self, stats: CallStats) -> None:
        for key in sorted(self.counts, key=lambda k: -self.counts[k][0]):
            tokens, seconds = self.generating[key]
            stats.models.append(ModelLatency(
                key[0], key[1], self.counts[key][0], self.counts[key][1],
                _percentiles(self.latencies[key], self.rolled[key]), _percentiles(self.ttfts[key],
                                                                                  self.rolled_ttft[key]),
                round(tokens / seconds, 2) if seconds > 0 else None))


def _percentiles(values: list[float], rolled: Counter[int]) -> dict[int, float]:
    """Exact from the raw values; from the merged histogram when roll-ups are part of it."""
    if rolled:
        merged = rolled + histogram(values)
        return {p: round(hist_percentile(merged, p), 2) for p in PERCENTILES}
    values.sort()
    return {p: round(percentile(values, p), 2) for p in PERCENTILES} if values else {}


def _add(table: dict[Any, Any], key: Any, value: Any) -> None:
    table[key] = table.get(key, 0) + value
