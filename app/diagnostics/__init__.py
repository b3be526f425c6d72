"""Measurements of the GUI itself (event-loop latency), reused by benchmarks and later features."""

from app.diagnostics.latency_probe import LatencyProbe, LatencyStats

__all__ = ["LatencyProbe", "LatencyStats"]
