"""The tool protocol: a typed Python callable whose JSON schema comes from its signature.

    @tool(risk="safe")
    def calculator(expression: str) -> str:
        \"\"\"Evaluate arithmetic.

        Args:
            expression: e.g. "2 * (3 + 4) ** 2"
        \"\"\"

The first parameter may be ``ctx: ToolContext`` (not shown to the model): the workspace, the
conversation and the core services a tool may use. Tools may be sync (run in a worker thread) or async.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from nexus_core.sdk.signature import args_model, parse_docstring, strip_titles, validate_arguments

Risk = Literal["safe", "risky"]  # risky tools ask the user before every run (or "always" for a conversation)


class ToolFailure(Exception):  # noqa: N818 - a tool's way to say "this did not work, tell the model why"
    """Raised by a tool for an expected failure; the message goes to the model and the user's card."""

    def __init__(self, message: str, *, kind: str = "tool_error") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class ToolContext:
    """What a running tool may reach. ``services`` holds core objects (telemetry, providers, chat…)."""

    workspace: Path
    conversation_id: str | None = None
    services: dict[str, Any] = field(default_factory=dict)

    def service(self, name: str) -> Any:
        try:
            return self.services[name]
        except KeyError:
            raise ToolFailure(f"this tool needs the {name!r} service, which is not available here",
                              kind="unavailable") from None


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    risk: Risk = "safe"
    timeout_s: float = 30.0
    wants_context: bool = False
    sandboxed: bool = False  # runs its work inside nexus_core.sandbox (approval dialogs say how strongly)

    @property
    def parameters(self) -> dict[str, Any]:
        return strip_titles(self.args_model.model_json_schema())

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments checked and converted to the declared types; raises ``ToolFailure`` naming each field."""
        try:
            return validate_arguments(self.args_model, self.name, arguments)
        except ValueError as exc:
            raise ToolFailure(str(exc), kind="invalid_arguments") from exc


def tool(name: str | None = None, *, risk: Risk = "safe", timeout_s: float = 30.0,
         description: str | None = None, sandboxed: bool = False) -> Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a :class:`Tool`; its docstring's first paragraph is the description."""

    def wrap(fn: Callable[..., Any]) -> Tool:
        built = build_tool(fn, name=name, risk=risk, timeout_s=timeout_s, description=description)
        built.sandboxed = sandboxed
        return built

    return wrap


def build_tool(fn: Callable[..., Any], *, name: str | None = None, risk: Risk = "safe", timeout_s: float = 30.0,
               description: str | None = None) -> Tool:
    tool_name = name or fn.__name__
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", tool_name):
        raise ValueError(f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-'")
    summary, _args = parse_docstring(inspect.getdoc(fn) or "")
    params = list(inspect.signature(fn).parameters.values())
    wants_context = bool(params) and params[0].name == "ctx"
    model = args_model(fn, tool_name, skip_first=wants_context)
    return Tool(tool_name, description or summary or tool_name, fn, model, risk, timeout_s, wants_context)
