"""Call statistics over real call records in a real store: exact percentiles per model, task types, the
model × task matrix, routing flow, fallbacks, cost per day, filters, odd records, and ``nexus calls``."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nexus_core.cli import main
from nexus_core.observability.stats import CallFilter, CallStatistics, CallStats, StatsError, parse_since
from nexus_core.providers.records import CallRecord, CallRecorder
from nexus_core.store import Store

T0 = 1_790_000_000.0  # a fixed moment, so day boundaries do not depend on when the test runs


def _records(store: Store, spacing: float = 60) -> list[CallRecord]:
    rng = random.Random(3)
    recorder = CallRecorder(store) if store.schema_version >= 9 else _SchemaV7Recorder(store)
    made = []
    for i in range(300):
        fast = i % 3 != 0
        rec = CallRecord(provider="loc" if fast else "cloud", request_model="small" if fast else "big",
                         task_type=rng.choice(["chat", "code_generation", "math"]),
                         tier="standard" if fast else "heavy", attempt=2 if i % 25 == 0 else 1,
                         latency_ms=rng.uniform(100, 400) if fast else rng.uniform(800, 3000),
                         ttft_ms=rng.uniform(20, 60), input_tokens=100, output_tokens=50,
                         cost_usd=None if fast else 0.002, outcome="error" if i % 50 == 0 else "ok",
                         module_context="weather" if i % 10 == 0 else None, started_at=T0 + i * spacing)
        recorder.record(rec)
        made.append(rec)
    return made


class _SchemaV7Recorder:
    """Writes records as a store from before the client column (schema 9) holds them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, rec: CallRecord) -> None:
        from nexus_core.providers.records import _COLUMNS

        columns = {attr: column for attr, column in _COLUMNS.items() if attr != "client"}
        values = [getattr(rec, attr) for attr in columns]
        values[list(columns).index("finish_reasons")] = json.dumps(rec.finish_reasons) if rec.finish_reasons else None
        names = ", ".join(f'"{column}"' for column in columns.values())
        self.store.execute(f"INSERT INTO llm_calls ({names}) VALUES ({', '.join('?' for _ in columns)})", values)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "nexus.db").open()


def test_the_numbers_match_the_records(store: Store) -> None:
    made = _records(store)
    stats = CallStatistics(store).compute(CallFilter(T0, T0 + 300 * 60))
    assert stats.calls == 300 and stats.errors == 6 and stats.fallbacks == 12
    assert stats.input_tokens == 30_000 and stats.output_tokens == 15_000
    assert stats.cost_usd == pytest.approx(0.002 * 100)
    assert sum(stats.by_task.values()) == 300 and list(stats.by_task.values()) == sorted(stats.by_task.values(),
                                                                                          reverse=True)
    assert stats.model_by_task[("cloud/big", "math")] == sum(1 for r in made if r.provider == "cloud"
                                                             and r.task_type == "math")
    assert stats.tier_flow == {("standard", "loc/small"): 200, ("heavy", "cloud/big"): 100}
    assert stats.by_module == {"weather": 30}
    big = next(m for m in stats.models if m.model == "big")
    latencies = [r.latency_ms for r in made if r.request_model == "big"]
    for p in (50, 95, 99):
        assert big.latency_ms[p] == pytest.approx(np.percentile(latencies, p), abs=0.01)
    generating = sum((r.latency_ms - r.ttft_ms) / 1000 for r in made if r.request_model == "big")
    assert big.output_tokens_per_s == pytest.approx(50 * 100 / generating, abs=0.01)
    assert big.error_rate == pytest.approx(2 / 100)
    assert sum(stats.cost_by_day.values()) == pytest.approx(0.2) and all(p == "cloud" for _d, p, _t in
                                                                          stats.cost_by_day)
    series = stats.latency_over_time["loc/small"]
    assert len(series) > 10 and all(p50 <= p95 <= p99 for _t, p50, p95, p99 in series)
    assert [t for t, *_ in series] == sorted(t for t, *_ in series)


def test_calls_recorded_without_a_price_are_priced_with_todays_table(store: Store) -> None:
    _records(store)  # "loc/small" calls have no cost recorded: 200 calls × 100 in, 50 out tokens
    stats = CallStatistics(store).compute(CallFilter(T0, T0 + 300 * 60), prices={"loc/small": (1.0, 4.0)})
    expected = 200 * (100 * 1.0 + 50 * 4.0) / 1e6
    assert stats.estimated_cost_usd == pytest.approx(expected)
    assert stats.cost_usd == pytest.approx(0.2 + expected)  # the recorded costs stay as they were
    assert sum(c for (_d, p, _t), c in stats.cost_by_day.items() if p == "loc") == pytest.approx(expected)


