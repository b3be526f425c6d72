"""``nexus-studio --screenshot DIR``: render the main window and every registered panel to PNG files."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from app.window import MainWindow


def _settle(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


def _save(widget: QWidget, path: Path) -> Path:
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    return path


def take_screenshots(window: MainWindow, out_dir: Path, *, samples: int = 8) -> list[Path]:
    """Collect a few real telemetry samples so the charts show something, then grab each view."""
    out_dir.mkdir(parents=True, exist_ok=True)
    telemetry = window.ctx.core.telemetry
    for _ in range(samples):
        telemetry.sample_once()
        _settle(0.25)
    written = []
    first = window.panel_ids()[0]
    window.show_panel(first)
    _settle(0.3)
    written.append(_save(window, out_dir / "main_window.png"))
    runner = window.ctx.core.runner
    for panel_id in window.panel_ids():
        window.show_panel(panel_id)
        _settle(0.3)
        deadline = time.monotonic() + 20  # a panel may start background work (a model scan): show its result
        while runner.active_count() and time.monotonic() < deadline:
            _settle(0.1)
        _settle(0.2)
        written.append(_save(window, out_dir / f"{panel_id}.png"))
    for name, dock in (("jobs", window.jobs_dock), ("log", window.log_dock)):
        dock.show()
        dock.raise_()
        _settle(0.2)
        written.append(_save(dock, out_dir / f"dock-{name}.png"))
    written += _dialogs(window, out_dir)
    return written


def _dialogs(window: MainWindow, out_dir: Path) -> list[Path]:
    """The settings dialog, and each page of the set-up wizard as Help → Set-up wizard shows it."""
    written = []
    window.show_settings()
    _settle(0.3)
    written.append(_save(window.settings_dialog, out_dir / "dialog-settings.png"))
    window.settings_dialog.close()
    window.show_first_run_wizard()
    wizard = window.first_run_wizard
    for number in range(len(wizard.steps)):
        deadline = time.monotonic() + 20  # what a page checks in the background (PyTorch, servers) shows up
        while time.monotonic() < deadline and wizard.busy:
            _settle(0.1)
        _settle(1.0 if number else 0.3)
        written.append(_save(wizard, out_dir / f"first-run-{number + 1}.png"))
        wizard.next()
    wizard.reject()
    return written
