"""The Monitor panel: live GPU charts (VRAM, utilisation, temperature, power, per-process memory) from
NVML, CPU and RAM from psutil. Sampling runs on the core's telemetry thread; this panel only draws.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.panels.monitor.cards import StatCard
from app.panels.monitor.charts import SERIES_COLOURS, TimeChart
from app.panels.registry import Panel
from app.theme import colours
from nexus_core.telemetry import GIB, MAX_INTERVAL_S, MIN_INTERVAL_S, GpuSample, Sample

BLUE, ORANGE, GREEN, PURPLE, RED, _ = SERIES_COLOURS
GREY = "#8a94a3"
AUTO_SPANS_S = (60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _fmt(value: float | None, pattern: str, missing: str = "n/a") -> str:
    return pattern.format(value) if value is not None else missing


class MonitorPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.telemetry = ctx.core.telemetry
        status = self.telemetry.open()
        self.gpu_available = status.available
        window_s = self.telemetry.window_s

        # -- controls ------------------------------------------------------------------------
        title = QLabel("Monitor")
        title.setObjectName("panelTitle")
        self.gpu_combo = QComboBox()
        self.gpu_combo.setToolTip("Which GPU the charts show")
        for index, name in enumerate(status.device_names):
            self.gpu_combo.addItem(f"GPU {index} · {name}", index)
        self.gpu_combo.setVisible(self.gpu_available)
        self.gpu_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.interval = QDoubleSpinBox()
        self.interval.setRange(MIN_INTERVAL_S, MAX_INTERVAL_S)
        self.interval.setSingleStep(0.25)
        self.interval.setDecimals(2)
        self.interval.setSuffix(" s")
        self.interval.setValue(self.telemetry.interval_s)
        self.interval.setToolTip("Time between samples (0.25–5 s). Sampling runs in the background.")
        self.interval.valueChanged.connect(self._set_interval)
        self.span = QComboBox()
        self.span.setToolTip("How much history the charts show (Auto grows with the data, up to the buffer)")
        self.span.addItem("Auto", 0.0)
        for minutes in (1, 2, 5, 10, 30, 60):
            if minutes * 60 <= window_s:
                self.span.addItem(f"Last {minutes} min", minutes * 60.0)
        self.span.currentIndexChanged.connect(lambda _i: self.refresh())
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Stop sampling; the charts keep what they have")
        self.pause_button.toggled.connect(self._set_paused)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.gpu_combo)
        header.addWidget(QLabel("Show"))
        header.addWidget(self.span)
        header.addWidget(QLabel("Sample every"))
        header.addWidget(self.interval)
        header.addWidget(self.pause_button)

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        if not self.gpu_available:
            self.banner.setText(f"<b>No NVIDIA GPU available.</b> {status.reason} "
                                "Showing CPU and RAM only.")
        else:
            self.banner.setText(f"NVIDIA driver {status.driver_version}")
            self.banner.setObjectName("muted")

        # -- cards -----------------------------------------------------------------------------
        self.cards = {
            "vram": StatCard("VRAM", "GPU memory in use / total"),
            "gpu_util": StatCard("GPU load", "Share of time a kernel was running; memory-controller load below"),
            "temperature": StatCard("Temperature", "GPU core temperature"),
            "power": StatCard("Power", "Board power draw / enforced limit"),
            "cpu": StatCard("CPU", "All cores"),
            "ram": StatCard("RAM", "System memory in use / total; this app below"),
        }
        cards_row = QHBoxLayout()
        cards_row.setSpacing(8)
        for key, card in self.cards.items():
            card.setVisible(self.gpu_available or key in ("cpu", "ram"))
            cards_row.addWidget(card)

        # -- charts ----------------------------------------------------------------------------
        self.charts: dict[str, TimeChart] = {}
        if self.gpu_available:
            self._chart("vram", "GPU memory", "GiB")
            self.charts["vram"].add_series("used", "used", BLUE, fill=True)
            self.charts["vram"].add_series("total", "total", GREY, dashed=True)
            self._chart("processes", "GPU memory by process", "GiB")
            self.charts["processes"].add_series("self", "this app", GREEN, fill=True)
            self.charts["processes"].add_series("others", "other processes", ORANGE)
            self._chart("util", "Utilisation", "%", y_max=100)
            self.charts["util"].add_series("gpu", "GPU", BLUE)
            self.charts["util"].add_series("memory", "memory controller", PURPLE)
            self._chart("temperature", "Temperature", "°C")
            self.charts["temperature"].add_series("temperature", "GPU", RED)
            self._chart("power", "Power", "W")
            self.charts["power"].add_series("power", "draw", ORANGE, fill=True)
            self.charts["power"].add_series("limit", "limit", GREY, dashed=True)
        self._chart("cpu", "CPU", "%", y_max=100)
        self.charts["cpu"].add_series("cpu", "all cores", BLUE, fill=True)
        self._chart("ram", "RAM", "GiB")
        self.charts["ram"].add_series("used", "system used", PURPLE, fill=True)
        self.charts["ram"].add_series("app", "this app", GREEN)
        self.charts["ram"].add_series("total", "total", GREY, dashed=True)
        for chart in self.charts.values():
            chart.set_window(window_s)
        grid = QGridLayout()
        grid.setSpacing(8)
        for position, chart in enumerate(self.charts.values()):
            grid.addWidget(chart, position // 2, position % 2)

        self.process_table = QTableWidget(0, 4)
        self.process_table.setHorizontalHeaderLabels(["PID", "Process", "GPU memory", "Owner"])
        self.process_table.verticalHeader().setVisible(False)
        self.process_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.process_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.process_table.setMinimumHeight(140)
        self.process_table.setVisible(self.gpu_available)
        self.process_caption = QLabel("Processes using the GPU")
        self.process_caption.setObjectName("muted")
        self.process_caption.setVisible(self.gpu_available)

        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(grid)
        body.addWidget(self.process_caption)
        body.addWidget(self.process_table)
        body.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(content)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addLayout(cards_row)
        layout.addWidget(scroll, 1)

        ctx.telemetry.fired.connect(self._on_sample)
        ctx.theme_changed.connect(self._apply_theme)
        self._apply_theme(ctx.effective_theme)
        self.refresh()

    # -- events ------------------------------------------------------------------------------------
    def panel_shown(self) -> None:
        self.refresh()

    def _on_sample(self, _sample: Sample) -> None:
        if self.isVisible():
            self.refresh()

    def _set_interval(self, value: float) -> None:
        self.telemetry.interval_s = value
        self.ctx.core.settings.monitor_interval_s = value
        self.ctx.core.save_settings()

    def _set_paused(self, paused: bool) -> None:
        if paused:
            self.telemetry.pause()
        else:
            self.telemetry.resume()
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setToolTip("Start sampling again" if paused
                                     else "Stop sampling; the charts keep what they have")

    def _apply_theme(self, theme: str) -> None:
        c = colours(theme)
        for chart in self.charts.values():
            chart.apply_theme(c["base"], c["muted"])

    def _chart(self, key: str, title: str, unit: str, y_max: float | None = None) -> None:
        self.charts[key] = TimeChart(title, unit, window_s=self.telemetry.window_s, y_max=y_max)

    # -- drawing -----------------------------------------------------------------------------------
    def selected_gpu(self) -> int:
        return int(self.gpu_combo.currentData() or 0)

    def visible_span_s(self, samples: list[Sample], now: float) -> float:
        chosen = float(self.span.currentData() or 0.0)
        if chosen:
            return chosen
        history = now - samples[0].timestamp if samples else 0.0
        # Round steps: a steady axis reads better and is not re-laid-out on every sample.
        steps = [s for s in AUTO_SPANS_S if s < self.telemetry.window_s] + [self.telemetry.window_s]
        return next((step for step in steps if history <= step), steps[-1])

    def refresh(self) -> None:
        samples = self.telemetry.samples()
        if not samples:
            return
        now = time.time()
        x = np.fromiter((s.timestamp - now for s in samples), float, len(samples))
        span = self.visible_span_s(samples, now)
        for chart in self.charts.values():
            chart.show_span(span)
        sysm = [s.system for s in samples]
        self.charts["cpu"].update_series(x, {"cpu": np.array([m.cpu_percent for m in sysm])})
        self.charts["ram"].update_series(x, {
            "used": np.array([m.ram_used / GIB for m in sysm]),
            "app": np.array([m.app_rss / GIB for m in sysm]),
            "total": np.array([m.ram_total / GIB for m in sysm]),
        })
        latest = samples[-1]
        self.cards["cpu"].set(f"{latest.system.cpu_percent:.0f}%", f"{latest.system.cpu_count} logical cores")
        self.cards["ram"].set(f"{latest.system.ram_used / GIB:.1f} / {latest.system.ram_total / GIB:.1f} GiB",
                              f"this app {latest.system.app_rss / GIB:.2f} GiB")
        if self.gpu_available:
            self._draw_gpu(x, samples, self.selected_gpu())

    def _draw_gpu(self, x: np.ndarray, samples: list[Sample], index: int) -> None:
        gpus: list[GpuSample | None] = [s.gpus[index] if index < len(s.gpus) else None for s in samples]

        def series(read) -> np.ndarray:
            return np.array([_nan(read(g)) if g is not None else math.nan for g in gpus], dtype=float)

        self.charts["vram"].update_series(x, {"used": series(lambda g: g.memory_used / GIB),
                                              "total": series(lambda g: g.memory_total / GIB)})
        self.charts["processes"].update_series(x, {"self": series(lambda g: g.self_bytes / GIB),
                                                   "others": series(lambda g: g.others_bytes / GIB)})
        self.charts["util"].update_series(x, {"gpu": series(lambda g: g.util_gpu),
                                              "memory": series(lambda g: g.util_memory)})
        self.charts["temperature"].update_series(x, {"temperature": series(lambda g: g.temperature_c)})
        self.charts["power"].update_series(x, {"power": series(lambda g: g.power_w),
                                               "limit": series(lambda g: g.power_limit_w)})
        gpu = gpus[-1]
        if gpu is None:
            return
        used_pct = 100 * gpu.memory_used / gpu.memory_total if gpu.memory_total else 0
        self.cards["vram"].set(f"{gpu.memory_used / GIB:.1f} / {gpu.memory_total / GIB:.1f} GiB",
                               f"{used_pct:.0f}% used · this app {gpu.self_bytes / GIB:.2f} GiB")
        self.cards["gpu_util"].set(_fmt(gpu.util_gpu, "{:.0f}%"), "memory controller "
                                   + _fmt(gpu.util_memory, "{:.0f}%"))
        self.cards["temperature"].set(_fmt(gpu.temperature_c, "{:.0f} °C"), gpu.name)
        self.cards["power"].set(_fmt(gpu.power_w, "{:.0f} W"), "limit " + _fmt(gpu.power_limit_w, "{:.0f} W"))
        self._fill_processes(gpu)

    def _fill_processes(self, gpu: GpuSample) -> None:
        table = self.process_table
        table.setRowCount(len(gpu.processes))
        for row, proc in enumerate(gpu.processes):
            used = f"{proc.used_bytes / GIB:.2f} GiB" if proc.used_bytes is not None else "not reported"
            cells = [str(proc.pid), proc.name, used, "this app" if proc.is_self else "other"]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (0, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, column, item)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
