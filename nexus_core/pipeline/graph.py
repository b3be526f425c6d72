"""The pipeline graph: nodes, links and their layout, as an evented model the editor subscribes to.

Edits go through methods that emit ``changed`` (napari-style evented model); undoable edits are made
through ``history.GraphHistory``, which calls these same methods. The executable part (types, params,
links, enabled) is kept apart from UI metadata (positions, viewport), which never affects a run.
"""

from __future__ import annotations

import itertools
from copy import deepcopy
from dataclasses import dataclass, field, replace
from typing import Any

from nexus_core.events import Emitter


@dataclass
class Node:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    position: tuple[float, float] = (0.0, 0.0)
    title: str = ""  # a user's label; empty shows the type's title
    missing: bool = False  # its type is not registered (a removed module): kept, not runnable


@dataclass(frozen=True)
class Link:
    source: str  # node id
    source_port: str
    target: str
    target_port: str

    def key(self) -> tuple[str, str, str, str]:
        return (self.source, self.source_port, self.target, self.target_port)


@dataclass(frozen=True)
class GraphChange:
    """What changed: kind is node_added/node_removed/link_added/link_removed/params/enabled/moved/renamed/reset."""

    kind: str
    node_id: str | None = None
    link: Link | None = None


class Graph:
    def __init__(self, name: str = "Untitled pipeline", description: str = "") -> None:
        self.name = name
        self.description = description
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self.ui: dict[str, Any] = {}  # viewport and other editor state; never read by the executor
        self.changed: Emitter[GraphChange] = Emitter("pipeline.graph")
        self._ids = itertools.count(1)

    # ---- queries -----------------------------------------------------------------------------------

    def new_id(self, prefix: str = "n") -> str:
        while True:
            candidate = f"{prefix}{next(self._ids)}"
            if candidate not in self.nodes:
                return candidate

    def incoming(self, node_id: str) -> list[Link]:
        return [link for link in self.links if link.target == node_id]

    def outgoing(self, node_id: str) -> list[Link]:
        return [link for link in self.links if link.source == node_id]

    def link_into(self, node_id: str, port: str) -> Link | None:
        return next((link for link in self.links if link.target == node_id and link.target_port == port), None)

    def upstream(self, node_id: str) -> set[str]:
        """Every node ``node_id`` depends on, transitively."""
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for link in self.incoming(stack.pop()):
                if link.source not in seen:
                    seen.add(link.source)
                    stack.append(link.source)
        return seen

    def downstream(self, node_id: str) -> set[str]:
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for link in self.outgoing(stack.pop()):
                if link.target not in seen:
                    seen.add(link.target)
                    stack.append(link.target)
        return seen

    def copy(self) -> Graph:
        """An independent copy (no listeners): what a run works on, so edits made while it runs cannot change
        the graph under it."""
        twin = Graph(self.name, self.description)
        twin.nodes = {nid: replace(node, params=deepcopy(node.params)) for nid, node in self.nodes.items()}
        twin.links = list(self.links)
        twin.ui = deepcopy(self.ui)
        return twin

    # ---- edits (each emits one change) -------------------------------------------------------------

    def add_node(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"a node with id {node.id!r} already exists")
        self.nodes[node.id] = node
        self.changed.emit(GraphChange("node_added", node.id))
        return node

    def remove_node(self, node_id: str) -> tuple[Node, list[Link]]:
        """Remove a node and its links; returns both so the removal can be undone."""
        node = self.nodes.pop(node_id)
        removed = [link for link in self.links if node_id in (link.source, link.target)]
        self.links = [link for link in self.links if node_id not in (link.source, link.target)]
        for link in removed:
            self.changed.emit(GraphChange("link_removed", link=link))
        self.changed.emit(GraphChange("node_removed", node_id))
        return node, removed

    def add_link(self, link: Link) -> Link | None:
        """Connect; an input takes one link, so an existing one into the same port is replaced (and returned)."""
        if link.source not in self.nodes or link.target not in self.nodes:
            raise ValueError("both ends of a link must be nodes of this graph")
        replaced = self.link_into(link.target, link.target_port)
        if replaced is not None:
            self.remove_link(replaced)
        self.links.append(link)
        self.changed.emit(GraphChange("link_added", link=link))
        return replaced

    def remove_link(self, link: Link) -> None:
        self.links = [existing for existing in self.links if existing.key() != link.key()]
        self.changed.emit(GraphChange("link_removed", link=link))

    def set_param(self, node_id: str, name: str, value: Any) -> Any:
        node = self.nodes[node_id]
        old = node.params.get(name)
        node.params[name] = value
        self.changed.emit(GraphChange("params", node_id))
        return old

    def unset_param(self, node_id: str, name: str) -> None:
        """Back to the type's default for ``name``."""
        self.nodes[node_id].params.pop(name, None)
        self.changed.emit(GraphChange("params", node_id))

    def set_enabled(self, node_id: str, enabled: bool) -> None:
        self.nodes[node_id].enabled = enabled
        self.changed.emit(GraphChange("enabled", node_id))

    def move(self, node_id: str, position: tuple[float, float]) -> tuple[float, float]:
        node = self.nodes[node_id]
        old = node.position
        node.position = (float(position[0]), float(position[1]))
        self.changed.emit(GraphChange("moved", node_id))
        return old

    def rename(self, node_id: str, title: str) -> str:
        node = self.nodes[node_id]
        old = node.title
        node.title = title
        self.changed.emit(GraphChange("renamed", node_id))
        return old

    def replace_with(self, other: Graph) -> None:
        """Take another graph's content (after loading a file); listeners are told to redraw everything."""
        self.name, self.description = other.name, other.description
        self.nodes, self.links, self.ui = other.nodes, other.links, other.ui
        self.changed.emit(GraphChange("reset"))
