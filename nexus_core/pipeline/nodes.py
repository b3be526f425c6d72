"""Node types: typed ports, parameters, and the function a node runs. One registry for every node kind.

A node type says what it takes and gives (ports with a type name), which parameters it has (with the
control the editor shows), whether its result may be cached, and what it outputs when disabled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

ANY = "any"
ParamKind = Literal["text", "multiline", "number", "integer", "bool", "choice", "slider"]


def compatible(source: str, target: str) -> bool:
    """Can an output of type ``source`` feed an input of type ``target``?"""
    return source == target or ANY in (source, target)


@dataclass(frozen=True)
class Port:
    name: str
    type: str
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Param:
    """A node setting; ``kind`` picks the editor's control (choice → dropdown, slider → slider...)."""

    name: str
    kind: ParamKind
    default: Any
    label: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    def check(self, value: Any) -> str | None:
        """None when ``value`` suits this parameter, else what is wrong with it."""
        if self.kind in ("text", "multiline") and not isinstance(value, str):
            return "must be text"
        if self.kind == "bool" and not isinstance(value, bool):
            return "must be true or false"
        if self.kind in ("number", "slider", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return "must be a number"
            if self.kind == "integer" and not float(value).is_integer():
                return "must be a whole number"
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {self.minimum:g}"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {self.maximum:g}"
        if self.kind == "choice" and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        return None


@dataclass(frozen=True)
class NodeContext:
    """What a running node may use: core services (router, tools, settings…) and the run's mode."""

    services: dict[str, Any] = field(default_factory=dict)
    mode: str = "run"  # "run" does the work; "plan" stops before calling models (the chat pane's use)
    node_id: str = ""
    signature: str = ""  # what this run of the node is keyed by (its cache entry, an agent step's checkpoint)

    def service(self, name: str) -> Any:
        try:
            return self.services[name]
        except KeyError:
            raise LookupError(f"this node needs the {name!r} service, which this run does not have") from None


NodeFn = Callable[[NodeContext, dict[str, Any], dict[str, Any]], Any]  # (ctx, inputs, params) -> outputs


@dataclass(frozen=True)
class NodeType:
    type: str
    title: str
    category: str
    run: NodeFn
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    params: tuple[Param, ...] = ()
    description: str = ""
    cacheable: bool = True  # False for nodes whose result changes without their inputs changing (LLM calls)
    blocking: bool = False  # a sync function that takes long: run in a thread so other branches go on
    when_disabled: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None  # None: skipped

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


class NodeRegistry:
    """Every node type by id; ``loaders`` add whole families (core, chat, modules…) on first use."""

    def __init__(self, loaders: Iterable[Callable[[], list[NodeType]]] = ()) -> None:
        self._types: dict[str, NodeType] = {}
        self._loaders = list(loaders)
        self._lock = threading.RLock()

    def _load(self) -> None:
        with self._lock:
            loaders, self._loaders = self._loaders, []
            for loader in loaders:
                for node_type in loader():
                    self._types[node_type.type] = node_type

    def register(self, node_type: NodeType, *, replace: bool = False) -> None:
        self._load()
        with self._lock:
            if node_type.type in self._types and not replace:
                raise ValueError(f"node type {node_type.type!r} is already registered")
            self._types[node_type.type] = node_type

    def unregister_prefix(self, prefix: str) -> None:
        with self._lock:
            for name in [n for n in self._types if n.startswith(prefix)]:
                del self._types[name]

    def get(self, type_id: str) -> NodeType | None:
        self._load()
        with self._lock:
            return self._types.get(type_id)

    def types(self) -> list[NodeType]:
        self._load()
        with self._lock:
            return sorted(self._types.values(), key=lambda t: (t.category, t.title))
