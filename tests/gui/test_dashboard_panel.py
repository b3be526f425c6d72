"""The Dashboard through its widgets over real call records: the cards, charts and tables of a range, filters,
hover details, the price table (bad rows named), CSV and PNG export."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem

from app.panels.dashboard.panel import DashboardPanel
from app.window import MainWindow
from nexus_core.providers.records import CallRecord


def _record_calls(window: MainWindow) -> None:
    now = time.time()
    for i in range(40):
        fast = i % 4 != 0
        window.ctx.core.calls.record(CallRecord(
            provider="loc" if fast else "cloud", request_model="small" if fast else "big",
            task_type=("chat", "code_generation", "math")[i % 3], tier="standard" if fast else "heavy",
            latency_ms=100.0 + i * 10, ttft_ms=30.0, input_tokens=200, output_tokens=80,
            cost_usd=None if fast else 0.01, outcome="error" if i == 7 else "ok", started_at=now - 3000 + i * 60))


def _panel(window: MainWindow, qtbot) -> DashboardPanel:  # type: ignore[no-untyped-def]
    panel = window.show_panel("dashboard")
    assert isinstance(panel, DashboardPanel)
    qtbot.waitUntil(lambda: panel.stats is not None and not panel.busy, timeout=10_000)
    return panel


def test_a_range_of_calls_fills_the_cards_charts_and_tables(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    _record_calls(window)
    panel = _panel(window, qtbot)
    assert panel.cards["calls"].value.text() == "40" and panel.cards["errors"].value.text() == "1"
    assert panel.cards["tokens"].value.text() == f"{40 * 280:,}"
    assert panel.cards["cost"].value.text() == "$0.1000"
    assert sorted(panel.task_chart.categories) == ["chat", "code_generation", "math"]
    assert panel.heatmap.values.shape == (2, 3) and panel.heatmap.values.sum() == 40
    assert "calls" in panel.heatmap.describe(0.5, 0.5)  # hover over a cell names model, task and count
    assert panel.heatmap.empty_note is None
    assert panel.model_table.rowCount() == 2 and panel.model_table.item(0, 0).text() == "loc/small"
    assert panel.routing_table.item(0, 0).text() == "standard" and panel.routing_table.item(0, 2).text() == "30"
    assert set(panel.latency_chart.lines) == {"loc/small", "cloud/big"}
    index = panel.provider_combo.findData("cloud")
    panel.provider_combo.setCurrentIndex(index)
    panel.provider_combo.activated.emit(index)
    qtbot.waitUntil(lambda: not panel.busy and panel.stats.calls == 10, timeout=10_000)
    assert panel.model_table.rowCount() == 1 and panel.cards["calls"].value.text() == "10"


def test_the_price_table_is_validated_saved_and_prices_unpriced_calls(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    _record_calls(window)
    panel = _panel(window, qtbot)
    qtbot.mouseClick(panel.add_price_button, Qt.MouseButton.LeftButton)
    row = panel.price_table.rowCount() - 1
    for column, text in enumerate(("small-without-provider", "1", "4")):
        panel.price_table.setItem(row, column, QTableWidgetItem(text))
    qtbot.mouseClick(panel.save_prices_button, Qt.MouseButton.LeftButton)
    assert panel.price_status.is_error and "Row 1" in panel.price_status.text()
    assert window.ctx.core.routing.table.prices == {}
    panel.price_table.item(row, 0).setText("loc/small")
    panel.price_table.item(row, 2).setText("-4")
    qtbot.mouseClick(panel.save_prices_button, Qt.MouseButton.LeftButton)
    assert panel.price_status.is_error and "0 or more" in panel.price_status.text()
    panel.price_table.item(row, 2).setText("$4")
    qtbot.mouseClick(panel.save_prices_button, Qt.MouseButton.LeftButton)
    assert not panel.price_status.is_error
    price = window.ctx.core.routing.table.prices["loc/small"]
    assert (price.input_per_mtok, price.output_per_mtok) == (1.0, 4.0)
    expected = 30 * (200 * 1.0 + 80 * 4.0) / 1e6
    qtbot.waitUntil(lambda: not panel.busy and panel.stats.estimated_cost_usd > 0, timeout=10_000)
    assert abs(panel.stats.estimated_cost_usd - expected) < 1e-9 and "priced now" in panel.cards["cost"].detail.text()


def test_export_writes_csv_and_png(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _record_calls(window)
    panel = _panel(window, qtbot)
    written = panel.export_csv(str(tmp_path / "calls.csv"))
    rows = list(csv.reader(written.open()))
    assert rows[0] == ["section", "key", "detail", "value"] and ["summary", "calls", "", "40"] in rows
    assert any(r[:3] == ["model_latency_ms", "cloud/big", "p95"] for r in rows)
    picture = panel.export_png(str(tmp_path / "dashboard.png"))
    assert picture is not None and picture.stat().st_size > 10_000


def test_an_empty_history_opens_without_problems(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window, qtbot)
    assert panel.cards["calls"].value.text() == "0" and panel.model_table.rowCount() == 0
    assert not panel.status.is_error and panel.module_table.rowCount() >= 1  # the built-in modules
    assert panel.heatmap.empty_note is not None and "No calls" in panel.heatmap.empty_note.toPlainText()
    assert not any(isinstance(item, pg.ImageItem) for item in panel.heatmap.getPlotItem().items)


def test_jobs_show_the_memory_they_used(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    core = window.ctx.core
    gate = threading.Event()
    handle = core.runner.submit(lambda ctx: gate.wait(10), name="Distil a student")
    qtbot.waitUntil(lambda: any(p.name == "Distil a student" for p in core.observability.jobs.running()),
                    timeout=5_000)
    core.telemetry.sample_once()
    gate.set()
    handle.wait(10)
    panel = _panel(window, qtbot)
    rows = [[panel.job_table.item(r, c).text() for c in range(6)] for r in range(panel.job_table.rowCount())]
    [row] = [r for r in rows if r[0] == "Distil a student"]
    assert row[1] == "succeeded" and row[3] != "—"  # the app's RAM while it ran
