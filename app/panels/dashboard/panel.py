"""The observability dashboard: LLM calls of a time range by task type and model, latency and time to first
token over time, tokens/s, routing between tiers and models, cost per day (and the price table that prices
it), module health and co-evolution progress. Queries run on a worker thread; the view only draws."""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
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
from app.panels.dashboard.charts import BarChart, Heatmap, TimeLines, grab_png
from app.panels.monitor.cards import StatCard
from app.panels.registry import Panel
from app.widgets.status_label import StatusLabel
from app.workers import run_blocking
from nexus_core.errors import NexusError
from nexus_core.observability.stats import CallFilter, CallStats
from nexus_core.routing.table import Price
from nexus_core.units import human_size

RANGES = (("Last hour", 3600), ("Last 24 hours", 86400), ("Last 7 days", 7 * 86400), ("Last 30 days", 30 * 86400),
          ("Last 90 days", 90 * 86400))
HEALTH_COLOURS = {"green": "#27ae60", "yellow": "#f1c40f", "red": "#c0392b", "grey": "#95a5a6"}
REFRESH_MS = 15_000


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setMinimumHeight(180)
    return table


def _fill(table: QTableWidget, rows: list[list[Any]]) -> None:
    """Replace the rows; columns sized to the contents once at the end (sizing per cell costs more than the
    rest of a refresh)."""
    table.setUpdatesEnabled(False)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = "—" if value is None else f"{value:,.0f}" if isinstance(value, float) and abs(value) >= 100 \
                else f"{value:.2f}" if isinstance(value, float) else str(value)
            item = QTableWidgetItem(text)
            if isinstance(value, (int, float)):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()
    table.setUpdatesEnabled(True)


