"""The Agents panel: start a workflow run on a requirement, and watch it over its graph — each step's state,
iteration and tokens live, its messages, the files it wrote, diffs between iterations, the report — with Stop and
Resume. A thin view over ``core.agents``; starting and reading run off the GUI thread or from the store."""

from __future__ import annotations

import difflib
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.panels.pipeline.scene import GraphScene
from app.panels.pipeline.view import GraphView
from app.panels.registry import Panel
from app.widgets.status_label import StatusLabel
from app.workers import run_blocking
from nexus_core.agents.run import RunEvent
from nexus_core.agents.store import RunRecord, StepRecord
from nexus_core.errors import NexusError
from nexus_core.pipeline import serialize
from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.history import GraphHistory

STATE_HEALTH = {"running": "running", "succeeded": "ok", "failed": "failed", "stopped": "skipped"}
RUN_MARKS = {"running": "▶", "succeeded": "✔", "failed": "✖", "stopped": "■"}


class RunScene(GraphScene):
    """The workflow graph, for watching: nothing can be moved, linked, toggled or deleted."""

    def _add_node_item(self, node_id: str) -> None:
        super()._add_node_item(node_id)
        item = self.node_items[node_id]
        item.setFlag(item.GraphicsItemFlag.ItemIsMovable, False)

    def toggle_enabled(self, node_id: str) -> None:
        pass

    def begin_link(self, port: Any) -> None:
        pass

    def delete_selected(self) -> None:
        pass


class AgentsPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.agents = ctx.core.agents
        self.run: RunRecord | None = None
        self.graph: Graph | None = None
        self.scene: RunScene | None = None
        self._pending: Any = None

        # -- a new run
        self.workflow = QComboBox()
        self.workflow.setToolTip("The workflow the agents follow: its steps and who does each (your own ones are in "
                                 "workflows/ in the data folder)")
        self.requirement = QPlainTextEdit()
        self.requirement.setPlaceholderText("What should the agents build? e.g. A to-do list API with a web page.")
        self.requirement.setMaximumHeight(90)
        self.requirement.setToolTip("What the agents should build, in plain words: the more precise, the better the "
                                    "result")
        self.out_dir = QLineEdit()
        self.out_dir.setPlaceholderText("a new folder under agent-runs/ in the data folder")
        self.out_dir.setToolTip("The folder the agents write their files into (empty: a new dated folder under "
                                "agent-runs/)")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the output folder for the run")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(browse)
        self.start_button = QPushButton("Start run")
        self.start_button.setToolTip("Start the workflow on the requirement in the background; its steps light up on "
                                     "the graph")
        self.start_button.clicked.connect(self.start)
        self.edit_button = QPushButton("Edit workflow…")
        self.edit_button.setToolTip("Open the workflow in the Pipeline editor (a default one is copied to your "
                                    "workflows first)")
        self.edit_button.clicked.connect(self.edit_workflow)
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        form = QFormLayout()
        form.addRow("Workflow", self.workflow)
        form.addRow("Requirement", self.requirement)
        form.addRow("Output folder", out_row)
        new_box = QGroupBox("New run")
        new_layout = QVBoxLayout(new_box)
        new_layout.addLayout(form)
        new_layout.addLayout(buttons)

        # -- runs
        self.runs_list = QListWidget()
        self.runs_list.currentItemChanged.connect(lambda item, _prev: self._select_run(item))
        runs_box = QGroupBox("Runs")
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.addWidget(self.runs_list)

        # -- the selected run
        self.title = QLabel("No runs yet: write a requirement, pick a workflow and press Start run; its steps "
                            "light up here as they work.")
        self.title.setWordWrap(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Cancel the selected run's running steps; finished steps are kept for Resume")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on with the selected stopped or failed run from its last finished steps")
        self.resume_button.clicked.connect(self.resume)
        self.folder_button = QPushButton("Open folder")
        self.folder_button.setToolTip("Open the selected run's output folder in the file manager")
        self.folder_button.clicked.connect(self._open_folder)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        for button in (self.stop_button, self.resume_button, self.folder_button):
            button.setEnabled(False)  # until a run is selected
            head.addWidget(button)
        self.view = GraphView()
        self.view.setMinimumHeight(240)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.messages = QPlainTextEdit()
        self.messages.setReadOnly(True)
        self.files = QListWidget()
        self.files.currentItemChanged.connect(lambda item, _prev: self._show_file(item))
        self.file_text = QPlainTextEdit()
        self.file_text.setReadOnly(True)
        self.file_text.setFont(mono)
        files_split = QSplitter(Qt.Orientation.Horizontal)
        files_split.addWidget(self.files)
        files_split.addWidget(self.file_text)
        files_split.setSizes([220, 600])
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setFont(mono)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.messages, "Messages")
        self.tabs.addTab(files_split, "Files")
        self.tabs.addTab(self.diff, "Changes between iterations")
        self.tabs.addTab(self.report, "Report")
        run_box = QWidget()
        run_layout = QVBoxLayout(run_box)
        run_layout.setContentsMargins(0, 0, 0, 0)
        run_layout.addLayout(head)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.tabs)
        split.setSizes([320, 300])
        run_layout.addWidget(split, 1)
        self.status = StatusLabel()

        left = QVBoxLayout()
        left.addWidget(new_box)
        left.addWidget(runs_box, 1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(420)
        body = QHBoxLayout()
        body.addWidget(left_widget)
        body.addWidget(run_box, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(body, 1)

        self._bridge = EmitterBridge(self.agents.events, self)
        self._bridge.fired.connect(self._event)
        self._fill_workflows()
        self.refresh_runs()

    # ---- lists -------------------------------------------------------------------------------------------------

    def panel_shown(self) -> None:
        self._fill_workflows()
        self.refresh_runs()

    def _fill_workflows(self) -> None:
        current = self.workflow.currentData()
        self.workflow.clear()
        for path in self.agents.workflows():
            self.workflow.addItem(path.stem, str(path))
        index = self.workflow.findData(current) if current else self.workflow.findText("standard")
        self.workflow.setCurrentIndex(max(0, index))

    def refresh_runs(self) -> None:
        selected = self.run.id if self.run else None
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for record in self.agents.runs.runs(100):
            when = time.strftime("%m-%d %H:%M", time.localtime(record.created_at))
            item = QListWidgetItem(f"{RUN_MARKS.get(record.state, '?')} {when}  {record.workflow}\n"
                                   f"    {record.requirement[:60]}")
            item.setData(Qt.ItemDataRole.UserRole, record.id)
            item.setToolTip(f"{record.state}: {record.out_dir}" + (f"\n{record.error}" if record.error else ""))
            self.runs_list.addItem(item)
            if record.id == selected:
                self.runs_list.setCurrentItem(item)
        self.runs_list.blockSignals(False)
        if selected is None and self.runs_list.count():  # the latest run, when none is chosen yet
            self.runs_list.setCurrentRow(0)

    # ---- commands ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        requirement = self.requirement.toPlainText().strip()
        workflow = self.workflow.currentData()
        out = self.out_dir.text().strip()
        folder = Path(out).expanduser() if out else (self.ctx.core.paths.root / "agent-runs"
                                                     / time.strftime("%Y%m%d-%H%M%S"))
        if not requirement:
            self.status.show_error("Write the requirement first: what should the agents build?")
            return
        self.start_button.setEnabled(False)
        self._pending = run_blocking(lambda: self.agents.start(workflow, requirement, folder), parent=self,
                                     on_done=self._started, on_error=self._failed)

    def _started(self, run_id: str) -> None:
        self._pending = None
        self.start_button.setEnabled(True)
        self.status.show_info("The run started; its steps light up as they go.")
        self.out_dir.clear()
        self.refresh_runs()
        self.select(run_id)

    def _failed(self, error: BaseException) -> None:
        self._pending = None
        self.start_button.setEnabled(True)
        message = error.user_message() if isinstance(error, NexusError) else f"{type(error).__name__}: {error}"
        self.status.show_error(message)

    def stop(self) -> None:
        if self.run is not None and self.agents.stop(self.run.id):
            self.status.show_info("Stopping: the running steps are cancelled; finished ones stay. Resume goes on.")

    def resume(self) -> None:
        if self.run is None:
            return
        run_id = self.run.id
        self._pending = run_blocking(lambda: self.agents.resume(run_id), parent=self, on_done=self._started,
                                     on_error=self._failed)

    def edit_workflow(self) -> None:
        """Open the chosen workflow in the Pipeline editor; a default one is copied to <data>/workflows first."""
        source = Path(self.workflow.currentData())
        target = source
        if not source.is_relative_to(self.agents.workflows_dir):
            self.agents.workflows_dir.mkdir(parents=True, exist_ok=True)
            target = self.agents.workflows_dir / source.name
            if not target.exists():
                shutil.copyfile(source, target)
        window = self.window()
        editor = window.show_panel("pipeline") if hasattr(window, "show_panel") else None
        if editor is not None and hasattr(editor, "open_path"):
            editor.open_path(target)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Output folder for the run")
        if chosen:
            self.out_dir.setText(chosen)

    def _open_folder(self) -> None:
        if self.run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.run.out_dir))

    # ---- the selected run --------------------------------------------------------------------------------------

    def select(self, run_id: str) -> None:
        for row in range(self.runs_list.count()):
            if self.runs_list.item(row).data(Qt.ItemDataRole.UserRole) == run_id:
                self.runs_list.setCurrentRow(row)
                return

    def _select_run(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        self.run = self.agents.runs.get(item.data(Qt.ItemDataRole.UserRole))
        graph = serialize.from_dict(self.run.graph, self.agents.registry)
        if self.scene is not None:
            self.scene.close()
        self.graph = graph
        self.scene = RunScene(graph, GraphHistory(graph), self.agents.registry, self)
        self.scene.selectionChanged.connect(self._show_step)
        self.view.setScene(self.scene)
        self.view.fit_all()
        self._show_run()

    def _show_run(self) -> None:
        if self.run is None or self.scene is None:
            return
        record = self.run = self.agents.runs.get(self.run.id)
        # the stored state turns at the end before the job lets go of the run: both must say running
        running = record.state == "running" and record.id in self.agents.running()
        item = self.runs_list.currentItem()
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == record.id:  # its mark follows the state
            item.setText(RUN_MARKS.get(record.state, "?") + item.text()[1:])
        self.title.setText(f"<b>{record.workflow}</b> — {record.state}"
                           + (f": {record.error}" if record.error and record.state != "succeeded" else "")
                           + f"<br>{record.requirement[:200]}")
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running and record.state != "succeeded")
        self.folder_button.setEnabled(True)
        latest: dict[str, StepRecord] = {}
        for step in self.agents.runs.steps(record.id):
            latest[step.node_id] = step
        for node_id, item in self.scene.node_items.items():
            step = latest.get(node_id)
            if step is None:
                item.set_status(health="", badge="waiting" if running else "")
                continue
            tokens = step.input_tokens + step.output_tokens
            item.set_status(health=STATE_HEALTH.get(step.status, ""),
                            badge=f"#{step.iteration} · {step.status} · {tokens} tok · {step.duration_s:.1f} s")
        self._show_step()
        report = Path(record.out_dir) / "report.md"
        self.report.setPlainText(report.read_text(encoding="utf-8") if report.is_file() else
                                 "The report is written when the run ends.")

    def selected_step(self) -> str | None:
        if self.scene is None:
            return None
        chosen = [n for n, item in self.scene.node_items.items() if item.isSelected()]
        return chosen[0] if chosen else None

    def _show_step(self) -> None:
        """Messages and files of the selected step (of every step when none is selected)."""
        if self.run is None:
            return
        step = self.selected_step()
        entries = self.agents.runs.context(self.run.id, {step} if step else None)
        self.messages.setPlainText("\n\n".join(f"[{e.node_id} #{e.iteration} · {e.kind}] {e.content}"
                                               for e in entries))
        self.messages.verticalScrollBar().setValue(self.messages.verticalScrollBar().maximum())
        self.files.clear()
        paths: list[str] = []
        for record in self.agents.runs.steps(self.run.id):
            if step is None or record.node_id == step:
                for path, deleted in self.agents.runs.step_files(self.run.id, record.node_id, record.iteration):
                    if path not in paths and not deleted:
                        paths.append(path)
        for path in sorted(paths):
            self.files.addItem(path)
        self.file_text.clear()
        self.diff.clear()

    def _show_file(self, item: QListWidgetItem | None) -> None:
        if item is None or self.run is None:
            return
        versions = self.agents.runs.file_versions(self.run.id, item.text())
        self.file_text.setPlainText(versions[-1][2] or "(binary or too large to show)" if versions else "")
        self.diff.setPlainText(iteration_diff(item.text(), versions))

    def _event(self, event: RunEvent) -> None:
        if event.kind == "ended":
            self.refresh_runs()
        if self.run is None or event.run_id != self.run.id:
            return
        if event.kind == "message":
            step = self.selected_step()
            if step is None or step == event.node_id:
                self.messages.appendPlainText("\n" + f"[{event.node_id} #{event.iteration}] {event.text}")
            return
        self._show_run()

    def shutdown(self) -> None:
        self._bridge.close()
        if self.scene is not None:
            self.scene.close()


def iteration_diff(path: str, versions: list[tuple[str, int, str | None]]) -> str:
    """A unified diff of each version of a file against the one before (step and iteration in the headers)."""
    if len(versions) < 2:
        return f"{path} has one version so far: nothing to compare."
    parts = []
    for (node_a, it_a, text_a), (node_b, it_b, text_b) in itertools.pairwise(versions):
        diff = difflib.unified_diff((text_a or "").splitlines(keepends=True), (text_b or "").splitlines(keepends=True),
                                    f"{path} ({node_a} #{it_a})", f"{path} ({node_b} #{it_b})")
        parts.append("".join(diff) or f"{path}: {node_b} #{it_b} left it unchanged\n")
    return "\n".join(parts)