def _same_counts(a: CallStats, b: CallStats) -> None:
    for name in ("calls", "errors", "fallbacks", "input_tokens", "output_tokens", "by_task", "model_by_task",
                 "tier_flow", "by_module"):
        assert getattr(a, name) == getattr(b, name), name
    assert b.cost_usd == pytest.approx(a.cost_usd) and b.estimated_cost_usd == pytest.approx(a.estimated_cost_usd)
    assert b.cost_by_day.keys() == a.cost_by_day.keys()
    for key, cost in a.cost_by_day.items():
        assert b.cost_by_day[key] == pytest.approx(cost), key


def _close_percentiles(a: CallStats, b: CallStats) -> None:
    for x, y in zip(a.models, b.models, strict=True):
        assert (x.provider, x.model, x.calls, x.errors) == (y.provider, y.model, y.calls, y.errors)
        for p in (50, 95, 99):  # from 5 %-wide buckets
            assert y.latency_ms[p] == pytest.approx(x.latency_ms[p], rel=0.05)
            assert y.ttft_ms[p] == pytest.approx(x.ttft_ms[p], rel=0.05)
        assert y.output_tokens_per_s == pytest.approx(x.output_tokens_per_s, rel=1e-6)


def test_large_ranges_read_the_hourly_aggregates_and_agree_with_the_records(store: Store) -> None:
    _records(store)  # 5 hours of calls; the range starts and ends inside an hour
    flt, prices = CallFilter(T0, T0 + 300 * 60), {"loc/small": (1.0, 4.0)}
    exact = CallStatistics(store).compute(flt, prices=prices)
    counted = CallStatistics(store).compute(flt, prices=prices, exact_limit=100)  # 300 calls: the aggregates
    assert counted.approximate and not exact.approximate
    _same_counts(exact, counted)
    _close_percentiles(exact, counted)
    for name, series in counted.latency_over_time.items():  # whole hours apart
        times = [t for t, *_ in series]
        assert len(series) == 4 and all(b - a == 3600 for a, b in itertools.pairwise(times)), name
        assert all(p50 <= p95 <= p99 for _t, p50, p95, p99 in series)
    filtered = CallFilter(T0, T0 + 300 * 60, provider="loc", task_type="chat")
    _same_counts(CallStatistics(store).compute(filtered), CallStatistics(store).compute(filtered, exact_limit=10))


def test_many_calls_inside_one_hour_are_counted_from_the_records(store: Store) -> None:
    _records(store, spacing=10)  # 50 minutes: no whole hour to read from the aggregates
    flt = CallFilter(T0, T0 + 3000)
    exact = CallStatistics(store).compute(flt)
    counted = CallStatistics(store).compute(flt, exact_limit=100)
    assert counted.approximate and not exact.approximate
    _same_counts(exact, counted)
    _close_percentiles(exact, counted)
    assert {k: len(v) for k, v in counted.latency_over_time.items()} == \
        {k: len(v) for k, v in exact.latency_over_time.items()}


