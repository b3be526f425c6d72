"""The tool registry: built-in tools now, installed modules' tools later, one place to find them all."""

from __future__ import annotations

import threading

from nexus_core.events import Emitter
from nexus_core.providers.types import ToolSpec
from nexus_core.tools.base import Tool


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        self.changed: Emitter[None] = Emitter("tools.changed")

    def register(self, tool: Tool, *, replace: bool = False) -> None:
        with self._lock:
            if tool.name in self._tools and not replace:
                raise ValueError(f"a tool named {tool.name!r} is already registered")
            self._tools[tool.name] = tool
        self.changed.emit(None)

    def unregister(self, name: str) -> bool:
        with self._lock:
            removed = self._tools.pop(name, None) is not None
        if removed:
            self.changed.emit(None)
        return removed

    def get(self, name: str) -> Tool | None:
        with self._lock:
            return self._tools.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._tools)

    def tools(self) -> list[Tool]:
        with self._lock:
            return [self._tools[n] for n in sorted(self._tools)]

    def specs(self, names: list[str] | None = None) -> list[ToolSpec]:
        chosen = self.tools() if names is None else [t for t in self.tools() if t.name in names]
        return [ToolSpec(t.name, t.description, t.parameters) for t in chosen]
