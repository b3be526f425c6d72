"""``nexus calls``: the LLM call records of a time range — counts, tokens, cost, latency percentiles per model,
task types, the routing flow between tiers and models.

    nexus calls [--since 1h] [--until DATE] [--provider P] [--model M] [--task T] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("calls", help="LLM call records: counts, tokens, cost, latency percentiles per model")
    p.add_argument("--since", default="24h", help="a span back from now (90s, 30m, 1h, 7d, 2w) or a date")
    p.add_argument("--until", help="a date/time (default: now)")
    p.add_argument("--provider")
    p.add_argument("--model")
    p.add_argument("--task", help="a task type, e.g. code_generation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nexus_core.core import Core
    from nexus_core.observability.stats import CallFilter, CallStatistics, parse_since

    now = time.time()
    flt = CallFilter(parse_since(args.since, now), parse_since(args.until, now) if args.until else now,
                     args.provider, args.model, args.task)
    core = Core.open(args.data_dir)
    try:
        stats = CallStatistics(core.store).compute(flt)
    finally:
        core.close()
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
        return 0
    start, end = (datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") for t in (flt.since, flt.until))
    print(f"{start} → {end}: {stats.calls} calls, {stats.errors} failed, {stats.fallbacks} retries/fallbacks; "
          f"{stats.input_tokens} tokens in, {stats.output_tokens} out; ${stats.cost_usd:.4f}")
    for problem in stats.problems:
        print(f"  problem: {problem}")
    if not stats.calls:
        return 0
    print(f"\n{'model':40} {'calls':>6} {'err%':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'ttft p50':>9} "
          f"{'tok/s':>7}")
    for m in stats.models:
        lat, first = m.latency_ms, m.ttft_ms
        print(f"{(m.provider + '/' + m.model)[:40]:40} {m.calls:>6} {100 * m.error_rate:>5.1f} "
              f"{_ms(lat.get(50))} {_ms(lat.get(95))} {_ms(lat.get(99))} {_ms(first.get(50), 9)} "
              f"{m.output_tokens_per_s if m.output_tokens_per_s is not None else '—':>7}")
    print("\ntask types: " + ", ".join(f"{task} {n}" for task, n in stats.by_task.items()))
    print("routing:    " + ", ".join(f"{tier} → {model} {n}" for (tier, model), n in
                                      sorted(stats.tier_flow.items(), key=lambda kv: -kv[1])))
    if stats.approximate:
        print("\n(percentiles counted in 5 %-wide latency buckets, from hourly or daily totals: within a few percent)")
    return 0


def _ms(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.0f}" if value is not None else f"{'—':>{width}}"
