"""Undo/redo for graph edits: each edit is a command that knows how to reverse itself.

Qt-free so it is tested without a GUI; the editor calls these methods instead of editing the graph
directly. Consecutive moves of the same node (a drag) merge into one undo step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexus_core.events import Emitter
from nexus_core.pipeline.graph import Graph, Link, Node


@dataclass
class Command:
    label: str
    redo: Callable[[], None]
    undo: Callable[[], None]
    merge_key: tuple[Any, ...] | None = None


class GraphHistory:
    def __init__(self, graph: Graph, limit: int = 500) -> None:
        self.graph = graph
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_index = 0
        self.changed: Emitter[None] = Emitter("pipeline.history")

    # ---- state -------------------------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo_label(self) -> str:
        return self._done[-1].label if self._done else ""

    def redo_label(self) -> str:
        return self._undone[-1].label if self._undone else ""

    @property
    def dirty(self) -> bool:
        """Edited since the last save (or load)."""
        return len(self._done) != self._clean_index

    def mark_clean(self) -> None:
        self._clean_index = len(self._done)
        self.changed.emit(None)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean_index = 0
        self.changed.emit(None)

    def _push(self, command: Command) -> None:
        command.redo()
        last = self._done[-1] if self._done else None
        if (command.merge_key is not None and last is not None and last.merge_key == command.merge_key
                and len(self._done) > self._clean_index):
            last.redo = command.redo  # keep the first undo (back to where the drag began)
        else:
            self._done.append(command)
            if len(self._done) > self.limit:
                self._done.pop(0)
                self._clean_index -= 1
        self._undone.clear()
        self.changed.emit(None)

    def undo(self) -> None:
        if self._done:
            command = self._done.pop()
            command.undo()
            self._undone.append(command)
            self.changed.emit(None)

    def redo(self) -> None:
        if self._undone:
            command = self._undone.pop()
            command.redo()
            self._done.append(command)
            self.changed.emit(None)

    # ---- edits -------------------------------------------------------------------------------------

    def add_node(self, node: Node) -> Node:
        self._push(Command(f"Add {node.type}", lambda: self.graph.add_node(node),
                           lambda: self.graph.remove_node(node.id)))
        return node

    def remove_nodes(self, node_ids: list[str]) -> None:
        """Delete nodes (and their links) as one step."""
        saved: list[tuple[Node, list[Link]]] = []

        def redo() -> None:
            saved.clear()
            for node_id in node_ids:
                if node_id in self.graph.nodes:
                    saved.append(self.graph.remove_node(node_id))

        def undo() -> None:
            for node, _links in reversed(saved):
                self.graph.add_node(node)
            for _node, links in saved:
                for link in links:
                    if all(end in self.graph.nodes for end in (link.source, link.target)):
                        self.graph.add_link(link)

        self._push(Command(f"Delete {len(node_ids)} node(s)", redo, undo))

    def connect(self, link: Link) -> None:
        replaced: list[Link | None] = [None]

        def redo() -> None:
            replaced[0] = self.graph.add_link(link)

        def undo() -> None:
            self.graph.remove_link(link)
            if replaced[0] is not None:
                self.graph.add_link(replaced[0])

        self._push(Command("Connect", redo, undo))

    def disconnect(self, link: Link) -> None:
        self._push(Command("Disconnect", lambda: self.graph.remove_link(link), lambda: self.graph.add_link(link)))

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.graph.nodes[node_id]
        had, old = name in node.params, copy.deepcopy(node.params.get(name))

        def undo() -> None:
            if had:
                self.graph.set_param(node_id, name, old)
            else:
                self.graph.unset_param(node_id, name)

        self._push(Command(f"Change {name}", lambda: self.graph.set_param(node_id, name, value), undo,
                           merge_key=("param", node_id, name)))

    def set_enabled(self, node_id: str, enabled: bool) -> None:
        old = self.graph.nodes[node_id].enabled
        self._push(Command("Enable" if enabled else "Disable", lambda: self.graph.set_enabled(node_id, enabled),
                           lambda: self.graph.set_enabled(node_id, old)))

    def move(self, node_id: str, position: tuple[float, float], *, start: tuple[float, float] | None = None) -> None:
        """``start``: where the drag began (the node may already be drawn at ``position``)."""
        old = start if start is not None else self.graph.nodes[node_id].position
        self._push(Command("Move", lambda: self.graph.move(node_id, position), lambda: self.graph.move(node_id, old),
                           merge_key=("move", node_id)))

    def rename(self, node_id: str, title: str) -> None:
        old = self.graph.nodes[node_id].title
        self._push(Command("Rename", lambda: self.graph.rename(node_id, title),
                           lambda: self.graph.rename(node_id, old)))

    def paste(self, nodes: list[Node], links: list[Link]) -> None:
        """Add copied nodes and the links between them as one step."""

        def redo() -> None:
            for node in nodes:
                self.graph.add_node(node)
            for link in links:
                self.graph.add_link(link)

        def undo() -> None:
            for node in nodes:
                if node.id in self.graph.nodes:
                    self.graph.remove_node(node.id)

        self._push(Command(f"Paste {len(nodes)} node(s)", redo, undo))

    def layout(self, positions: dict[str, tuple[float, float]]) -> None:
        old = {n: self.graph.nodes[n].position for n in positions}

        def apply(where: dict[str, tuple[float, float]]) -> None:
            for node_id, position in where.items():
                if node_id in self.graph.nodes:
                    self.graph.move(node_id, position)

        self._push(Command("Auto-layout", lambda: apply(positions), lambda: apply(old)))
