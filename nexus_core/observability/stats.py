"""Statistics over the LLM call records: what the dashboard and ``nexus calls`` show.

Up to ``EXACT_LIMIT`` calls in a range, everything comes from the records (``started_at`` is indexed) and the
latency percentiles are exact. Larger ranges read the hourly aggregates the store keeps as calls are recorded
(its triggers), plus the records of the partial hours at the range's ends, so a million records cost a few
thousand rows; their percentiles come from latency histograms, within a few percent (``approximate`` says so).
Days older than the retention age come from the daily roll-ups (whole days), also as histograms. Everything is
read-only and runs off the GUI thread.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
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
from nexus_core.observability.histogram import BASE, hist_percentile, histogram
from nexus_core.observability.retention import decode_hist, rollup_days
from nexus_core.store import Store

PERCENTILES = (50, 95, 99)
EXACT_LIMIT = 50_000  # calls in a range up to which everything is read from the records (exact percentiles)
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_HOUR = 3600  # the width of the store's aggregates (llm_calls_hourly, llm_latency_hourly)
_TIMED = f"{LATENCY} >= 0 AND {LATENCY} < 1e12"  # a broken clock's records left out of the latencies
_FIRST = f"{TTFT} >= 0 AND {TTFT} <= {LATENCY}"


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

    def where(self, *, scan: bool = False) -> tuple[str, list[Any]]:
        """The SQL condition; ``scan`` reads the table in order instead of through the time index (faster when
        the range holds most of the records: no lookup per row)."""
        column = "+started_at" if scan else "started_at"
        clauses, params = [f"{column} >= ?", f"{column} < ?"], [self.since, self.until]
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
                prices: dict[str, tuple[float, float]] | None = None, exact_limit: int = EXACT_LIMIT) -> CallStats:
        """Everything the dashboard shows for ``flt``; a damaged store gives an empty result with the problem.

        ``prices`` ("provider/model" → US dollars per million input and output tokens) prices the calls that
        were recorded without a cost (no price was set then); their cost is counted in ``estimated_cost_usd``.
        It reads through a connection of its own, in chunks, with the sorting done by SQLite: the chat keeps
        recording calls meanwhile, and the GUI thread is never kept waiting for long."""
        stats = CallStats(flt.since, flt.until)
        try:
            with self.store.reader() as conn:
                db = _Rows(conn)
                hours = _whole_hours(db, flt)
                if hours is not None and db.all(*_hourly_count(flt, hours))[0][0] > exact_limit:
                    self._fill_hourly(stats, db, flt, hours, time_buckets, prices)
                else:
                    self._fill(stats, db, flt, time_buckets, prices, exact_limit)
        except sqlite3.DatabaseError as exc:
            stats.problems.append(f"The call history cannot be read ({exc}); the store may be damaged: "
                                  "nexus store check says more.")
        return stats

    def _fill(self, stats: CallStats, db: _Rows, flt: CallFilter, time_buckets: int,
              prices: dict[str, tuple[float, float]] | None, exact_limit: int) -> None:
        """From the records themselves: one grouped scan gives every count, sum and cost; then the latencies."""
        models = _Models()
        where, params = _record_where(db, flt)
        self._scan(stats, models, db, flt, where, params, prices)
        if stats.calls:
            slots = _Slots(flt.since, max(1.0, (flt.until - flt.since) / time_buckets), time_buckets)
            self._latencies(stats, models, db, where, params, slots, exact_limit)
        self._finish(stats, models, db, flt)

    def _fill_hourly(self, stats: CallStats, db: _Rows, flt: CallFilter, hours: tuple[int, int],
                     time_buckets: int, prices: dict[str, tuple[float, float]] | None) -> None:
        """From the hourly aggregates the store keeps (a few thousand rows however many records), plus the records
        of the partial hours at the range's two ends. Latency percentiles come from histograms (within a few
        percent, ``approximate``) and the latency-over-time points are whole hours apart at least."""
        stats.approximate = True
        models, over_time = _Models(), _OverTime()
        first, last = hours
        width = _HOUR * max(1, math.ceil((flt.until - flt.since) / time_buckets / _HOUR))
        slots = _Slots(first, width, max(1, math.ceil((last - first) / width)))
        where, params = _hour_where(flt, first, last)
        days = _local_days(first, last)
        for day, *group in db.all(
                f"WITH days(day, start, stop) AS (VALUES {', '.join(f'({d!r}, {a}, {b})' for d, a, b in days)}) "
                "SELECT days.day, provider, model, task_type, tier, NULLIF(module_context, ''), SUM(calls), "
                "SUM(CASE WHEN outcome = 'error' THEN calls ELSE 0 END), TOTAL(input_tokens), TOTAL(output_tokens), "
                "TOTAL(cost_usd), SUM(fallbacks), TOTAL(unpriced_input_tokens), TOTAL(unpriced_output_tokens), "
                "TOTAL(generating_tokens), TOTAL(generating_s) "
                f"FROM llm_calls_hourly JOIN days ON hour >= days.start AND hour < days.stop WHERE {where} "
                "GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(calls) > 0", params):
            _add_group(stats, models, str(day), tuple(group), prices)
        for provider, model, kind, index, value, n in db.all(  # one pass: per model, and per model and slot
                f"SELECT provider, model, kind, {slots.sql('hour')}, bucket, SUM(calls) FROM llm_latency_hourly "
                f"WHERE {where} GROUP BY 1, 2, 3, 4, 5 HAVING SUM(calls) > 0", params):
            key = (str(provider), str(model))
            if kind == "latency":
                models.rolled[key][int(value)] += int(n)
                over_time[(f"{provider}/{model}", int(index))][int(value)] += int(n)
            else:
                models.rolled_ttft[key][int(value)] += int(n)
        for edge in (replace(flt, until=min(first, flt.until)), replace(flt, since=max(last, flt.since))):
            if edge.until > edge.since:
                edge_where, edge_params = _record_where(db, edge)
                self._scan(stats, models, db, edge, edge_where, edge_params, prices)
                self._histograms(models, over_time, db, edge_where, edge_params, slots)
        over_time.points(stats, slots)
        self._finish(stats, models, db, flt)

    def _finish(self, stats: CallStats, models: _Models, db: _Rows, flt: CallFilter) -> None:
        self._rollups(stats, models, db, flt)
        models.finish(stats)
        stats.by_task = dict(sorted(stats.by_task.items(), key=lambda kv: -kv[1]))
        stats.by_module = dict(sorted(stats.by_module.items(), key=lambda kv: -kv[1]))

    def _scan(self, stats: CallStats, models: _Models, db: _Rows, flt: CallFilter, where: str, params: list[Any],
              prices: dict[str, tuple[float, float]] | None) -> None:
        generating = f"{LATENCY} > {TTFT} AND {TTFT} >= 0 AND {TOKENS_OUT} > 0"
        midnight = datetime.fromtimestamp(flt.since).replace(hour=0, minute=0, second=0, microsecond=0)
        day0 = midnight.timestamp()
        # Days counted from the first local midnight (SQLite's 'localtime' per row costs more than the rest of the
        # scan); a day with a daylight-saving change is an hour off at its end.
        day_index = f"CAST((started_at - {day0!r}) / 86400 AS INTEGER)"
        for day, *group in db.all(
                f"SELECT {day_index}, {PROVIDER}, {MODEL}, COALESCE({TASK}, 'unknown'), "
                f"COALESCE({TIER}, 'pinned'), {MODULE}, COUNT(*), SUM({OUTCOME} = 'error'), TOTAL({TOKENS_IN}), "
                f"TOTAL({TOKENS_OUT}), TOTAL({COST}), SUM({ATTEMPT} > 1), "
                f"TOTAL(CASE WHEN {COST} IS NULL THEN {TOKENS_IN} END), "
                f"TOTAL(CASE WHEN {COST} IS NULL THEN {TOKENS_OUT} END), "
                f"TOTAL(CASE WHEN {generating} THEN {TOKENS_OUT} END), "
                f"TOTAL(CASE WHEN {generating} THEN ({LATENCY} - {TTFT}) / 1000.0 END) "
                f"FROM llm_calls WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6", params):
            _add_group(stats, models, (midnight + timedelta(days=int(day))).strftime("%Y-%m-%d"), tuple(group),
                       prices)

    def _latencies(self, stats: CallStats, models: _Models, db: _Rows, where: str, params: list[Any],
                   slots: _Slots, exact_limit: int) -> None:
        """Exact percentiles (each model's latencies sorted by SQLite, read as one column) up to ``exact_limit``
        timed calls; above that, histograms counted by SQLite (the buckets of the roll-ups); ``approximate``
        then says so."""
        timed = f"{where} AND {_TIMED}"
        count = db.all(f"SELECT COUNT(*) FROM llm_calls WHERE {timed}", params)[0][0]
        if count > exact_limit:
            stats.approximate = True
            over_time = _OverTime()
            self._histograms(models, over_time, db, where, params, slots)
            over_time.points(stats, slots)
            return
        first = f"{timed} AND {_FIRST}"
        for target, column, condition in ((models.latencies, LATENCY, timed), (models.ttfts, TTFT, first)):
            for (provider, model), values in db.sorted_groups(f"{PROVIDER}, {MODEL}", column, condition, params):
                target[(str(provider), str(model))] = values
        for (name, index), values in db.sorted_groups(f"{PROVIDER} || '/' || {MODEL}, {slots.sql('started_at')}",
                                                      LATENCY, timed, params):
            stats.latency_over_time.setdefault(str(name), []).append(
                (slots.middle(index), *(round(percentile(values, p), 2) for p in PERCENTILES)))

    def _histograms(self, models: _Models, over_time: _OverTime, db: _Rows, where: str, params: list[Any],
                    slots: _Slots) -> None:
        """The records' latencies counted into histograms by SQLite: per model, and per model and time slot."""
        timed = f"{where} AND {_TIMED}"
        for target, column, condition in ((models.rolled, LATENCY, timed), (models.rolled_ttft, TTFT,
                                                                             f"{timed} AND {_FIRST}")):
            for provider, model, index, n in db.all(
                    f"SELECT {PROVIDER}, {MODEL}, {db.bucket(column)}, COUNT(*) FROM llm_calls "
                    f"WHERE {condition} GROUP BY 1, 2, 3", params):
                target[(str(provider), str(model))][int(index)] += int(n)
        for name, index, value, n in db.all(
                f"SELECT {PROVIDER} || '/' || {MODEL}, {slots.sql('started_at')}, {db.bucket(LATENCY)}, COUNT(*) "
                f"FROM llm_calls WHERE {timed} GROUP BY 1, 2, 3", params):
            over_time[(str(name), int(index))][int(value)] += int(n)

    def _rollups(self, stats: CallStats, models: _Models, db: _Rows, flt: CallFilter) -> None:
        """Add the daily roll-ups of the days the range touches (records older than the retention age)."""
        first, last = rollup_days(flt.since, flt.until)
        clauses, params = ["day >= ?", "day <= ?"], [first, last]
        for column, value in (("provider", flt.provider), ("model", flt.model), ("task_type", flt.task_type)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        rows = db.all(
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


class _Slots:
    """The time slots of the latency-over-time chart: ``count`` slots of ``width`` seconds from ``origin``."""

    def __init__(self, origin: float, width: float, count: int) -> None:
        self.origin, self.width, self.count = origin, width, count

    def sql(self, column: str) -> str:
        """The slot of each row's time; times just outside the range count in the first or last slot."""
        return (f"MAX(0, MIN({self.count - 1}, CAST(({column} - {float(self.origin)!r}) / {float(self.width)!r} "
                "AS INTEGER)))")

    def middle(self, index: int) -> float:
        return self.origin + (index + 0.5) * self.width


class _OverTime(defaultdict[tuple[str, int], Counter[int]]):
    """Latency histograms per ("provider/model", time slot), turned into the chart's percentile points."""

    def __init__(self) -> None:
        super().__init__(Counter)

    def points(self, stats: CallStats, slots: _Slots) -> None:
        for (name, index), hist in sorted(self.items(), key=lambda kv: kv[0][1]):
            if hist:
                stats.latency_over_time.setdefault(name, []).append(
                    (slots.middle(index), *(round(hist_percentile(hist, p), 2) for p in PERCENTILES)))


def _record_where(db: _Rows, flt: CallFilter) -> tuple[str, list[Any]]:
    """The records' condition; when the range holds most of the table, read it in order rather than through the
    time index (no lookup per row)."""
    # (two statements: SQLite reads MIN or MAX alone from the index's ends, both together by a full scan)
    first = db.all("SELECT MIN(started_at) FROM llm_calls", [])[0][0]
    last = db.all("SELECT MAX(started_at) FROM llm_calls", [])[0][0]
    covered = first is not None and min(flt.until, last) - max(flt.since, first) > 0.5 * (last - first)
    return flt.where(scan=covered)


def _whole_hours(db: _Rows, flt: CallFilter) -> tuple[int, int] | None:
    """The whole hours inside the range that the aggregates hold (clipped to the hours that have any), or None
    when there are none: the rest of the range is read from the records."""
    low = db.all("SELECT MIN(hour) FROM llm_calls_hourly", [])[0][0]
    high = db.all("SELECT MAX(hour) FROM llm_calls_hourly", [])[0][0]
    if low is None:
        return None
    first = max(math.ceil(flt.since / _HOUR) * _HOUR, int(low))
    last = min(math.floor(flt.until / _HOUR) * _HOUR, int(high) + _HOUR)
    return (first, last) if last > first else None


def _hour_where(flt: CallFilter, first: int, last: int) -> tuple[str, list[Any]]:
    clauses, params = ["hour >= ?", "hour < ?"], [first, last]
    for column, value in (("provider", flt.provider), ("model", flt.model), ("task_type", flt.task_type)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


def _hourly_count(flt: CallFilter, hours: tuple[int, int]) -> tuple[str, list[Any]]:
    """About how many calls the range holds (its partial end hours counted whole): decides exact or counted."""
    where, params = _hour_where(flt, math.floor(flt.since / _HOUR) * _HOUR, math.ceil(flt.until / _HOUR) * _HOUR)
    return f"SELECT TOTAL(calls) FROM llm_calls_hourly WHERE {where}", params


def _local_days(first: float, last: float) -> list[tuple[str, float, float]]:
    """The local days from ``first`` to ``last``: (YYYY-MM-DD, start, end) in epoch seconds, daylight saving
    included (a day may be 23 or 25 hours long)."""
    day = datetime.fromtimestamp(first).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    while day.timestamp() < last:
        following = day + timedelta(days=1)
        days.append((day.strftime("%Y-%m-%d"), day.timestamp(), following.timestamp()))
        day = following
    return days


def _add_group(stats: CallStats, models: _Models, day: str, group: tuple[Any, ...],
               prices: dict[str, tuple[float, float]] | None) -> None:
    """Count one group of calls (one day, provider, model, task type, tier and module) into the statistics."""
    (provider, model, task, tier, module, n, errors, t_in, t_out, cost, fallbacks, free_in, free_out, gen_tokens,
     gen_s) = group
    name, key, task, tier = f"{provider}/{model}", (str(provider), str(model)), str(task), str(tier)
    stats.calls += n
    stats.errors += int(errors or 0)
    stats.input_tokens += int(t_in)
    stats.output_tokens += int(t_out)
    stats.cost_usd += float(cost)
    stats.fallbacks += int(fallbacks or 0)
    _add(stats.by_task, task, n)
    _add(stats.model_by_task, (name, task), n)
    _add(stats.tier_flow, (tier, name), n)
    if module is not None:
        _add(stats.by_module, str(module), n)
    if cost > 0:
        _add(stats.cost_by_day, (day, str(provider), task), float(cost))
    price = (prices or {}).get(name)
    if price is not None and (free_in or free_out):  # recorded without a price: today's table prices it
        estimate = (free_in * price[0] + free_out * price[1]) / 1e6
        stats.cost_usd += estimate
        stats.estimated_cost_usd += estimate
        _add(stats.cost_by_day, (day, str(provider), task), estimate)
    models.count(key, n, int(errors or 0))
    models.generating[key][0] += gen_tokens
    models.generating[key][1] += gen_s


class _Rows:
    """Reads in chunks, so the Python side (which holds the GIL) never runs long without letting the GUI
    thread in; SQLite's own work (scans, sorts) runs with the GIL released."""

    CHUNK = 5_000

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._native: bool | None = None

    def all(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql, params)
        rows: list[tuple[Any, ...]] = []
        while chunk := cursor.fetchmany(self.CHUNK):
            rows.extend(chunk)
        return rows

    def sorted_groups(self, keys: str, value: str, where: str, params: list[Any]
                      ) -> list[tuple[tuple[Any, ...], list[float]]]:
        """The records grouped by ``keys``, each group's ``value`` sorted: SQLite counts the groups and sorts all
        values in one pass, read as a single column and cut by the counts."""
        groups = self.all(f"SELECT {keys}, COUNT(*) FROM llm_calls WHERE {where} GROUP BY {keys} ORDER BY {keys}",
                          params)
        values = self.column(f"SELECT {value} FROM llm_calls WHERE {where} ORDER BY {keys}, {value}", params)
        found, offset = [], 0
        for *key, count in groups:
            found.append((tuple(key), values[offset:offset + count]))
            offset += count
        return found

    def bucket(self, column: str) -> str:
        """The latency histogram's bucket of ``column`` in SQL: SQLite's own math functions where this build has
        them (no call into Python per row), else the store's ``nexus_log_bucket``; both give the same buckets."""
        if self._native is None:
            try:
                self.conn.execute("SELECT floor(ln(2.0))").fetchone()
                self._native = True
            except sqlite3.OperationalError:
                self._native = False
        if self._native:
            return f"CAST(floor(ln(max({column}, 0.01)) / ln({BASE!r})) AS INTEGER)"
        return f"nexus_log_bucket({column}, {BASE!r})"

    def column(self, sql: str, params: list[Any]) -> list[float]:
        cursor = self.conn.execute(sql, params)
        values: list[float] = []
        while chunk := cursor.fetchmany(self.CHUNK):
            values.extend(float(r[0]) for r in chunk)
        return values


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
    """Exact from the raw values (sorted by SQLite); from the merged histogram when roll-ups are part of it."""
    if rolled:
        merged = rolled + histogram(values)
        return {p: round(hist_percentile(merged, p), 2) for p in PERCENTILES}
    return {p: round(percentile(values, p), 2) for p in PERCENTILES} if values else {}


def _add(table: dict[Any, Any], key: Any, value: Any) -> None:
    table[key] = table.get(key, 0) + value
