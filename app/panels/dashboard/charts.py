"""The dashboard's charts: categorical bars, a labelled heatmap and time lines, each with hover details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

PALETTE = ("#2e86de", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#d35400", "#2c3e50", "#f1c40f",
           "#7f8c8d")


class _HoverPlot(pg.PlotWidget):
    """A plot that reports what is under the mouse through ``describe(x, y) -> str`` into ``hover_text``."""

    def __init__(self, title: str) -> None:
        super().__init__(background=None)
        self.setTitle(title)
        self.setMinimumHeight(220)
        self.hover_text = ""
        self.describe: Callable[[float, float], str] = lambda _x, _y: ""
        self.scene().sigMouseMoved.connect(self._moved)

    def _moved(self, pos: QPointF) -> None:
        point = self.plotItem.vb.mapSceneToView(pos)
        self.hover_text = self.describe(point.x(), point.y())
        self.setToolTip(self.hover_text)


class BarChart(_HoverPlot):
    """One bar per category (several series side by side); categories on the x axis."""

    def set_bars(self, categories: list[str], series: dict[str, list[float]]) -> None:
        self.clear()
        self.categories, self.series = categories, series
        count = max(1, len(series))
        width = 0.8 / count
        legend = self.addLegend(offset=(-10, 10)) if count > 1 else None
        for index, (name, values) in enumerate(series.items()):
            xs = np.arange(len(categories)) - 0.4 + width * (index + 0.5)
            bars = pg.BarGraphItem(x=xs, height=values, width=width, brush=PALETTE[index % len(PALETTE)])
            self.addItem(bars)
            if legend is not None:
                legend.addItem(bars, name)
        self.getAxis("bottom").setTicks([list(enumerate(_short(c) for c in categories))])

        def describe(x: float, _y: float) -> str:
            index = round(x)
            if not 0 <= index < len(categories):
                return ""
            return categories[index] + ": " + ", ".join(f"{name} {values[index]:g}" for name, values in
                                                        series.items())

        self.describe = describe


class Heatmap(_HoverPlot):
    """Rows × columns of counts as colours, with the labels on the axes."""

    def set_matrix(self, rows: list[str], columns: list[str], values: np.ndarray) -> None:
        self.clear()
        self.rows, self.columns, self.values = rows, columns, values
        self.empty_note = None
        if not values.size:  # a blank note, not one solid block of the colour map's lowest colour
            self.empty_note = pg.TextItem("No calls in this range", color="#888888", anchor=(0.5, 0.5))
            self.empty_note.setPos(0.5, 0.5)
            self.addItem(self.empty_note)
            self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        else:
            image = pg.ImageItem(values.T)
            image.setColorMap(pg.colormap.get("viridis"))
            self.addItem(image)
        self.getAxis("bottom").setTicks([[(i + 0.5, _short(c)) for i, c in enumerate(columns)]])
        self.getAxis("left").setTicks([[(i + 0.5, _short(r, 28)) for i, r in enumerate(rows)]])

        def describe(x: float, y: float) -> str:
            col, row = int(x), int(y)
            if 0 <= row < len(rows) and 0 <= col < len(columns) and x >= 0 and y >= 0:
                return f"{rows[row]} · {columns[col]}: {int(values[row, col])} calls"
            return ""

        self.describe = describe


class TimeLines(_HoverPlot):
    """Lines over time (epoch seconds on a date axis, unless ``dates`` is False), one per series. The line
    items are kept and given new data on each refresh (building them again costs more than drawing)."""

    def __init__(self, title: str, unit: str, *, dates: bool = True) -> None:
        super().__init__(title)
        if dates:
            self.setAxisItems({"bottom": pg.DateAxisItem()})
        self.setLabel("left", unit)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.lines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._items: dict[str, Any] = {}
        self._legend = self.addLegend(offset=(-10, 10))

        def describe(x: float, _y: float) -> str:
            found = []
            for name, (xs, ys) in self.lines.items():
                if len(xs):
                    i = int(np.argmin(np.abs(xs - x)))
                    found.append(f"{name}: {ys[i]:.0f}")
            return "; ".join(found)

        self.describe = describe

    def set_lines(self, lines: dict[str, tuple[list[float], list[float]]]) -> None:
        self.lines = {k: (np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for k, (x, y) in lines.items()}
        for name in [n for n in self._items if n not in self.lines]:
            self.removeItem(self._items.pop(name))
        for name, (xs, ys) in self.lines.items():
            item = self._items.get(name)
            if item is None:
                colour = PALETTE[len(self._items) % len(PALETTE)]
                item = self._items[name] = self.plot(pen=pg.mkPen(colour, width=2), name=name)
            item.setData(xs, ys)


def _short(text: str, limit: int = 16) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def grab_png(widget: Any, path: str) -> bool:
    return bool(widget.grab().save(path, "PNG"))
