"""The co-evolution loop at a glance: on/off and its daily budget, a round on demand, build success over time,
failures by category, the template versions it wrote, and the challenges it set itself."""

from __future__ import annotations

import time
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.panels.registry import Panel
from app.widgets.keyed_table import KEY_ROLE, KeyedTable
from app.widgets.status_label import StatusLabel
from nexus_core.evolve.records import FAILURE_CATEGORIES
from nexus_core.jobs.models import JobEvent, JobState


class EvolutionPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.evolve = ctx.core.evolve
        self._jobs: dict[str, Any] = {}
        title = QLabel("Evolution")
        title.setObjectName("panelTitle")
        self.enabled_check = QCheckBox("Practise in the background")
        self.enabled_check.setToolTip("Every few minutes, set a challenge against a local mock service and build "
                                      "a module for it; passes become examples in a new template version.")
        self.enabled_check.setChecked(ctx.core.settings.evolve_enabled)
        self.enabled_check.toggled.connect(self._set_enabled)
        self.budget_spin = QSpinBox()
        self.budget_spin.setRange(1, 10000)
        self.budget_spin.setSuffix(" model calls a day")
        self.budget_spin.setValue(ctx.core.settings.evolve_daily_calls)
        self.budget_spin.setToolTip("At most this many model calls a day go to background practice (saved as a "
                                    "setting)")
        self.budget_spin.valueChanged.connect(self._set_budget)
        self.run_button = QPushButton("Run one round now")
        self.run_button.setToolTip("Set one challenge and build a module for it now, whether or not background "
                                   "practice is on")
        self.run_button.clicked.connect(self.run_round)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        for widget in (self.enabled_check, self.budget_spin, self.run_button):
            header.addWidget(widget)

        self.success_plot = pg.PlotWidget(background=None)
        self.success_plot.setTitle("Build success rate (last 10 rounds)")
        self.success_plot.setLabel("bottom", "round")
        self.success_plot.setYRange(0, 1)
        self.success_curve = self.success_plot.plot([], [], pen=pg.mkPen("#2e86de", width=2), symbol="o",
                                                    symbolSize=6)
        self.failure_plot = pg.PlotWidget(background=None)
        self.failure_plot.setTitle("Failures by category")
        self.failure_bars = pg.BarGraphItem(x=list(range(len(FAILURE_CATEGORIES))), height=[0] * len(
            FAILURE_CATEGORIES), width=0.6, brush="#e67e22")
        self.failure_plot.addItem(self.failure_bars)
        self.failure_plot.getAxis("bottom").setTicks([list(enumerate(FAILURE_CATEGORIES))])
        self.templates = KeyedTable(["Version", "Examples", "Note", "Written"], 0)
        self.challenges = KeyedTable(["#", "Pattern", "Difficulty", "Outcome", "Why it failed", "Fix rounds",
                                      "Challenge"], 0)
        self.status = StatusLabel()
        grid = QGridLayout()
        grid.addWidget(self.success_plot, 0, 0)
        grid.addWidget(self.failure_plot, 0, 1)
        grid.addWidget(QLabel("Template versions"), 1, 0)
        grid.addWidget(QLabel("Challenges"), 1, 1)
        grid.addWidget(self.templates, 2, 0)
        grid.addWidget(self.challenges, 2, 1)
        grid.setRowStretch(0, 2)
        grid.setRowStretch(2, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.summary)
        layout.addLayout(grid, 1)
        layout.addWidget(self.status)
        self._changed = EmitterBridge(self.evolve.changed, self)
        self._changed.fired.connect(lambda _s: self.refresh())
        ctx.job_events.fired.connect(self._job_event)
        self.refresh()

    # ---- view --------------------------------------------------------------------------------------

    def refresh(self) -> None:
        status = self.evolve.status()
        rate = status["success_rate"]
        self.success_curve.setData([x for x, _ in rate], [y for _, y in rate])
        counts = [status["failure_categories"][c] for c in FAILURE_CATEGORIES]
        self.failure_bars.setOpts(height=counts)
        self.failure_plot.setYRange(0, max(1, *counts))
        difficulty, patterns = status["next"]
        self.summary.setText(f"{status['rounds']} round(s), {status['passed']} passed · model calls today "
                             f"{status['calls_today']} of {status['budget']} · next: difficulty {difficulty} "
                             f"({', '.join(patterns)})")
        self._fill(self.templates, [[f"v{t['version']}", ", ".join(t["patterns"]) or "—", t["note"],
                                     (t["created_at"] or "shipped")[:16].replace("T", " ")]
                                    for t in reversed(status["templates"])])
        self._fill(self.challenges, [[str(c["id"]), c["pattern"], str(c["difficulty"]), c["outcome"] or "running",
                                      c["category"] or "", "" if c["fix_rounds"] is None else str(c["fix_rounds"]),
                                      c["title"]] for c in status["challenges"]])

    @staticmethod
    def _fill(table: KeyedTable, rows: list[list[str]]) -> None:
        table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c == table.key_column:
                    item.setData(KEY_ROLE, value)
                table.setItem(r, c, item)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)

    # ---- actions -----------------------------------------------------------------------------------

    def _set_enabled(self, on: bool) -> None:
        self.ctx.core.settings.evolve_enabled = on
        self.ctx.core.save_settings()
        if on:
            self.evolve.start_background(lambda fn, name: self.ctx.core.runner.submit(lambda _c: fn(), name=name))
            self.status.show_info(f"The loop runs a round every {self.ctx.core.settings.evolve_interval_min:g} "
                                  "minutes while it has budget.")
        else:
            self.evolve.stop_background()
            self.status.show_info("The loop is off.")

    def _set_budget(self, value: int) -> None:
        self.ctx.core.settings.evolve_daily_calls = value
        self.ctx.core.save_settings()
        self.refresh()

    def run_round(self) -> None:
        self.run_button.setEnabled(False)
        handle = self.ctx.core.runner.submit(lambda _c: self.evolve.run_round().to_dict(), name="Co-evolution round")
        self._jobs[handle.id] = (handle, time.monotonic())
        self.status.show_info("A round is running: challenge, build, real check…")

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        entry = self._jobs.get(job.id)
        if entry is None or not job.state.finished:
            return
        del self._jobs[job.id]
        self.run_button.setEnabled(True)
        if job.state is JobState.SUCCEEDED:
            outcome = entry[0].result(timeout=5)
            text = f"Round {outcome['status']}: {outcome['detail']}"
            (self.status.show_info if outcome["status"] == "passed" else self.status.show_error)(text)
        else:
            self.status.show_error(f"The round failed: {(job.error or '').splitlines()[0] if job.error else ''}")
        self.refresh()

    def panel_shown(self) -> None:
        self.refresh()

    def shutdown(self) -> None:
        self._changed.close()

