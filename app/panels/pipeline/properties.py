"""The properties side panel: the selected node's title, enabled flag and a control per parameter."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nexus_core.pipeline.graph import Node
from nexus_core.pipeline.nodes import NodeType, Param

SLIDER_STEPS = 100


class PropertiesPanel(QWidget):
    param_edited = Signal(str, str, object)  # node id, param, value
    enabled_edited = Signal(str, bool)
    title_edited = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Select a node to edit it.")
        self.heading.setWordWrap(True)
        self.heading.setObjectName("muted")
        self.form_holder = QWidget()
        self.form = QFormLayout(self.form_holder)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.form_holder)
        layout.addStretch(1)
        self.controls: dict[str, QWidget] = {}
        self.node_id: str | None = None
        self.setMinimumWidth(240)

    def show_node(self, node: Node | None, node_type: NodeType | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.controls = {}
        self.node_id = node.id if node else None
        if node is None:
            self.heading.setText("Select a node to edit it.")
            return
        if node_type is None:
            self.heading.setText(f"{node.id}: type {node.type!r} is not available (was its module removed?). "
                                 "It is kept in the file but cannot run.")
            return
        self.heading.setText(f"<b>{node_type.title}</b> ({node.id})<br>{node_type.description}")
        title = QLineEdit(node.title)
        title.setPlaceholderText(node_type.title)
        title.setToolTip("The node's label on the graph (empty: the name of its type)")
        title.editingFinished.connect(lambda: self.title_edited.emit(node.id, title.text()))
        self.form.addRow("Title", title)
        enabled = QCheckBox("Enabled")
        enabled.setChecked(node.enabled)
        enabled.setToolTip("Off: the node is skipped when the pipeline runs (it stays in the graph)")
        enabled.toggled.connect(lambda on: self.enabled_edited.emit(node.id, on))
        self.form.addRow("", enabled)
        self.controls["__enabled__"] = enabled
        for param in node_type.params:
            value = node.params.get(param.name, param.default)
            control = self._control(node.id, param, value)
            control.setToolTip(param.description or f"The node's “{param.label or param.name}” setting")
            self.form.addRow(param.label or param.name, control)
            self.controls[param.name] = control

    def _emit(self, node_id: str, name: str, value: Any) -> None:
        self.param_edited.emit(node_id, name, value)

    def _control(self, node_id: str, param: Param, value: Any) -> QWidget:
        if param.kind == "choice":
            combo = QComboBox()
            combo.addItems(list(param.choices))
            combo.setCurrentText(str(value))
            combo.currentTextChanged.connect(lambda text: self._emit(node_id, param.name, text))
            return combo
        if param.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda on: self._emit(node_id, param.name, on))
            return box
        if param.kind == "integer":
            spin = QSpinBox()
            spin.setRange(int(param.minimum if param.minimum is not None else -10**9),
                          int(param.maximum if param.maximum is not None else 10**9))
            spin.setValue(int(value))
            spin.valueChanged.connect(lambda v: self._emit(node_id, param.name, int(v)))
            return spin
        if param.kind == "slider" and param.minimum is not None and param.maximum is not None:
            return self._slider(node_id, param, float(value))
        if param.kind in ("number", "slider"):
            spin = QDoubleSpinBox()
            spin.setDecimals(3)
            spin.setRange(param.minimum if param.minimum is not None else -1e12,
                          param.maximum if param.maximum is not None else 1e12)
            spin.setValue(float(value))
            spin.valueChanged.connect(lambda v: self._emit(node_id, param.name, float(v)))
            return spin
        if param.kind == "multiline":
            edit = QPlainTextEdit(str(value))
            edit.setMaximumHeight(90)
            edit.textChanged.connect(lambda: self._emit(node_id, param.name, edit.toPlainText()))
            return edit
        line = QLineEdit(str(value))
        line.editingFinished.connect(lambda: self._emit(node_id, param.name, line.text()))
        return line

    def _slider(self, node_id: str, param: Param, value: float) -> QWidget:
        low, high = float(param.minimum or 0.0), float(param.maximum or 1.0)
        holder = QWidget()
        row = QVBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, SLIDER_STEPS)
        slider.setToolTip(param.description or f"The node's “{param.label or param.name}” setting")
        slider.setValue(round((value - low) / (high - low) * SLIDER_STEPS))
        label = QLabel(f"{value:g}")
        row.addWidget(slider)
        row.addWidget(label)

        def moved(position: int) -> None:
            current = round(low + (high - low) * position / SLIDER_STEPS, 3)
            label.setText(f"{current:g}")
            self._emit(node_id, param.name, current)

        slider.valueChanged.connect(moved)
        holder.slider = slider  # type: ignore[attr-defined]
        return holder
