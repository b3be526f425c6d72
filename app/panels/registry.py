"""The panel plug-in API. A feature adds a panel by registering it in its package's ``__init__``:

    register_panel("monitor", title="Monitor", icon="monitor", order=90,
                   factory="app.panels.monitor.panel:MonitorPanel")

The factory is named, not imported: a panel's module (and heavy libraries such as pyqtgraph) loads
the first time the panel is shown, so the window appears before any panel's code is imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from app.context import AppContext


class Panel(QWidget):
    """Base class of every panel: a thin view over core objects reached through ``ctx``."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    def panel_shown(self) -> None:
        """Called when the panel becomes the visible one (start refreshing)."""

    def panel_hidden(self) -> None:
        """Called when another panel replaces it (stop spending time on drawing)."""

    def shutdown(self) -> None:
        """Called once when the window closes."""


@dataclass(frozen=True)
class PanelSpec:
    id: str
    title: str
    icon: str
    order: int
    factory: str  # "package.module:ClassName", a Panel subclass taking (ctx)
    description: str = ""

    def create(self, ctx: AppContext) -> Panel:
        module_name, _, class_name = self.factory.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        panel = cls(ctx)
        if not isinstance(panel, Panel):
            raise TypeError(f"panel {self.id!r}: {self.factory} did not produce a Panel")
        panel.setObjectName(f"panel-{self.id}")
        return panel


_REGISTRY: dict[str, PanelSpec] = {}


def register_panel(panel_id: str, *, title: str, icon: str, factory: str, order: int = 50,
                   description: str = "") -> PanelSpec:
    if ":" not in factory:
        raise ValueError(f"panel {panel_id!r}: factory must look like 'package.module:ClassName'")
    spec = PanelSpec(panel_id, title, icon, order, factory, description)
    existing = _REGISTRY.get(panel_id)
    if existing is not None and existing != spec:
        raise ValueError(f"a different panel with id {panel_id!r} is already registered")
    _REGISTRY[panel_id] = spec
    return spec


def registered_panels() -> list[PanelSpec]:
    return sorted(_REGISTRY.values(), key=lambda spec: (spec.order, spec.title))
