"""A time-series chart over the telemetry ring buffer: x is seconds before now, one curve per series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

SERIES_COLOURS = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308"]


NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


class AgoAxis(pg.AxisItem):
    """Bottom axis labelled as time before now ("now", "-30 s", "-5 min") on round steps."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        span = max(1e-9, maxVal - minVal)
        major = next((step for step in NICE_STEPS_S if span / step <= 6), NICE_STEPS_S[-1])
        minor = next((step for step in reversed(NICE_STEPS_S) if step < major and major % step == 0), major)
        return [(major, 0), (minor, 0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        labels = []
        for value in values:
            seconds = -value
            if abs(seconds) < 0.5:
                labels.append("now")
            elif seconds >= 60 and seconds % 60 == 0:
                labels.append(f"-{seconds / 60:g} min")
            else:
                labels.append(f"-{seconds:.0f} s")
        return labels


@dataclass
class _Series:
    key: str
    item: pg.PlotDataItem


class TimeChart(pg.PlotWidget):
    def __init__(self, title: str, unit: str, *, window_s: float, y_max: float | None = None) -> None:
        super().__init__(axisItems={"bottom": AgoAxis(orientation="bottom")})
        self.chart_title = title
        self.unit = unit
        self._series: dict[str, _Series] = {}
        self._y_max = y_max
        self.setMinimumHeight(190)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=True, y=False)
        self.showGrid(x=True, y=True, alpha=0.15)
        self.getPlotItem().setLabel("left", unit)
        self.legend = self.addLegend(offset=(8, 4), labelTextSize="8pt")
        self.set_window(window_s)
        if y_max is not None:
            self.setYRange(0, y_max, padding=0.02)
        else:
            self.enableAutoRange(axis="y")
            self.setLimits(yMin=0)

    def set_window(self, window_s: float) -> None:
        """Limit panning/zooming to the buffer's span."""
        self.setLimits(xMin=-window_s * 1.02, xMax=window_s * 0.01)

    def show_span(self, span_s: float) -> None:
        self.setXRange(-span_s, 0, padding=0)

    def add_series(self, key: str, label: str, colour: str, *, dashed: bool = False, fill: bool = False) -> None:
        pen = pg.mkPen(colour, width=1 if dashed else 2,
                       style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        item = self.plot([], [], pen=pen, name=None if fill else label, connect="finite")
        if fill:
            brush = pg.mkColor(colour)
            brush.setAlpha(45)
            item.setFillLevel(0)
            item.setBrush(brush)
            self.legend.addItem(pg.PlotDataItem(pen=pen), label)  # a line swatch, not the fill's outline
        self._series[key] = _Series(key, item)

    def series_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._series[key].item.getData()
        return (np.asarray(x if x is not None else []), np.asarray(y if y is not None else []))

    def update_series(self, x: np.ndarray, values: dict[str, np.ndarray]) -> None:
        for key, y in values.items():
            self._series[key].item.setData(x, y)

    def apply_theme(self, background: str, foreground: str) -> None:
        self.setBackground(background)
        plot = self.getPlotItem()
        plot.setTitle(self.chart_title, color=foreground, size="10pt")
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(foreground, width=1))
            axis.setTextPen(pg.mkPen(foreground))
        if self.legend is not None:
            self.legend.setLabelTextColor(foreground)