def _hourly(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    calls = conn.execute("SELECT hour, provider, model, task_type, tier, outcome, module_context, calls, fallbacks, "
                         "input_tokens, output_tokens, ROUND(cost_usd, 9), unpriced_input_tokens, "
                         "unpriced_output_tokens, generating_tokens, ROUND(generating_s, 6) FROM llm_calls_hourly "
                         "WHERE calls > 0 ORDER BY 1, 2, 3, 4, 5, 6, 7").fetchall()
    latencies = conn.execute("SELECT * FROM llm_latency_hourly WHERE calls > 0 ORDER BY 1, 2, 3, 4, 5, 6").fetchall()
    return calls, latencies


def test_the_store_keeps_the_hourly_aggregates_as_records_come_and_go(tmp_path: Path) -> None:
    """Kept by triggers as calls are recorded; filled from the records when an older store is upgraded; records
    deleted (the roll-up) are taken out again; the latency buckets are the histograms' own."""
    from nexus_core.observability.histogram import bucket
    from nexus_core.store import discover_migrations

    with Store(tmp_path / "old.db", migrations=discover_migrations()[:7]) as old:  # before the aggregates
        _records(old, spacing=700)
        assert old.query_one("SELECT name FROM sqlite_master WHERE name = 'llm_calls_hourly'") is None
    with Store(tmp_path / "old.db") as upgraded, Store(tmp_path / "new.db") as recorded:
        made = _records(recorded, spacing=700)
        assert _hourly(upgraded.conn) == _hourly(recorded.conn)
        calls, latencies = _hourly(recorded.conn)
        assert sum(row[7] for row in calls) == 300 and sum(row[7] for row in calls if row[5] == "error") == 6
        assert sum(row[11] for row in calls) == pytest.approx(0.2)
        hour = int(made[0].started_at // 3600 * 3600)
        first_hour = [r for r in made if int(r.started_at // 3600 * 3600) == hour]
        assert sorted(b for h, _p, _m, _t, kind, b, n in latencies if h == hour and kind == "latency"
                      for _ in range(n)) == sorted(bucket(r.latency_ms) for r in first_hour)
        recorded.execute("DELETE FROM llm_calls WHERE started_at < ?", (T0 + 100 * 700,))
        calls, latencies = _hourly(recorded.conn)
        assert sum(row[7] for row in calls) == 200 and min(row[0] for row in calls) >= (T0 + 100 * 700) // 3600 * 3600
        assert sum(n for *_k, kind, _b, n in latencies if kind == "latency") == 200


def test_filters_and_ranges(store: Store) -> None:
    _records(store)
    stats = CallStatistics(store)
    assert stats.compute(CallFilter(T0, T0 + 300 * 60, provider="cloud")).calls == 100
    assert stats.compute(CallFilter(T0, T0 + 300 * 60, model="small", task_type="chat")).calls == \
        stats.compute(CallFilter(T0, T0 + 300 * 60, task_type="chat")).model_by_task.get(("loc/small", "chat"))
    assert stats.compute(CallFilter(T0, T0 + 60 * 60)).calls == 60  # the first hour
    empty = stats.compute(CallFilter(T0 - 100, T0))
    assert empty.calls == 0 and empty.models == [] and empty.problems == []


def test_records_from_a_broken_clock_or_without_timings_do_not_break_the_numbers(store: Store) -> None:
    recorder = CallRecorder(store)
    recorder.record(CallRecord(provider="p", request_model="m", latency_ms=-5.0, started_at=T0))  # clock went back
    recorder.record(CallRecord(provider="p", request_model="m", latency_ms=None, outcome="error", started_at=T0 + 1))
    recorder.record(CallRecord(provider="p", request_model="m", latency_ms=200.0, ttft_ms=500.0, started_at=T0 + 2))
    stats = CallStatistics(store).compute(CallFilter(T0, T0 + 10))
    [model] = stats.models
    assert model.calls == 3 and model.errors == 1 and model.latency_ms == {50: 200.0, 95: 200.0, 99: 200.0}
    assert model.ttft_ms == {} and model.output_tokens_per_s is None  # a first token after the end is ignored


def test_since_takes_spans_and_dates() -> None:
    now = 1_800_000_000.0
    assert parse_since("90s", now) == now - 90 and parse_since("2h", now) == now - 7200
    assert parse_since("7d", now) == now - 7 * 86400 and parse_since("1w", now) == now - 604800
    assert parse_since("2026-11-01T00:00:00+00:00") == 1_793_491_200.0
    with pytest.raises(StatsError, match="neither a span nor a date"):
        parse_since("yesterday-ish")


def test_the_cli_reports_a_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    with Store(home / "nexus.db") as store:
        _records(store)
    assert main(["--data-dir", str(home), "calls", "--since", "2026-09-01", "--until", "2026-10-01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calls"] == 300 and {m["model"] for m in report["models"]} == {"small", "big"}
    assert main(["--data-dir", str(home), "calls", "--since", "2026-09-01", "--until", "2026-10-01",
                 "--provider", "cloud"]) == 0
    out = capsys.readouterr().out
    assert "100 calls" in out and "cloud/big" in out and "loc/small" not in out
    assert main(["--data-dir", str(home), "calls", "--since", "soon"]) == 2
    assert "neither a span nor a date" in capsys.readouterr().err


def test_old_records_roll_up_into_days_and_the_numbers_stay(store: Store) -> None:
    from nexus_core.observability.retention import pending, roll_up

    made = _records(store, spacing=3600)  # 300 hours: about 12 days
    everything = CallFilter(T0 - 86400, T0 + 301 * 3600)
    before = CallStatistics(store).compute(everything)
    now = T0 + 300 * 3600
    assert pending(store, retention_days=5, now=now) and not pending(store, retention_days=30, now=now)
    folded = roll_up(store, retention_days=5, now=now)
    assert folded == sum(1 for r in made if r.started_at < now - 5 * 86400) and folded > 150
    assert store.query_one("SELECT COUNT(*) FROM llm_calls")[0] == 300 - folded
    assert store.query_one("SELECT SUM(calls), MIN(calls) FROM llm_calls_hourly")[:] == (300 - folded, 1)
    assert roll_up(store, retention_days=5, now=now) == 0 and not pending(store, 5, now)
    after = CallStatistics(store).compute(everything)
    assert after.approximate and not before.approximate
    for name in ("calls", "errors", "fallbacks", "input_tokens", "output_tokens", "by_task", "model_by_task",
                 "tier_flow", "by_module"):
        assert getattr(after, name) == getattr(before, name), name
    assert after.cost_usd == pytest.approx(before.cost_usd)
    assert sum(after.cost_by_day.values()) == pytest.approx(sum(before.cost_by_day.values()))
    for old, new in zip(before.models, after.models, strict=True):
        assert (old.model, old.calls, old.errors) == (new.model, new.calls, new.errors)
        for p in (50, 95, 99):  # from 5 %-wide buckets
            assert new.latency_ms[p] == pytest.approx(old.latency_ms[p], rel=0.05)
        assert new.output_tokens_per_s == pytest.approx(old.output_tokens_per_s, rel=1e-6)
    assert roll_up(store, retention_days=1, now=now) > 0  # a shorter retention folds more days; days merge
    again = CallStatistics(store).compute(everything)
    assert again.calls == 300 and again.by_task == before.by_task


def test_the_core_rolls_up_records_past_the_retention_age_at_start(nexus_home: Path) -> None:
    import time

    from nexus_core.core import Core

    with Store(nexus_home / "nexus.db") as store:
        recorder = CallRecorder(store)
        for days in (200, 100, 1):
            recorder.record(CallRecord(provider="p", request_model="m", latency_ms=50.0,
                                       started_at=time.time() - days * 86400))
    core = Core.open(nexus_home)
    try:
        def rolled() -> bool:
            return any(j.name == "Roll up old call records" and j.state.finished for j in core.runner.jobs())

        deadline = time.time() + 30
        while not rolled() and time.time() < deadline:
            time.sleep(0.05)
        [job] = [j for j in core.runner.jobs() if j.name == "Roll up old call records"]
        assert job.state.value == "succeeded"  # 90 days by default: the records of 200 and 100 days ago
        assert core.store.query_one("SELECT COUNT(*) FROM llm_calls")[0] == 1
        assert core.store.query_one("SELECT SUM(calls) FROM llm_calls_daily")[0] == 2
    finally:
        core.close()


def test_a_history_damaged_while_the_app_runs_is_reported_not_raised(tmp_path: Path) -> None:
    """(A store damaged before start-up is caught when it opens, with its own recovery; this is the rest.)"""
    path = tmp_path / "nexus.db"
    with Store(path) as store:
        _records(store)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        with path.open("r+b") as handle:  # garbage over the pages after the schema (the call table's among them)
            handle.seek(size // 4)
            handle.write(b"\xff" * (size // 2))
        stats = CallStatistics(store).compute(CallFilter(T0, T0 + 300 * 60))
    assert stats.problems and "cannot be read" in stats.problems[0] and "nexus store check" in stats.problems[0]


def test_sqlite_math_and_the_stores_function_give_the_same_buckets(store: Store) -> None:
    """Counting from the records uses SQLite's math functions where the build has them; the store's triggers
    use its Python function: a call must land in the same bucket either way."""
    from nexus_core.observability.stats import _Rows

    values = [0.0, 0.005, 0.01, 1.0, 1.05, 1.1025, 999.9999, 1e6, *(random.Random(5).uniform(0, 1e5)
                                                                      for _ in range(3000))]
    db = _Rows(store.conn)
    native = db.bucket("v")
    assert "ln(" in native  # this machine's SQLite has them
    rows = store.conn.execute(
        f"WITH t(v) AS (VALUES {', '.join(f'({v!r})' for v in values)}) "
        f"SELECT {native}, nexus_log_bucket(v, 1.05) FROM t").fetchall()
    assert [a for a, _b in rows] == [b for _a, b in rows]
