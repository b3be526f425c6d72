"""Sandbox start-up cost: median wall time of ``print(1)`` in the sandbox vs a bare isolated interpreter.

Three contenders, interleaved so machine noise hits all alike: the baseline
``subprocess.run([sys.executable, "-I", "-c", "print(1)"])``, the sandbox with bubblewrap (where it can
run) and without. The sandbox time is the whole ``run_code`` call: AST gate, run folder, bootstrap (limits,
guards), capture, cleanup. Target: median < 150 ms.

    .venv/bin/python benchmarks/sandbox_startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_core.sandbox import Sandbox, sandbox_capabilities

TARGET_MS = 150.0


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def baseline() -> None:
    done = subprocess.run([sys.executable, "-I", "-c", "print(1)"], capture_output=True, check=True)
    assert done.stdout == b"1\n"


def sandboxed(sandbox: Sandbox) -> Callable[[], None]:
    def run() -> None:
        result = sandbox.run_code("print(1)")
        assert result.ok and result.stdout == "1\n", result.stderr

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    caps = sandbox_capabilities()
    contenders: dict[str, Callable[[], None]] = {"bare python -I": baseline}
    if caps.bubblewrap:
        contenders["sandbox, bubblewrap"] = sandboxed(Sandbox(use_bubblewrap=True))
    contenders["sandbox, no bubblewrap"] = sandboxed(Sandbox(use_bubblewrap=False))
    for fn in contenders.values():  # warm the page cache and the probe
        fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, fn in contenders.items():
            samples[name].append(timed(fn))
    base = statistics.median(samples["bare python -I"])
    print(f"bubblewrap: {'yes' if caps.bubblewrap else 'no'} ({caps.reason})")
    print(f"{'contender':<24} {'median ms':>10} {'p90 ms':>8} {'x bare':>7}")
    worst = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<24} {median:>10.1f} {p90:>8.1f} {median / base:>7.2f}")
        if name != "bare python -I":
            worst = max(worst, median)
    met = worst < TARGET_MS
    print(f"target: sandbox median < {TARGET_MS:.0f} ms -> {'met' if met else 'NOT met'} ({worst:.1f} ms)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
