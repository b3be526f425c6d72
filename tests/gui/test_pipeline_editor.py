"""The pipeline editor through its widgets: add nodes, connect by mouse, refuse bad links, undo, save/reload,
run with badges, and the chat pipeline saved from the editor."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox, QLineEdit

from app.panels.pipeline.items import NodeItem, PortItem
from app.panels.pipeline.panel import PipelinePanel
from app.window import MainWindow
from nexus_core.pipeline import serialize


def _panel(window: MainWindow) -> PipelinePanel:
    panel = window.show_panel("pipeline")
    assert isinstance(panel, PipelinePanel)
    return panel


def _port_point(panel: PipelinePanel, port: PortItem) -> QPoint:
    return panel.view.mapFromScene(port.scenePos())


def drag_link(qtbot, panel: PipelinePanel, source: PortItem, target: PortItem) -> None:  # type: ignore[no-untyped-def]
    viewport = panel.view.viewport()
    start, end = _port_point(panel, source), _port_point(panel, target)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, (start + end) / 2)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def palette_add(qtbot, panel: PipelinePanel, type_id: str) -> NodeItem:  # type: ignore[no-untyped-def]
    before = set(panel.scene.node_items)
    for row in range(panel.palette.count()):
        item = panel.palette.item(row)
        if item.data(Qt.ItemDataRole.UserRole) == type_id:
            panel.palette.setCurrentItem(item)
            qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
            break
    (new_id,) = set(panel.scene.node_items) - before
    return panel.scene.node_items[new_id]


def fresh_document(panel: PipelinePanel, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"format": "nexus-pipeline", "version": 1, "name": "scratch", "nodes": [],
                                "links": []}))
    panel.choose_open = lambda: str(path)
    panel.open_file()


def test_the_editor_opens_on_the_chat_pipeline(window) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    assert panel.path is None and "Chat pipeline" in panel.title.text()
    assert {"query", "classifier", "tiers", "models", "tools", "executor", "synthesis"} <= set(panel.scene.node_items)
    assert len(panel.scene.edge_items) == len(panel.graph.links) == 12
    assert panel.problems.count() == 0


def test_build_a_graph_by_mouse_undo_save_and_reload(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    fresh_document(panel, tmp_path)
    source = palette_add(qtbot, panel, "input.value")
    source.setPos(0, 0)
    template = palette_add(qtbot, panel, "text.template")
    template.setPos(300, 0)
    adder = palette_add(qtbot, panel, "number.add")
    adder.setPos(300, 200)
    qtbot.wait(10)
    drag_link(qtbot, panel, source.outputs["value"], template.inputs["a"])
    assert len(panel.graph.links) == 1 and panel.graph.links[0].target == template.node.id
    drag_link(qtbot, panel, template.outputs["text"], adder.inputs["x"])  # text into a number: refused
    assert len(panel.graph.links) == 1 and panel.status.is_error and "takes number" in panel.status.text()
    panel.scene.clearSelection()
    template.setSelected(True)
    template_props = panel.properties.controls["template"]
    template_props.setPlainText("Hi {a}")
    assert panel.graph.nodes[template.node.id].params["template"] == "Hi {a}"
    qtbot.mouseClick(panel.buttons["undo"], Qt.MouseButton.LeftButton)
    assert panel.graph.nodes[template.node.id].params["template"] == "{a}"
    qtbot.mouseClick(panel.buttons["redo"], Qt.MouseButton.LeftButton)
    assert panel.graph.nodes[template.node.id].params["template"] == "Hi {a}"
    qtbot.mouseClick(panel.buttons["undo"], Qt.MouseButton.LeftButton)  # the param
    qtbot.mouseClick(panel.buttons["undo"], Qt.MouseButton.LeftButton)  # the link
    assert panel.graph.links == []
    qtbot.mouseClick(panel.buttons["redo"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.buttons["redo"], Qt.MouseButton.LeftButton)
    assert len(panel.graph.links) == 1
    assert "•" in panel.title.text()
    target = tmp_path / "mine.json"
    panel.choose_save = lambda: str(target)
    qtbot.mouseClick(panel.buttons["save_as"], Qt.MouseButton.LeftButton)
    assert "•" not in panel.title.text()
    saved = serialize.load(target, panel.registry)
    assert serialize.to_dict(saved)["links"] == serialize.to_dict(panel.graph)["links"]
    assert saved.nodes[template.node.id].params["template"] == "Hi {a}"
    panel.choose_open = lambda: str(target)
    panel.open_file()
    assert set(panel.scene.node_items) == set(saved.nodes) and len(panel.scene.edge_items) == 1


def test_delete_copy_paste_and_disable_toggle(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    fresh_document(panel, tmp_path)
    a = palette_add(qtbot, panel, "number.add")
    b = palette_add(qtbot, panel, "number.add")
    b.setPos(300, 0)
    drag_link(qtbot, panel, a.outputs["number"], b.inputs["x"])
    panel.scene.clearSelection()
    a.setSelected(True)
    b.setSelected(True)
    panel.copy()
    panel.paste()
    assert len(panel.graph.nodes) == 4 and len(panel.graph.links) == 2
    panel.delete_selected()  # the pasted pair is selected
    assert len(panel.graph.nodes) == 2 and len(panel.graph.links) == 1
    point = panel.view.mapFromScene(a.mapToScene(a.toggle_rect().center()))
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert panel.graph.nodes[a.node.id].enabled is False
    panel.history.undo()
    assert panel.graph.nodes[a.node.id].enabled is True


def test_run_puts_badges_on_nodes_and_reports_outputs(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    fresh_document(panel, tmp_path)
    source = palette_add(qtbot, panel, "input.value")
    template = palette_add(qtbot, panel, "text.template")
    template.setPos(300, 0)
    drag_link(qtbot, panel, source.outputs["value"], template.inputs["a"])
    panel.graph.set_param(source.node.id, "name", "who")
    panel.run_input.setText('{"who": "pipeline"}')
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.run_button.isEnabled() and "nodes in" in panel.run_output.toPlainText(),
                    timeout=10_000)
    assert "'pipeline'" in panel.run_output.toPlainText()
    assert template.health == "ok" and template.badge.endswith("ms")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)  # nothing changed: served from the cache
    qtbot.waitUntil(lambda: template.health == "cached", timeout=10_000)


def test_editing_the_chat_pipeline_in_the_editor_changes_the_next_answer(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    from tests.core.providers.conftest import add_provider, route_all
    from tests.support.llm_servers import ScriptedOpenAIServer, text

    core = window.ctx.core
    with ScriptedOpenAIServer(models=["m1", "m2"]) as server:
        add_provider(core, server)
        route_all(core, "loc/m1")
        panel = _panel(window)
        panel.scene.clearSelection()
        panel.scene.node_items["models"].setSelected(True)
        model_edit = panel.properties.controls["model"]
        assert isinstance(model_edit, QLineEdit)
        model_edit.setText("loc/m2")
        model_edit.editingFinished.emit()
        panel.scene.clearSelection()
        panel.scene.node_items["tools"].setSelected(True)
        mode = panel.properties.controls["mode"]
        assert isinstance(mode, QComboBox)
        mode.setCurrentText("none")
        qtbot.mouseClick(panel.buttons["save"], Qt.MouseButton.LeftButton)
        assert "next chat message follows" in panel.status.text()
        server.script(text(["answered by m2"]))
        answer = core.chat.send(None, "hello").wait(10)
        assert answer.meta["model_ref"] == "loc/m2" and server.requests[-1].body["model"] == "m2"
        assert "tools" not in server.requests[-1].body


def test_a_broken_chat_pipeline_is_refused_with_the_reason(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    panel.scene.clearSelection()
    panel.scene.node_items["models"].setSelected(True)
    panel.delete_selected()
    qtbot.waitUntil(lambda: panel.problems.count() > 0, timeout=3000)
    assert "decision" in panel.problems.item(0).text()
    assert panel.scene.node_items["executor"].problem
    qtbot.mouseClick(panel.buttons["save"], Qt.MouseButton.LeftButton)
    assert panel.status.is_error and "was not saved" in panel.status.text()
    assert not window.ctx.core.pipelines.chat_path.exists()


def test_the_distillation_template_opens_and_saves_as_the_users_own(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(window)
    qtbot.mouseClick(panel.buttons["distill"], Qt.MouseButton.LeftButton)
    assert {"data", "teacher", "student", "distil", "evaluate", "export"} == set(panel.scene.node_items)
    assert panel.path == window.ctx.core.pipelines.dir / "distill.json" and panel.problems.count() == 0
    panel.graph.set_param("teacher", "path", "/models/teacher")
    qtbot.mouseClick(panel.buttons["save"], Qt.MouseButton.LeftButton)
    saved = serialize.load(panel.path, panel.registry)
    assert saved.nodes["teacher"].params["path"] == "/models/teacher"
