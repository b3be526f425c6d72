"""GUI responsiveness benchmark: the event loop's worst lateness while CPU-heavy jobs run.

The real main window runs over a real core (temporary data folder) with the Monitor panel drawing
live samples at 0.25 s. ``LatencyProbe`` ticks every 10 ms and records how late each tick fires:
first with nothing running (baseline, same run), then while a pure-Python CPU-bound *thread* job
competes for the interpreter lock, then while a CPU-bound *process* job runs. The interpreter is tuned
as the app tunes it (``app.main.tune_interpreter_for_gui``). Target: worst stall
< 50 ms with a job running.

    .venv/bin/python benchmarks/responsiveness.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication

from app.context import AppContext
from app.diagnostics import LatencyProbe, LatencyStats
from app.errors import ExceptionRouter
from app.gc_policy import GuiGarbageCollector
from app.main import tune_interpreter_for_gui
from app.panels import load_builtin_panels
from app.window import MainWindow
from nexus_core.core import Core
from nexus_core.jobs import JobContext


def cpu_burn(ctx: JobContext, seconds: float) -> int:
    """Pure-Python arithmetic: holds the GIL as much as Python code can."""
    deadline = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < deadline:
        for i in range(20_000):
            total += i * i % 7
        ctx.check()
        ctx.progress(min(1.0, 1 - (deadline - time.perf_counter()) / seconds), "burning")
    return total


def probe_for(app: QApplication, seconds: float) -> LatencyStats:
    probe = LatencyProbe(interval_ms=10)
    probe.start()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    return probe.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    tune_interpreter_for_gui()  # exactly what app.main does
    app = QApplication.instance() or QApplication(sys.argv[:1])
    GuiGarbageCollector(app).install()  # as app.main does: garbage is collected on the GUI thread only
    with tempfile.TemporaryDirectory() as tmp:
        core = Core.open(Path(tmp))
        ctx = AppContext(core)
        ctx.set_theme("light", save=False)
        load_builtin_panels()
        window = MainWindow(ctx, ExceptionRouter(), persist_state=False)
        window.confirm_close = False
        window.show()
        window.show_panel("monitor")
        core.telemetry.interval_s = 0.25
        core.telemetry.start()
        probe_for(app, 1.0)  # let start-up work settle
        results = {"idle (baseline)": probe_for(app, args.seconds)}
        for kind in ("thread", "process"):
            handle = core.runner.submit(cpu_burn, args.seconds + 2, name=f"CPU burn ({kind})", kind=kind)
            while handle.snapshot.state.value == "queued" or (kind == "process" and handle.snapshot.fraction == 0):
                app.processEvents()
                time.sleep(0.01)
            results[f"CPU-heavy {kind} job"] = probe_for(app, args.seconds)
            handle.cancel()
            handle.wait(15)
        window.close()
        ctx.close()
        core.close()
    print(f"event-loop lateness, 10 ms probe, {args.seconds:.0f} s each, Monitor drawing at 4 Hz")
    for name, stats in results.items():
        print(f"  {name:<24} {stats}")
    base = results["idle (baseline)"].worst_ms or 1.0
    for name in ("CPU-heavy thread job", "CPU-heavy process job"):
        worst = results[name].worst_ms
        print(f"  {name}: worst {worst:.1f} ms = {worst / base:.1f}x idle; target < 50 ms: "
              f"{'met' if worst < 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
