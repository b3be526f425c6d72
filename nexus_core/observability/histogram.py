"""Latency histograms with log-spaced buckets (each 5 % wider than the last): small to store per day, and
percentiles read from them are within a few percent of the exact ones."""

from __future__ import annotations

import math
from collections import Counter

from nexus_core.store.functions import log_bucket

BASE = 1.05  # also in the store's hourly-aggregate triggers (migration 0008)


def bucket(ms: float) -> int:
    return log_bucket(ms, BASE)


def histogram(values: list[float]) -> Counter[int]:
    return Counter(bucket(v) for v in values)


def hist_percentile(hist: Counter[int], p: float) -> float:
    """The p-th percentile, interpolated geometrically inside the bucket it falls in."""
    total = sum(hist.values())
    if not total:
        return math.nan
    rank = (total - 1) * p / 100
    seen = 0
    for key in sorted(hist):
        count = hist[key]
        if seen + count > rank:
            within = (rank - seen + 0.5) / count
            return BASE ** (key + within)
        seen += count
    return BASE ** (max(hist) + 1)
