"""Guards against a Qt binding bug seen in PySide6 6.12.0: every pyqtgraph repaint released one more
reference to Python's ``True`` than it took, and on Python 3.11 the app later died with
"Fatal Python error: bool_dealloc". A long-running monitor repaints all day, so this must hold.
"""

from __future__ import annotations

import gc
import sys

import numpy as np
import pyqtgraph as pg


def test_repainting_charts_does_not_leak_or_over_release_bool_references(qtbot) -> None:
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    curve = plot.plot([], [])
    plot.show()
    qtbot.waitExposed(plot)
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(60):
        x = np.arange(i + 2, dtype=float)
        curve.setData(x, np.sin(x))
        plot.repaint()
    gc.collect()
    after = sys.getrefcount(True), sys.getrefcount(False)
    # A handful of live references may come or go; the bug lost about 8 per repaint.
    assert after[0] - before[0] > -30, f"True lost {before[0] - after[0]} references over 60 repaints"
    assert after[1] - before[1] > -30, f"False lost {before[1] - after[1]} references over 60 repaints"
