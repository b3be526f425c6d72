"""The Pipeline panel: a node-graph editor over the core's graph model, history and executor.

Opens on the chat routing pipeline (saving it changes how the next chat message is answered); any other
pipeline file can be opened, edited, run and saved. Runs go through the core's executor on its async
loop; its events colour the nodes and put timing badges on them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.panels.pipeline.items import NodeItem
from app.panels.pipeline.properties import PropertiesPanel
from app.panels.pipeline.scene import GraphScene
from app.panels.pipeline.view import GraphView
from app.panels.registry import Panel
from app.widgets.status_label import StatusLabel
from app.workers import run_async
from nexus_core.errors import NexusError
from nexus_core.pipeline import serialize
from nexus_core.pipeline.executor import Executor, NodeEvent, RunResult
from nexus_core.pipeline.graph import Graph, Link, Node
from nexus_core.pipeline.history import GraphHistory
from nexus_core.pipeline.layout import layered_positions
from nexus_core.pipeline.validate import errors, validate_graph

PASTE_OFFSET = 40.0


class PipelinePanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.pipelines = ctx.core.pipelines
        self.registry = self.pipelines.registry
        self.path: Path | None = None  # None: the chat pipeline
        self.graph = self.pipelines.chat_graph()
        self.history = GraphHistory(self.graph)
        self.executor = Executor(self.registry, services=self.pipelines.services)
        self._events = EmitterBridge(self.executor.events, self)
        self._events.fired.connect(self._node_event)
        self._clipboard: dict[str, Any] | None = None
        # Replaceable in tests: file pickers and questions.
        self.choose_open: Callable[[], str | None] = lambda: QFileDialog.getOpenFileName(
            self, "Open pipeline", str(self.pipelines.dir), "Pipelines (*.json)")[0] or None
        self.choose_save: Callable[[], str | None] = lambda: QFileDialog.getSaveFileName(
            self, "Save pipeline as", str(self.pipelines.dir), "Pipelines (*.json)")[0] or None
        self.confirm: Callable[[str, str], bool] = lambda title, text: QMessageBox.question(
            self, title, text) == QMessageBox.StandardButton.Yes

        self.title = QLabel()
        self.title.setObjectName("panelTitle")
        self.buttons: dict[str, QPushButton] = {}
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        for key, label, slot, tip in (
                ("chat", "Chat pipeline", self.open_chat, "Edit the pipeline the chat pane follows"),
                ("distill", "Distillation", self.open_distillation,
                 "The distillation pipeline (data → teacher → student → distil → evaluate/export)"),
                ("open", "Open…", self.open_file, "Open a pipeline file"),
                ("save", "Save", self.save, "Save (Ctrl+S); for the chat pipeline, the next message follows it"),
                ("save_as", "Save as…", self.save_as, "Save to another file"),
                ("undo", "Undo", lambda: self.history.undo(), "Undo (Ctrl+Z)"),
                ("redo", "Redo", lambda: self.history.redo(), "Redo (Ctrl+Shift+Z)"),
                ("layout", "Auto-layout", self.auto_layout, "Arrange the nodes in columns by their inputs"),
                ("fit", "Fit", lambda: self.view.fit_all(), "Show the whole graph"),
                ("reset", "Reset chat pipeline", self.reset_chat, "Back to the default chat pipeline")):
            button = QPushButton(label)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[key] = button
            bar.addWidget(button)

        self.palette_filter = QLineEdit()
        self.palette_filter.setPlaceholderText("Search nodes")
        self.palette_filter.setClearButtonEnabled(True)
        self.palette_filter.setToolTip("Show only the node types whose name or category has this text")
        self.palette_filter.textChanged.connect(self._fill_palette)
        self.palette = QListWidget()
        self.palette.itemDoubleClicked.connect(lambda item: self.add_node(item.data(Qt.ItemDataRole.UserRole)))
        self.add_button = QPushButton("Add node")
        self.add_button.setToolTip("Add the selected node type to the graph (or double-click it in the list)")
        self.add_button.clicked.connect(self._add_selected_type)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.palette_filter)
        lv.addWidget(self.palette, 1)
        lv.addWidget(self.add_button)

        self.view = GraphView()
        self.properties = PropertiesPanel()
        self.properties.param_edited.connect(lambda n, p, v: self.history.set_param(n, p, v))
        self.properties.enabled_edited.connect(lambda n, on: self.history.set_enabled(n, on))
        self.properties.title_edited.connect(self._rename)

        self.problems = QListWidget()
        self.problems.itemClicked.connect(self._focus_problem)
        self.run_input = QLineEdit('{"query": "Hello"}')
        self.run_input.setToolTip("The run's inputs as JSON (the chat pipeline needs a query)")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the graph on these inputs; each node's result and the final outputs are "
                                   "shown here")
        self.run_button.clicked.connect(self.run)
        self.run_output = QPlainTextEdit()
        self.run_output.setReadOnly(True)
        run_tab = QWidget()
        rv = QVBoxLayout(run_tab)
        rv.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Inputs"))
        row.addWidget(self.run_input, 1)
        row.addWidget(self.run_button)
        rv.addLayout(row)
        rv.addWidget(self.run_output, 1)
        self.bottom = QTabWidget()
        self.bottom.addTab(self.problems, "Problems")
        self.bottom.addTab(run_tab, "Run")
        self.status = StatusLabel()

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.view)
        centre.addWidget(self.bottom)
        centre.setStretchFactor(0, 4)
        centre.setStretchFactor(1, 1)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(centre)
        main.addWidget(self.properties)
        main.setStretchFactor(1, 5)
        main.setSizes([200, 900, 260])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(main, 1)
        layout.addWidget(self.status)

        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(120)
        self._validate_timer.timeout.connect(self.revalidate)
        self._history_off = self.history.changed.connect(lambda _n: self._history_changed())
        for keys, slot in ((QKeySequence.StandardKey.Undo, lambda: self.history.undo()),
                           (QKeySequence.StandardKey.Redo, lambda: self.history.redo()),
                           (QKeySequence.StandardKey.Save, self.save),
                           (QKeySequence.StandardKey.Copy, self.copy),
                           (QKeySequence.StandardKey.Paste, self.paste),
                           (QKeySequence.StandardKey.Delete, self.delete_selected)):
            shortcut = QShortcut(QKeySequence(keys), self.view)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self._fill_palette()
        self._set_scene()

    # ---- documents ---------------------------------------------------------------------------------

    def _set_scene(self) -> None:
        old = self.view.scene()
        self.scene = GraphScene(self.graph, self.history, self.registry, parent=self)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.link_refused.connect(self.status.show_error)
        self._graph_off = self.graph.changed.connect(lambda _c: self._validate_timer.start())
        self.view.setScene(self.scene)
        if isinstance(old, GraphScene):
            old.close()
            old.deleteLater()
        self.revalidate()
        self._refresh_title()
        QTimer.singleShot(0, self, self.view.fit_all)  # with a context object: dropped if the panel is gone

    def _load(self, graph: Graph, path: Path | None) -> None:
        self._graph_off()
        self.path = path
        self.graph = graph
        self._history_off()
        self.history = GraphHistory(graph)
        self._history_off = self.history.changed.connect(lambda _n: self._history_changed())
        self.executor.clear_cache()
        self._set_scene()
        self._history_changed()

    def _leave_ok(self) -> bool:
        return not self.history.dirty or self.confirm("Unsaved changes", "Discard the unsaved changes?")

    def open_chat(self) -> None:
        if self._leave_ok():
            self._load(self.pipelines.chat_graph(), None)

    def open_distillation(self) -> None:
        """Your distillation pipeline (pipelines/distill.json), or the default one to start from."""
        if not self._leave_ok():
            return
        mine = self.pipelines.dir / "distill.json"
        source = mine if mine.is_file() else self.pipelines.default_path("distill")
        try:
            graph = serialize.load(source, self.registry)
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return
        self._load(graph, mine)

    def open_file(self) -> None:
        chosen = self.choose_open()
        if chosen:
            self.open_path(Path(chosen))

    def open_path(self, path: Path) -> bool:
        """Open a pipeline file (other panels use it: the Agents panel's Edit workflow)."""
        if not self._leave_ok():
            return False
        try:
            graph = serialize.load(path, self.registry)
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return False
        self._load(graph, path)
        return True

    def save(self) -> bool:
        try:
            if self.path is None:
                self.pipelines.save_chat_graph(self.graph)
                self.status.show_info("Saved: the next chat message follows this pipeline.")
            else:
                if errors(validate_graph(self.graph, self.registry)) and self.path.exists():
                    self.status.show_error("Not saved: the pipeline has problems (see Problems), and saving would "
                                           "replace a working file. Fix them, or use Save as.")
                    return False
                serialize.save(self.graph, self.path)
                self.status.show_info(f"Saved {self.path.name}.")
        except NexusError as exc:
            self.status.show_error(exc.user_message())
            return False
        self.history.mark_clean()
        return True

    def save_as(self) -> bool:
        chosen = self.choose_save()
        if not chosen:
            return False
        path = Path(chosen)
        if path.suffix != ".json":
            path = path.with_suffix(".json")
        try:
            serialize.save(self.graph, path)
        except OSError as exc:
            self.status.show_error(f"Could not save {path}: {exc}")
            return False
        self.path = path
        self.history.mark_clean()
        self.status.show_info(f"Saved {path.name}.")
        return True

    def reset_chat(self) -> None:
        if self.confirm("Reset the chat pipeline", "Go back to the default chat pipeline? Your version is kept as "
                                                   "chat.json.bak."):
            self.pipelines.reset_chat_graph()
            self._load(self.pipelines.chat_graph(), None)

    def _refresh_title(self) -> None:
        name = "Chat pipeline" if self.path is None else self.path.name
        self.title.setText(f"Pipeline — {name}{' •' if self.history.dirty else ''}")
        self.buttons["reset"].setVisible(self.path is None)

    def _history_changed(self) -> None:
        self.buttons["undo"].setEnabled(self.history.can_undo)
        self.buttons["undo"].setToolTip(f"Undo {self.history.undo_label()} (Ctrl+Z)")
        self.buttons["redo"].setEnabled(self.history.can_redo)
        self._refresh_title()
        self._selection_changed()

    # ---- editing -----------------------------------------------------------------------------------

    def _fill_palette(self, *_args: object) -> None:
        needle = self.palette_filter.text().strip().lower()
        self.palette.clear()
        for node_type in self.registry.types():
            text = f"{node_type.title}  ·  {node_type.category}"
            if needle and needle not in text.lower() and needle not in node_type.type:
                continue
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, node_type.type)
            item.setToolTip(node_type.description or node_type.type)
            self.palette.addItem(item)

    def _add_selected_type(self) -> None:
        item = self.palette.currentItem()
        if item is not None:
            self.add_node(item.data(Qt.ItemDataRole.UserRole))

    def add_node(self, type_id: str, at: QPointF | None = None) -> Node:
        node_type = self.registry.get(type_id)
        assert node_type is not None
        where = at or self.view.mapToScene(self.view.viewport().rect().center())
        node = Node(self.graph.new_id(type_id.split(".")[-1][:10] + "_"), type_id, node_type.default_params(),
                    position=(where.x(), where.y()))
        self.history.add_node(node)
        self.scene.clearSelection()
        self.scene.node_items[node.id].setSelected(True)
        return node

    def _rename(self, node_id: str, title: str) -> None:
        if node_id in self.graph.nodes and self.graph.nodes[node_id].title != title:
            self.history.rename(node_id, title)

    def selected_ids(self) -> list[str]:
        return [i.node.id for i in self.scene.selectedItems() if isinstance(i, NodeItem)]

    def delete_selected(self) -> None:
        self.scene.delete_selected()

    def copy(self) -> None:
        ids = set(self.selected_ids())
        if not ids:
            return
        nodes = [self.graph.nodes[i] for i in ids]
        links = [link for link in self.graph.links if link.source in ids and link.target in ids]
        self._clipboard = {"nodes": [(n.type, dict(n.params), n.enabled, n.position, n.title, n.id) for n in nodes],
                           "links": [link.key() for link in links]}
        self.status.show_info(f"Copied {len(nodes)} node(s).")

    def paste(self) -> None:
        if not self._clipboard:
            return
        mapping: dict[str, str] = {}
        nodes = []
        for type_id, params, enabled, position, title, old_id in self._clipboard["nodes"]:
            new_id = self.graph.new_id(old_id.rstrip("0123456789") or "n")
            while new_id in mapping.values():
                new_id = self.graph.new_id(old_id.rstrip("0123456789") or "n")
            mapping[old_id] = new_id
            nodes.append(Node(new_id, type_id, json.loads(json.dumps(params)), enabled,
                              (position[0] + PASTE_OFFSET, position[1] + PASTE_OFFSET), title))
        links = [Link(mapping[s], sp, mapping[t], tp) for s, sp, t, tp in self._clipboard["links"]]
        self.history.paste(nodes, links)
        self.scene.clearSelection()
        for node in nodes:
            self.scene.node_items[node.id].setSelected(True)

    def auto_layout(self) -> None:
        self.history.layout(layered_positions(self.graph))
        self.view.fit_all()

    # ---- selection, problems, runs -----------------------------------------------------------------

    def _selection_changed(self) -> None:
        ids = self.selected_ids() if hasattr(self, "scene") else []
        node = self.graph.nodes.get(ids[0]) if len(ids) == 1 else None
        if node is not None and self.properties.node_id == node.id and self.properties.controls:
            return  # editing this node's controls: do not rebuild them under the cursor
        self.properties.show_node(node, self.registry.get(node.type) if node else None)

    def revalidate(self) -> None:
        problems = validate_graph(self.graph, self.registry)
        self.problems.clear()
        by_node: dict[str, str] = {}
        for problem in problems:
            item = QListWidgetItem(f"{problem.severity}: {problem}")
            item.setData(Qt.ItemDataRole.UserRole, problem.node_id)
            self.problems.addItem(item)
            if problem.node_id and problem.node_id not in by_node:
                by_node[problem.node_id] = problem.message
        for node_id, item in self.scene.node_items.items():
            item.set_status(problem=by_node.get(node_id), clear_problem=node_id not in by_node)
        count = len(errors(problems))
        self.bottom.setTabText(0, f"Problems ({count})" if count else "Problems")

    def _focus_problem(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        node_item = self.scene.node_items.get(node_id) if node_id else None
        if node_item is not None:
            self.scene.clearSelection()
            node_item.setSelected(True)
            self.view.centerOn(node_item)

    def run(self) -> None:
        try:
            inputs = json.loads(self.run_input.text() or "{}")
            if not isinstance(inputs, dict):
                raise ValueError("the inputs must be a JSON object")
        except ValueError as exc:
            self.status.show_error(f"Inputs: {exc}")
            return
        for item in self.scene.node_items.values():
            item.set_status(badge="", health="")
        self.run_button.setEnabled(False)
        self.status.show_info("Running…")
        graph = self.graph.copy()  # edits made while it runs apply to the next run, not this one
        run_async(self.ctx.core.aio, self.executor.run(graph, inputs), parent=self,
                  on_done=lambda result: self._ran(result, graph), on_error=self._run_failed)

    def _ran(self, result: RunResult, graph: Graph) -> None:
        self.run_button.setEnabled(True)
        lines = [f"{len(result.nodes)} nodes in {result.duration_ms:.1f} ms"]
        for node_id, run in result.nodes.items():
            lines.append(f"{node_id:<18} {run.status:<8} {run.duration_ms:8.2f} ms  {run.error or ''}".rstrip())
        sinks = [n for n in graph.nodes if not graph.outgoing(n) and n in result.nodes]
        for node_id in sinks:
            for port, value in result.nodes[node_id].outputs.items():
                lines.append(f"→ {node_id}.{port}: {value!r}"[:2000])
        self.run_output.setPlainText("\n".join(lines))
        self.bottom.setCurrentIndex(1)
        failed = [n for n, r in result.nodes.items() if r.status == "failed"]
        if failed:
            self.status.show_error(f"{len(failed)} node(s) failed: {', '.join(failed)}")
        else:
            self.status.show_info(f"Ran in {result.duration_ms:.0f} ms.")

    def _run_failed(self, error: BaseException) -> None:
        self.run_button.setEnabled(True)
        self.status.show_error(error.user_message() if isinstance(error, NexusError) else str(error))

    def _node_event(self, event: NodeEvent) -> None:
        item = self.scene.node_items.get(event.node_id)
        if item is None:
            return
        if event.kind == "started":
            item.set_status(health="running", badge="running…")
        elif event.kind == "finished":
            memory = f" · {event.memory_delta / 2**20:+.1f} MB" if abs(event.memory_delta) >= 2**20 else ""
            item.set_status(health="ok", badge=f"{event.duration_ms:.1f} ms{memory}")
        elif event.kind == "cached":
            item.set_status(health="cached", badge="cached")
        elif event.kind == "failed":
            item.set_status(health="failed", badge=event.error or "failed")
        elif event.kind == "skipped":
            item.set_status(health="skipped", badge=event.error or "skipped")

    def shutdown(self) -> None:
        self._events.close()
        self._graph_off()
        self._history_off()
        self._validate_timer.stop()
        self.view.setScene(None)
        self.scene.close()
