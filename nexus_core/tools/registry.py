"""The tool registry: built-in tools now, installed modules' tools later, one place to find them all."""

from __future__ import annotations

import threading
from collections.abc import Callable

from nexus_core.events import Emitter
from nexus_core.providers.types import ToolSpec
from nexus_core.tools.base import Tool


class ToolRegistry:
    """``loaders`` supply tools on first use (the built-ins import httpx and more: not before the first paint)."""

    def __init__(self, loaders: list[Callable[[], list[Tool]]] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.RLock()
        self._loaders = list(loaders or [])
        self.changed: Emitter[None] = Emitter("tools.changed")

    def _load(self) -> None:
        with self._lock:
            loaders, self._loaders = self._loaders, []
            for loader in loaders:
                for tool in loader():
                    self._tools.setdefault(tool.name, tool)

    def register(self, tool: Tool, *, replace: bool = False) -> None:
        self._load()
        with self._lock:
            if tool.name in self._tools and not replace:
                raise ValueError(f"a tool named {tool.name!r} is already registered")
            self._tools[tool.name] = tool
        self.changed.emit(None)

    def unregister(self, name: str) -> bool:
        self._load()
        with self._lock:
            removed = self._tools.pop(name, None) is not None
        if removed:
            self.changed.emit(None)
        return removed

    def get(self, name: str) -> Tool | None:
        self._load()
        with self._lock:
            return self._tools.get(name)

    def names(self) -> list[str]:
        self._load()
        with self._lock:
            return sorted(self._tools)

    def tools(self) -> list[Tool]:
        self._load()
        with self._lock:
            return [self._tools[n] for n in sorted(self._tools)]

    def specs(self, names: list[str] | None = None) -> list[ToolSpec]:
        chosen = self.tools() if names is None else [t for t in self.tools() if t.name in names]
        return [ToolSpec(t.name, t.description, t.parameters) for t in chosen]
