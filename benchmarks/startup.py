"""Start-up benchmark: process start → main window painted, median of N runs.

Baseline in the same run: a bare PySide6 QMainWindow measured the same way, so the ratio says what
Nexus Studio adds on top of Qt itself on this (shared, noisy) machine. Target: median ≤ 1.0 s.

    .venv/bin/python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE_QT = r"""
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow(); window.resize(1360, 860)
class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            open(sys.argv[1], "w").write(json.dumps({"painted_at": time.time(), "heavy_modules": []}))
            QTimer.singleShot(0, app.quit)
            obj.removeEventFilter(self)
        return False
watch = Watch(); window.installEventFilter(watch); window.show(); app.exec()
"""


def measure(command: list[str], report: Path, env: dict[str, str]) -> tuple[float, list[str]]:
    report.unlink(missing_ok=True)
    started = time.time()
    subprocess.run([*command, str(report)], env=env, check=True, capture_output=True, timeout=120)
    data = json.loads(report.read_text())
    return data["painted_at"] - started, data["heavy_modules"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NEXUS_HOME=str(Path(tmp) / "home"), QT_QPA_PLATFORM="offscreen")
        report = Path(tmp) / "report.json"
        app_cmd = [sys.executable, str(ROOT / "main.py"), "--startup-report"]
        bare_cmd = [sys.executable, "-c", BARE_QT]
        measure(app_cmd, report, env)  # warm the OS file cache and create the data folder once
        app_times, bare_times, heavy = [], [], set()
        for _ in range(args.runs):  # interleaved, so machine noise hits both alike
            seconds, loaded = measure(app_cmd, report, env)
            app_times.append(seconds)
            heavy.update(loaded)
            bare_times.append(measure(bare_cmd, report, env)[0])
    app_median, bare_median = statistics.median(app_times), statistics.median(bare_times)
    print(f"start → window painted, {args.runs} runs (offscreen)")
    print(f"  Nexus Studio   median {app_median:.3f} s  (min {min(app_times):.3f}, max {max(app_times):.3f})")
    print(f"  bare Qt window median {bare_median:.3f} s  (min {min(bare_times):.3f}, max {max(bare_times):.3f})")
    print(f"  ratio app/bare {app_median / bare_median:.2f}x")
    print(f"  target median ≤ 1.0 s: {'met' if app_median <= 1.0 else 'NOT met'}")
    print(f"  heavy libraries imported before the paint: {sorted(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
