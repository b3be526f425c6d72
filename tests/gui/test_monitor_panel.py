"""The Monitor panel: psutil for real, NVML through the stand-in library."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QPoint, Qt

from app.panels.monitor.panel import MonitorPanel
from nexus_core.telemetry import GIB
from tests.support.fake_nvml import FakeGpu, FakeNvml


def _sample(window, qtbot, count: int = 1) -> None:
    panel = window.show_panel("monitor")
    for _ in range(count):
        window.ctx.core.telemetry.sample_once()
    before = len(panel.charts["cpu"].series_data("cpu")[1])
    qtbot.waitUntil(lambda: len(panel.charts["cpu"].series_data("cpu")[1]) >= max(before, count), timeout=3000)


def test_without_a_gpu_the_panel_says_so_and_shows_cpu_and_ram(window, qtbot) -> None:
    panel = window.show_panel("monitor")
    assert isinstance(panel, MonitorPanel)
    assert not panel.gpu_available
    assert panel.banner.isVisible()
    assert "No NVIDIA GPU" in panel.banner.text()
    assert set(panel.charts) == {"cpu", "ram"}
    assert not panel.cards["vram"].isVisible() and panel.cards["cpu"].isVisible()
    assert not panel.process_table.isVisible()
    _sample(window, qtbot, 3)
    latest = window.ctx.core.telemetry.latest()
    x, used = panel.charts["ram"].series_data("used")
    assert used[-1] == pytest.approx(latest.system.ram_used / GIB)
    assert x[-1] <= 0 and x[0] <= x[-1]
    assert panel.cards["ram"].value.text() == (f"{latest.system.ram_used / GIB:.1f} / "
                                               f"{latest.system.ram_total / GIB:.1f} GiB")
    assert panel.cards["cpu"].value.text().endswith("%")


def test_gpu_charts_cards_and_process_table_from_nvml(make_window, qtbot) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gpu = FakeGpu(used=6 * GIB, total=24 * GIB, util_gpu=81, util_memory=33, temperature=70,
                      power_mw=301_500, limit_mw=450_000,
                      compute=[(os.getpid(), 2 * GIB), (child.pid, GIB)], graphics=[(1, GIB // 2)])
        window = make_window(nvml=FakeNvml([gpu]))
        panel = window.show_panel("monitor")
        assert panel.gpu_available
        assert {"vram", "processes", "util", "temperature", "power"} <= set(panel.charts)
        _sample(window, qtbot, 2)
        assert panel.charts["vram"].series_data("used")[1][-1] == pytest.approx(6.0)
        assert panel.charts["vram"].series_data("total")[1][-1] == pytest.approx(24.0)
        assert panel.charts["processes"].series_data("self")[1][-1] == pytest.approx(3.0)  # app + its child
        assert panel.charts["processes"].series_data("others")[1][-1] == pytest.approx(3.0)
        assert panel.charts["util"].series_data("gpu")[1][-1] == pytest.approx(81)
        assert panel.charts["util"].series_data("memory")[1][-1] == pytest.approx(33)
        assert panel.charts["power"].series_data("power")[1][-1] == pytest.approx(301.5)
        assert panel.charts["power"].series_data("limit")[1][-1] == pytest.approx(450)
        assert panel.cards["vram"].value.text() == "6.0 / 24.0 GiB"
        assert panel.cards["temperature"].value.text() == "70 °C"
        assert panel.cards["power"].value.text() == "302 W"
        table = panel.process_table
        rows = {table.item(r, 0).text(): table.item(r, 3).text() for r in range(table.rowCount())}
        assert rows == {str(os.getpid()): "this app", str(child.pid): "this app", "1": "other"}
        assert "VRAM 6.0/24.0 GiB" in window.device_label.text()
    finally:
        child.kill()
        child.wait()


def test_unsupported_nvml_fields_show_as_not_available(make_window, qtbot) -> None:
    window = make_window(nvml=FakeNvml([FakeGpu(unsupported={"power", "temperature"})]))
    panel = window.show_panel("monitor")
    _sample(window, qtbot)
    assert panel.cards["power"].value.text() == "n/a"
    assert panel.cards["temperature"].value.text() == "n/a"
    _, power = panel.charts["power"].series_data("power")
    assert power.size and all(v != v for v in power)  # NaN gaps, not zeros


def test_gpu_selector_switches_the_charts(make_window, qtbot) -> None:
    gpus = [FakeGpu(name="GPU A", used=2 * GIB), FakeGpu(name="GPU B", used=9 * GIB, total=48 * GIB)]
    window = make_window(nvml=FakeNvml(gpus))
    panel = window.show_panel("monitor")
    assert panel.gpu_combo.count() == 2 and panel.gpu_combo.isVisible()
    _sample(window, qtbot)
    assert panel.charts["vram"].series_data("used")[1][-1] == pytest.approx(2.0)
    panel.gpu_combo.setCurrentIndex(1)
    assert panel.charts["vram"].series_data("used")[1][-1] == pytest.approx(9.0)
    assert panel.cards["vram"].value.text() == "9.0 / 48.0 GiB"


def test_interval_and_pause_controls_drive_the_sampler(window, qtbot) -> None:
    panel = window.show_panel("monitor")
    telemetry = window.ctx.core.telemetry
    panel.interval.setValue(0.25)
    assert telemetry.interval_s == 0.25
    assert '"monitor_interval_s": 0.25' in window.ctx.core.paths.settings_file.read_text()
    panel.interval.setValue(99)  # the spin box clamps to the allowed range
    assert telemetry.interval_s == 5.0
    panel.interval.setValue(0.25)
    telemetry.start()
    qtbot.waitUntil(lambda: len(telemetry.samples()) >= 2, timeout=5000)
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton, pos=QPoint(4, 4))
    assert telemetry.paused and panel.pause_button.text() == "Resume"
    qtbot.wait(400)
    frozen = len(telemetry.samples())
    qtbot.wait(700)
    assert len(telemetry.samples()) == frozen
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton, pos=QPoint(4, 4))
    qtbot.waitUntil(lambda: len(telemetry.samples()) > frozen, timeout=3000)
    telemetry.stop()


def test_span_selector_sets_the_visible_history(window, qtbot) -> None:
    panel = window.show_panel("monitor")
    _sample(window, qtbot)
    assert panel.charts["cpu"].viewRange()[0][0] == pytest.approx(-60, abs=1)  # Auto: at least a minute
    panel.span.setCurrentIndex(panel.span.findData(300.0))
    assert panel.charts["cpu"].viewRange()[0][0] == pytest.approx(-300, abs=1)
