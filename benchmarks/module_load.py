"""Module benchmarks: hot load of an installed module, and full validation of a built-in one (medians).

* Hot load: a warm spare worker (sandbox started, SDK and libraries imported) is handed the module: copy its
  files, allow its hosts, import it, instantiate the adapter, describe its operations. Target median < 100 ms.
  Baseline in the same run: a cold load (a new sandboxed interpreter started for it).
* Validation: schema + files + compile + AST gate + the module's own tests in the validation sandbox.
  Target median < 3 s. Baseline: the same sandbox running an empty script.

    .venv/bin/python benchmarks/module_load.py [--runs 10] [--module weather_openmeteo]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_core.modules.manifest import load_manifest
from nexus_core.modules.registry import BUILTIN_DIR
from nexus_core.modules.validate import validate_module
from nexus_core.modules.worker import ModuleWorker, start_host
from nexus_core.sandbox import Sandbox, SandboxMode, sandbox_capabilities


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--module", default="weather_openmeteo")
    args = parser.parse_args()
    folder = BUILTIN_DIR / args.module
    manifest = load_manifest(folder)
    caps = sandbox_capabilities()
    print(f"sandbox: {caps.strength} ({caps.reason})")

    hot, cold = [], []
    for _ in range(args.runs):
        spare = start_host()  # ready before the clock starts, as the pool keeps one
        started = time.perf_counter()
        worker = ModuleWorker(folder, manifest, config={}, credentials={}, process=spare)
        hot.append(time.perf_counter() - started)
        worker.close()
        started = time.perf_counter()
        worker = ModuleWorker(folder, manifest, config={}, credentials={})
        cold.append(time.perf_counter() - started)
        worker.close()
    print(f"hot load of {args.module}: median {median_ms(hot):.0f} ms over {args.runs} runs (target < 100 ms); "
          f"cold load (new interpreter) median {median_ms(cold):.0f} ms; ratio {median_ms(hot) / median_ms(cold):.2f}")

    runs = max(3, args.runs // 2)
    checks, empty = [], []
    for _ in range(runs):
        started = time.perf_counter()
        report = validate_module(folder)
        checks.append(time.perf_counter() - started)
        if not report.passed:
            print(f"validation FAILED: {report.to_dict()}")
            return 1
        started = time.perf_counter()
        Sandbox(SandboxMode.VALIDATE).run_code("pass\n")
        empty.append(time.perf_counter() - started)
    print(f"full validation of {args.module}: median {statistics.median(checks):.2f} s over {runs} runs "
          f"(target < 3 s); empty validate-mode sandbox run median {statistics.median(empty):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
