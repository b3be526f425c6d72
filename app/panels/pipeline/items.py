"""Graphics items of the pipeline editor: a node (title, enable toggle, ports, badge, health colour),
its ports, and the curved links between them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from nexus_core.pipeline.graph import Link, Node
from nexus_core.pipeline.nodes import NodeType, Port

if TYPE_CHECKING:
    from app.panels.pipeline.scene import GraphScene

WIDTH = 200.0
HEADER = 26.0
ROW = 20.0
PORT_RADIUS = 5.0
HEALTH = {"ok": "#2e9d4f", "cached": "#d4a017", "failed": "#c0392b", "skipped": "#8a939e", "running": "#2f80ed"}
TYPE_COLOURS = ["#2f80ed", "#9b51e0", "#27ae60", "#f2994a", "#eb5757", "#56ccf2", "#bb6bd9", "#6fcf97"]


def type_colour(port_type: str) -> QColor:
    if port_type == "any":
        return QColor("#9aa3ad")
    return QColor(TYPE_COLOURS[sum(map(ord, port_type)) % len(TYPE_COLOURS)])


class PortItem(QGraphicsItem):
    """A connection point; ``is_output`` says which side. Dragging from one starts a new link."""

    def __init__(self, node_item: NodeItem, port: Port, is_output: bool, index: int) -> None:
        super().__init__(node_item)
        self.node_item = node_item
        self.port = port
        self.is_output = is_output
        x = WIDTH if is_output else 0.0
        self.setPos(x, HEADER + ROW * index + ROW / 2)
        self.setAcceptHoverEvents(True)
        self.setToolTip(f"{port.name}: {port.type}" + ("" if port.required or is_output else " (optional)")
                        + (f"\n{port.description}" if port.description else ""))
        self.setCursor(Qt.CursorShape.CrossCursor)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        r = PORT_RADIUS + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem, _widget: QWidget | None = None) -> None:
        colour = type_colour(self.port.type)
        painter.setPen(QPen(colour.darker(140), 1.5))
        filled = self.is_output or self.port.required
        painter.setBrush(QBrush(colour if filled else QColor("#ffffff")))
        painter.drawEllipse(QPointF(0, 0), PORT_RADIUS, PORT_RADIUS)

    def scene_anchor(self) -> QPointF:
        return self.scenePos()

    def mousePressEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.scene_().begin_link(self)
            event.accept()
        else:
            super().mousePressEvent(event)

    def scene_(self) -> GraphScene:
        return self.scene()  # type: ignore[return-value]


class NodeItem(QGraphicsObject):
    """One node. Its position is the model's; moving it reports back to the scene (undoable)."""

    def __init__(self, node: Node, node_type: NodeType | None) -> None:
        super().__init__()
        self.node = node
        self.node_type = node_type
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setPos(*node.position)
        self.badge = ""
        self.health: str | None = None
        self.problem: str | None = None
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        if node_type is not None:
            for i, port in enumerate(node_type.inputs):
                self.inputs[port.name] = PortItem(self, port, False, i)
            for i, port in enumerate(node_type.outputs):
                self.outputs[port.name] = PortItem(self, port, True, i)
        rows = max(len(self.inputs), len(self.outputs), 1)
        self.height = HEADER + rows * ROW + 22
        self.setToolTip(node_type.description if node_type and node_type.description else node.type)

    @property
    def title(self) -> str:
        if self.node.title:
            return self.node.title
        return self.node_type.title if self.node_type else f"{self.node.type} (missing)"

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-2, -2, WIDTH + 4, self.height + 4)

    def toggle_rect(self) -> QRectF:
        return QRectF(WIDTH - 22, 6, 14, 14)

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem, _widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        body = QRectF(0, 0, WIDTH, self.height)
        border = QColor(HEALTH.get(self.health or "", "#6b7480"))
        if self.problem or self.node.missing:
            border = QColor(HEALTH["failed"])
        pen = QPen(border, 3 if self.isSelected() else 1.6)
        if self.isSelected():
            pen.setColor(QColor("#2f80ed"))
        painter.setPen(pen)
        painter.setBrush(QBrush(QColor("#fbfcfd") if self.node.enabled else QColor("#e6e8eb")))
        painter.drawRoundedRect(body, 6, 6)
        painter.setBrush(QBrush(QColor("#2d3640") if self.node.enabled else QColor("#8a939e")))
        painter.setPen(Qt.PenStyle.NoPen)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, WIDTH, HEADER), 6, 6)
        painter.drawPath(header)
        painter.setPen(QColor("#ffffff"))
        font = QFont()
        font.setBold(True)
        font.setPointSizeF(9)
        painter.setFont(font)
        painter.drawText(QRectF(8, 0, WIDTH - 34, HEADER), Qt.AlignmentFlag.AlignVCenter, self.title)
        toggle = self.toggle_rect()
        painter.setPen(QPen(QColor("#ffffff"), 1.2))
        painter.setBrush(QBrush(QColor(HEALTH["ok"]) if self.node.enabled else QColor("#5b636c")))
        painter.drawRoundedRect(toggle, 3, 3)
        font.setBold(False)
        font.setPointSizeF(8)
        painter.setFont(font)
        painter.setPen(QColor("#2d3640"))
        for name, item in self.inputs.items():
            painter.drawText(QRectF(10, item.y() - ROW / 2, WIDTH / 2, ROW), Qt.AlignmentFlag.AlignVCenter, name)
        for name, item in self.outputs.items():
            painter.drawText(QRectF(WIDTH / 2, item.y() - ROW / 2, WIDTH / 2 - 10, ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, name)
        footer = self.problem or self.badge
        if footer:
            painter.setPen(QColor(HEALTH["failed"]) if self.problem else QColor("#5b636c"))
            painter.drawText(QRectF(8, self.height - 20, WIDTH - 16, 18), Qt.AlignmentFlag.AlignVCenter,
                             painter.fontMetrics().elidedText(footer, Qt.TextElideMode.ElideRight, int(WIDTH - 16)))

    def set_status(self, *, badge: str | None = None, health: str | None = None, problem: str | None = None,
                   clear_problem: bool = False) -> None:
        if badge is not None:
            self.badge = badge
        if health is not None:
            self.health = health
        if problem is not None or clear_problem:
            self.problem = problem
        self.update()

    def mousePressEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.toggle_rect().contains(event.pos()):
            self.scene_().toggle_enabled(self.node.id)
            event.accept()
            return
        self._press_pos = (self.pos().x(), self.pos().y())
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        super().mouseReleaseEvent(event)
        start = getattr(self, "_press_pos", None)
        if start is not None and start != (self.pos().x(), self.pos().y()):
            self.scene_().node_moved(self, start)
        self._press_pos = None

    def itemChange(self, change, value):  # type: ignore[no-untyped-def]  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and self.scene() is not None:
            self.scene_().update_edges(self.node.id)
        return super().itemChange(change, value)

    def scene_(self) -> GraphScene:
        return self.scene()  # type: ignore[return-value]


class EdgeItem(QGraphicsPathItem):
    def __init__(self, link: Link, colour: QColor) -> None:
        super().__init__()
        self.link = link
        self.setPen(QPen(colour, 2.2))
        self.setZValue(-1)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)

    def set_ends(self, start: QPointF, end: QPointF) -> None:
        self.setPath(curve(start, end))


def curve(start: QPointF, end: QPointF) -> QPainterPath:
    path = QPainterPath(start)
    dx = max(abs(end.x() - start.x()) * 0.5, 40.0)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path