def _box(title: str, widget: QWidget, *extra: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.addWidget(widget, 1)
    for item in extra:
        layout.addWidget(item)
    return box


class DashboardPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.stats: CallStats | None = None
        self._pending: Any = None
        self._steps: list[Any] = []  # the drawing of the last result, a piece per event-loop turn
        self._dirty = False
        self._started = 0.0

        self.range_combo = QComboBox()
        for label, seconds in RANGES:
            self.range_combo.addItem(label, seconds)
        self.range_combo.setCurrentIndex(1)
        self.range_combo.setToolTip("The time range the numbers and charts cover")
        self.provider_combo, self.model_combo, self.task_combo = QComboBox(), QComboBox(), QComboBox()
        for combo, everything, one in ((self.provider_combo, "All providers", "provider"),
                                       (self.model_combo, "All models", "model"),
                                       (self.task_combo, "All task types", "task type")):
            combo.addItem(everything, None)
            combo.setMinimumContentsLength(14)
            combo.setToolTip(f"Count only the calls of one {one}")
        for combo in (self.range_combo, self.provider_combo, self.model_combo, self.task_combo):
            combo.activated.connect(lambda _i: self.refresh())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the call records again")
        self.refresh_button.clicked.connect(self.refresh)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setToolTip("Save the numbers shown as a CSV file, for a spreadsheet")
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.png_button = QPushButton("Export PNG…")
        self.png_button.setToolTip("Save a picture of the dashboard as a PNG file")
        self.png_button.clicked.connect(lambda: self.export_png())
        bar = QHBoxLayout()
        for widget in (self.range_combo, self.provider_combo, self.model_combo, self.task_combo):
            bar.addWidget(widget)
        bar.addStretch(1)
        for widget in (self.refresh_button, self.csv_button, self.png_button):
            bar.addWidget(widget)
        self.status = StatusLabel()
        self.updated = QLabel("")
        self.updated.setObjectName("muted")

        self.cards = {key: StatCard(title, tip) for key, title, tip in (
            ("calls", "Calls", "LLM requests in the range, retries and fallbacks included"),
            ("errors", "Failed", "Calls that ended in an error"),
            ("tokens", "Tokens", "Input and output tokens"),
            ("cost", "Cost", "From the prices set when each call was made; calls without one use today's table"),
            ("fallbacks", "Retries / fallbacks", "Calls that were a second or later attempt"))}
        self.task_chart = BarChart("Calls by task type")
        self.heatmap = Heatmap("Model × task type")
        self.latency_chart = TimeLines("Latency p95 by model", "ms")
        self.model_table = _table(["Model", "Calls", "Failed %", "p50 ms", "p95 ms", "p99 ms", "TTFT p50", "TTFT p95",
                                   "Tokens/s"])
        self.routing_table = _table(["Tier", "Model", "Calls", "Share"])
        self.cost_chart = BarChart("Cost per day by provider (US$)")
        self.price_table = _table(["Model (provider/model)", "$ / M input", "$ / M output"])
        self.price_table.setEditTriggers(QTableWidget.EditTrigger.AllEditTriggers)
        self.add_price_button = QPushButton("Add row")
        self.add_price_button.setToolTip("Add an empty row to the price table, for a model not listed yet")
        self.add_price_button.clicked.connect(self._add_price_row)
        self.save_prices_button = QPushButton("Save prices")
        self.save_prices_button.setToolTip("Check and save the price table; a bad row is named and nothing is saved")
        self.save_prices_button.clicked.connect(self.save_prices)
        price_buttons = QWidget()
        row = QHBoxLayout(price_buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.add_price_button)
        row.addWidget(self.save_prices_button)
        row.addStretch(1)
        self.price_status = StatusLabel()
        self.module_table = _table(["Module", "Version", "State", "Health", "Circuit"])
        self.job_table = _table(["Job", "State", "Ran", "Peak RAM", "Peak GPU memory", "Peak GPU load"])
        self.evolve_chart = TimeLines("Co-evolution: build success over the last 10 rounds, by round", "share",
                                      dates=False)
        self.evolve_label = QLabel("")

        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        cards = QHBoxLayout()
        for card in self.cards.values():
            cards.addWidget(card)
        grid.addLayout(cards, 0, 0, 1, 2)
        grid.addWidget(_box("Query categories", self.task_chart), 1, 0)
        grid.addWidget(_box("Which model serves which task", self.heatmap), 1, 1)
        grid.addWidget(_box("Latency over time", self.latency_chart), 2, 0)
        grid.addWidget(_box("Per model: latency, time to first token, tokens/s", self.model_table), 2, 1)
        grid.addWidget(_box("Routing: tier → model", self.routing_table), 3, 0)
        grid.addWidget(_box("Token economics", self.cost_chart), 3, 1)
        grid.addWidget(_box("Price table (used for calls without a recorded cost, and by the router)",
                            self.price_table, price_buttons, self.price_status), 4, 0)
        grid.addWidget(_box("Module health", self.module_table), 4, 1)
        grid.addWidget(_box("Jobs: memory while they ran (the app's, for jobs in its own process)", self.job_table),
                       5, 0)
        grid.addWidget(_box("Self-evolution", self.evolve_chart, self.evolve_label), 5, 1)
        self.grid_widget = grid_widget
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_widget)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.updated)
        layout.addWidget(scroll, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        ctx.routing_changed.fired.connect(lambda _t: self._show_prices())
        ctx.module_events.fired.connect(lambda _n: self.refresh())
        self._show_prices()

    # ---- data ----------------------------------------------------------------------------------------

    def current_filter(self) -> CallFilter:
        now = time.time()
        return CallFilter(now - float(self.range_combo.currentData()), now, self.provider_combo.currentData(),
                          self.model_combo.currentData(), self.task_combo.currentData())

    def refresh(self) -> None:
        """Query on a worker thread; a refresh asked for meanwhile runs when this one is drawn."""
        if self.busy:
            self._dirty = True
            return
        core = self.ctx.core
        flt = self.current_filter()
        prices = {ref: (p.input_per_mtok, p.output_per_mtok) for ref, p in core.routing.table.prices.items()}

        def load() -> tuple[CallStats, list[Any], dict[str, Any], list[Any]]:
            jobs = core.observability.jobs
            return (core.observability.stats.compute(flt, prices=prices), core.modules.statuses(),
                    core.evolve.status(), [*jobs.running(), *jobs.recent(30, since=flt.since)])

        self._started = time.perf_counter()
        self._pending = run_blocking(load, parent=self, on_done=self._loaded, on_error=self._failed)

    def _failed(self, error: BaseException) -> None:
        self._pending = None
        message = error.user_message() if isinstance(error, NexusError) else f"{type(error).__name__}: {error}"
        self.status.show_error(f"The dashboard could not be refreshed: {message}")

    @property
    def busy(self) -> bool:
        """A query is running or its result is still being drawn."""
        return self._pending is not None or bool(self._steps)

    def _loaded(self, result: tuple[CallStats, list[Any], dict[str, Any], list[Any]]) -> None:
        """Draw the result a piece per event-loop turn, so no single step keeps the window waiting."""
        self._pending = None
        took = time.perf_counter() - self._started
        self.timer.setInterval(max(REFRESH_MS, int(3000 * took)))  # a slow history is not queried back to back
        stats, modules, evolve, jobs = result
        self.stats = stats
        self._steps = [lambda: self._show_cards(stats), lambda: self._show_tasks(stats),
                       lambda: self._show_latency(stats), lambda: self._show_tables(stats),
                       lambda: self._show_cost(stats), lambda: self._show_modules(modules),
                       lambda: self._show_evolution(evolve), lambda: self._show_jobs(jobs),
                       lambda: self._show_status(stats)]
        self._draw_next()

    def _draw_next(self) -> None:
        if self._steps:
            self._steps.pop(0)()
        if self._steps:
            # a 1 ms timer, not 0: a zero timer's step runs in the same event-loop pass as the one before it,
            # where input and paint events would wait for all of them
            QTimer.singleShot(1, self._draw_next)
        elif self._dirty:
            self._dirty = False
            self.refresh()

    def _show_status(self, stats: CallStats) -> None:
        notes = list(stats.problems)
        if stats.approximate:
            notes.append("Latency percentiles here are counted in 5 %-wide buckets (a range this large is read from "
                         "hourly totals, and days past the retention age are kept as daily ones): within a few "
                         "percent of the exact values.")
        if notes:
            (self.status.show_error if stats.problems else self.status.show_info)(" ".join(notes))
        else:
            self.status.clear_message()
        self.updated.setText(f"Updated {time.strftime('%H:%M:%S')} · refreshes every {self.timer.interval() // 1000} s "
                             "while shown")

    # ---- drawing -------------------------------------------------------------------------------------

    def _show_cards(self, stats: CallStats) -> None:
        self.cards["calls"].set(f"{stats.calls:,}", f"{len(stats.models)} model(s)")
        failed = 100 * stats.errors / stats.calls if stats.calls else 0.0
        self.cards["errors"].set(f"{stats.errors:,}", f"{failed:.1f} % of calls")
        self.cards["tokens"].set(f"{stats.input_tokens + stats.output_tokens:,}",
                                 f"{stats.input_tokens:,} in · {stats.output_tokens:,} out")
        estimated = f" ({stats.estimated_cost_usd:.4f} priced now)" if stats.estimated_cost_usd else ""
        self.cards["cost"].set(f"${stats.cost_usd:.4f}", f"in the range{estimated}")
        self.cards["fallbacks"].set(f"{stats.fallbacks:,}", "second or later attempts")
        self._keep_choices(stats)

    def _show_tasks(self, stats: CallStats) -> None:
        tasks = list(stats.by_task)
        self.task_chart.set_bars(tasks, {"calls": [float(stats.by_task[t]) for t in tasks]})
        models = sorted({m for m, _t in stats.model_by_task})
        matrix = np.array([[stats.model_by_task.get((m, t), 0) for t in tasks] for m in models], dtype=float)
        self.heatmap.set_matrix(models, tasks, matrix.reshape(len(models), len(tasks)))

    def _show_latency(self, stats: CallStats) -> None:
        self.latency_chart.set_lines({name: ([p[0] for p in points], [p[2] for p in points])
                                      for name, points in stats.latency_over_time.items()})

    def _show_tables(self, stats: CallStats) -> None:
        _fill(self.model_table, [[f"{m.provider}/{m.model}", m.calls, 100 * m.error_rate, m.latency_ms.get(50),
                                  m.latency_ms.get(95), m.latency_ms.get(99), m.ttft_ms.get(50), m.ttft_ms.get(95),
                                  m.output_tokens_per_s] for m in stats.models])
        flows = sorted(stats.tier_flow.items(), key=lambda kv: -kv[1])
        _fill(self.routing_table, [[tier, model, n, f"{100 * n / max(1, stats.calls):.1f} %"]
                                   for (tier, model), n in flows])

    def _show_cost(self, stats: CallStats) -> None:
        days = sorted({d for d, _p, _t in stats.cost_by_day})
        by_provider: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
        for (day, provider, _task), cost in stats.cost_by_day.items():
            by_provider[provider][days.index(day)] += cost
        self.cost_chart.set_bars(days, dict(by_provider))

    def _keep_choices(self, stats: CallStats) -> None:
        """The filter combos offer what the range holds (the current choice stays)."""
        found = {self.provider_combo: sorted({m.provider for m in stats.models}),
                 self.model_combo: sorted({m.model for m in stats.models}), self.task_combo: list(stats.by_task)}
        for combo, values in found.items():
            current = combo.currentData()
            known = {combo.itemData(i) for i in range(1, combo.count())}
            for value in values:
                if value not in known:
                    combo.addItem(value, value)
            if current is not None:
                combo.setCurrentIndex(max(0, combo.findData(current)))

    def _show_modules(self, statuses: list[Any]) -> None:
        _fill(self.module_table, [[s.display_name, s.version, s.state, s.health, s.breaker] for s in statuses])
        for row, status in enumerate(statuses):
            item = self.module_table.item(row, 3)
            item.setBackground(QColor(HEALTH_COLOURS.get(status.health, "#95a5a6")))

    def _show_jobs(self, jobs: list[Any]) -> None:
        def size(value: int | None) -> str:
            return human_size(value) if value else "—"

        _fill(self.job_table, [[j.name, j.state, f"{max(0.0, (j.finished_at or time.time()) - j.started_at):.1f} s",
                                size(j.peak_ram_bytes), size(j.peak_gpu_bytes),
                                f"{j.peak_gpu_util:.0f} %" if j.peak_gpu_util is not None else "—"] for j in jobs])

    def _show_evolution(self, status: dict[str, Any]) -> None:
        rate = status.get("success_rate") or []
        self.evolve_chart.set_lines({"success": ([float(i) for i, _s in rate], [float(s) for _i, s in rate])}
                                    if rate else {})
        versions = status.get("templates") or []
        self.evolve_label.setText(f"{status.get('rounds', 0)} round(s), {status.get('passed', 0)} passed · template "
                                  f"version {versions[-1]['version'] if versions else 1} · "
                                  f"{'on' if status.get('enabled') else 'off'}, {status.get('calls_today', 0)}/"
                                  f"{status.get('budget', 0)} calls today")

    # ---- prices ------------------------------------------------------------------------------------

    def _show_prices(self) -> None:
        prices = self.ctx.core.routing.table.prices
        self.price_table.setRowCount(0)
        _fill(self.price_table, [[ref, p.input_per_mtok, p.output_per_mtok] for ref, p in sorted(prices.items())])

    def _add_price_row(self) -> None:
        self.price_table.insertRow(self.price_table.rowCount())

    def save_prices(self) -> None:
        """Validate every row (naming the bad one) and save the table; nothing is saved if a row is wrong."""
        prices: dict[str, Price] = {}
        for row in range(self.price_table.rowCount()):
            cells = [self.price_table.item(row, c).text().strip() if self.price_table.item(row, c) else ""
                     for c in range(3)]
            if not any(cells):
                continue
            ref, *amounts = cells
            if "/" not in ref:
                self.price_status.show_error(f"Row {row + 1}: write the model as provider/model, e.g. openai/gpt-4o.")
                return
            try:
                prices[ref] = Price(input_per_mtok=float(amounts[0].replace("$", "") or 0),
                                    output_per_mtok=float(amounts[1].replace("$", "") or 0))
            except ValueError:
                self.price_status.show_error(f"Row {row + 1} ({ref}): prices are numbers of US dollars per million "
                                             "tokens, 0 or more.")
                return
        table = self.ctx.core.routing.table
        table.prices = prices
        self.ctx.core.routing.save(table)
        self.price_status.show_info(f"Saved {len(prices)} price(s); calls without a recorded cost use them now.")
        self.refresh()

    # ---- export --------------------------------------------------------------------------------------

    def export_csv(self, path: str | None = None) -> Path | None:
        if self.stats is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "nexus-calls.csv", "CSV (*.csv)")
            if not path:
                return None
        stats = self.stats
        rows: list[list[Any]] = [["section", "key", "detail", "value"],
                                 ["summary", "calls", "", stats.calls], ["summary", "failed", "", stats.errors],
                                 ["summary", "input_tokens", "", stats.input_tokens],
                                 ["summary", "output_tokens", "", stats.output_tokens],
                                 ["summary", "cost_usd", "", round(stats.cost_usd, 6)]]
        rows += [["task_type", task, "", n] for task, n in stats.by_task.items()]
        rows += [["model_task", model, task, n] for (model, task), n in stats.model_by_task.items()]
        for m in stats.models:
            name = f"{m.provider}/{m.model}"
            rows += [["model_latency_ms", name, f"p{p}", v] for p, v in m.latency_ms.items()]
            rows += [["model_ttft_ms", name, f"p{p}", v] for p, v in m.ttft_ms.items()]
            rows.append(["model_tokens_per_s", name, "", m.output_tokens_per_s])
        rows += [["routing", tier, model, n] for (tier, model), n in stats.tier_flow.items()]
        rows += [["cost_usd", day, f"{provider} {task}", round(c, 6)] for (day, provider, task), c in
                 sorted(stats.cost_by_day.items())]
        target = Path(path)
        with target.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        self.status.show_info(f"Exported {len(rows) - 1} rows to {target}")
        return target

    def export_png(self, path: str | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export PNG", "nexus-dashboard.png", "PNG (*.png)")
            if not path:
                return None
        if not grab_png(self.grid_widget, path):
            self.status.show_error(f"{path} could not be written.")
            return None
        return Path(path)

    # ---- lifecycle -----------------------------------------------------------------------------------

    def panel_shown(self) -> None:
        self.refresh()
        self.timer.start()

    def panel_hidden(self) -> None:
        self.timer.stop()

    def shutdown(self) -> None:
        self.timer.stop()
