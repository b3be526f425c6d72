"""The editor's scene: draws the graph model and turns mouse gestures into undoable edits.

It subscribes to the graph's ``changed`` events (the model is the source of truth) and makes every edit
through ``GraphHistory``, so undo/redo and the model never disagree with what is drawn.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QGraphicsSceneMouseEvent

from app.panels.pipeline.items import EdgeItem, NodeItem, PortItem, curve, type_colour
from nexus_core.pipeline.graph import Graph, GraphChange, Link
from nexus_core.pipeline.history import GraphHistory
from nexus_core.pipeline.nodes import NodeRegistry, compatible


class GraphScene(QGraphicsScene):
    link_refused = Signal(str)  # why a dragged connection was not made

    def __init__(self, graph: Graph, history: GraphHistory, registry: NodeRegistry,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph = graph
        self.history = history
        self.registry = registry
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[tuple[str, str, str, str], EdgeItem] = {}
        self._drag_from: PortItem | None = None
        self._drag_line: QGraphicsPathItem | None = None
        self.setSceneRect(-5000, -5000, 10000, 10000)
        self._disconnect = graph.changed.connect(self._changed)
        self.rebuild()

    def close(self) -> None:
        """Stop listening to the graph and delete every item now (not whenever the garbage collector runs)."""
        self._disconnect()
        self.node_items.clear()
        self.edge_items.clear()
        self.clear()

    # ---- drawing the model -------------------------------------------------------------------------

    def rebuild(self) -> None:
        for item in list(self.node_items.values()) + list(self.edge_items.values()):
            self.removeItem(item)
        self.node_items.clear()
        self.edge_items.clear()
        for node in self.graph.nodes.values():
            self._add_node_item(node.id)
        for link in self.graph.links:
            self._add_edge_item(link)

    def _add_node_item(self, node_id: str) -> None:
        node = self.graph.nodes[node_id]
        item = NodeItem(node, self.registry.get(node.type))
        self.addItem(item)
        self.node_items[node_id] = item

    def _add_edge_item(self, link: Link) -> None:
        source, target = self.node_items.get(link.source), self.node_items.get(link.target)
        if source is None or target is None:
            return
        out_port, in_port = source.outputs.get(link.source_port), target.inputs.get(link.target_port)
        colour = type_colour(out_port.port.type) if out_port else QColor("#c0392b")
        edge = EdgeItem(link, colour)
        start = out_port.scene_anchor() if out_port else source.scenePos()
        end = in_port.scene_anchor() if in_port else target.scenePos()
        edge.set_ends(start, end)
        self.addItem(edge)
        self.edge_items[link.key()] = edge

    def update_edges(self, node_id: str) -> None:
        for key, edge in self.edge_items.items():
            if node_id in (key[0], key[2]):
                source, target = self.node_items[key[0]], self.node_items[key[2]]
                out_port, in_port = source.outputs.get(key[1]), target.inputs.get(key[3])
                if out_port and in_port:
                    edge.set_ends(out_port.scene_anchor(), in_port.scene_anchor())

    def _changed(self, change: GraphChange) -> None:
        if change.kind == "reset":
            self.rebuild()
        elif change.kind == "node_added" and change.node_id:
            self._add_node_item(change.node_id)
        elif change.kind == "node_removed" and change.node_id:
            item = self.node_items.pop(change.node_id, None)
            if item is not None:
                self.removeItem(item)
        elif change.kind == "link_added" and change.link:
            self._add_edge_item(change.link)
        elif change.kind == "link_removed" and change.link:
            edge = self.edge_items.pop(change.link.key(), None)
            if edge is not None:
                self.removeItem(edge)
        elif change.kind == "moved" and change.node_id in self.node_items:
            item = self.node_items[change.node_id]
            position = self.graph.nodes[change.node_id].position
            if (item.pos().x(), item.pos().y()) != position:
                item.setPos(*position)
        elif change.node_id in self.node_items:
            self.node_items[change.node_id].update()

    # ---- gestures ----------------------------------------------------------------------------------

    def node_moved(self, item: NodeItem, start: tuple[float, float]) -> None:
        self.history.move(item.node.id, (item.pos().x(), item.pos().y()), start=start)

    def toggle_enabled(self, node_id: str) -> None:
        self.history.set_enabled(node_id, not self.graph.nodes[node_id].enabled)

    def begin_link(self, port: PortItem) -> None:
        self._drag_from = port
        self._drag_line = QGraphicsPathItem()
        self._drag_line.setPen(QPen(type_colour(port.port.type), 2, Qt.PenStyle.DashLine))
        self.addItem(self._drag_line)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._drag_from is not None and self._drag_line is not None:
            start = self._drag_from.scene_anchor()
            end = event.scenePos()
            self._drag_line.setPath(curve(start, end) if self._drag_from.is_output else curve(end, start))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._drag_from is not None:
            origin = self._drag_from
            self._drag_from = None
            if self.mouseGrabberItem() is origin:
                origin.ungrabMouse()
            if self._drag_line is not None:
                self.removeItem(self._drag_line)
                self._drag_line = None
            target = next((i for i in self.items(event.scenePos()) if isinstance(i, PortItem)), None)
            if target is None:
                target = self._nearest_port(event.scenePos(), not origin.is_output)
            if target is not None:
                self.try_connect(origin, target)
            return
        super().mouseReleaseEvent(event)

    def _nearest_port(self, point: QPointF, want_output: bool, radius: float = 14.0) -> PortItem | None:
        best, best_distance = None, radius
        for item in self.node_items.values():
            for port in (item.outputs if want_output else item.inputs).values():
                distance = (port.scene_anchor() - point).manhattanLength()
                if distance < best_distance:
                    best, best_distance = port, distance
        return best

    def try_connect(self, a: PortItem, b: PortItem) -> bool:
        """Connect an output to an input; incompatible types, two outputs, or a loop are refused (and said)."""
        if a.is_output == b.is_output:
            self.link_refused.emit("Connect an output (right side) to an input (left side).")
            return False
        out, inp = (a, b) if a.is_output else (b, a)
        if out.node_item is inp.node_item:
            self.link_refused.emit("A node cannot feed itself.")
            return False
        if not compatible(out.port.type, inp.port.type):
            self.link_refused.emit(f"{inp.port.name} takes {inp.port.type}; {out.port.name} gives {out.port.type}.")
            return False
        source, target = out.node_item.node.id, inp.node_item.node.id
        if source in self.graph.downstream(target):
            self.link_refused.emit("That connection would make a loop.")
            return False
        self.history.connect(Link(source, out.port.name, target, inp.port.name))
        return True

    def delete_selected(self) -> None:
        nodes = [i.node.id for i in self.selectedItems() if isinstance(i, NodeItem)]
        edges = [i.link for i in self.selectedItems() if isinstance(i, EdgeItem) and i.link.source not in nodes
                 and i.link.target not in nodes]
        for link in edges:
            self.history.disconnect(link)
        if nodes:
            self.history.remove_nodes(nodes)
