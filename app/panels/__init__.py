"""Panels register themselves on import; every sub-package of this folder is one panel."""

from __future__ import annotations

import importlib
import pkgutil

from app.panels.registry import Panel, PanelSpec, register_panel, registered_panels

__all__ = ["Panel", "PanelSpec", "load_builtin_panels", "register_panel", "registered_panels"]


def load_builtin_panels() -> list[PanelSpec]:
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            importlib.import_module(f"{__name__}.{info.name}")
    return registered_panels()
