"""A typed Python signature as a pydantic model and a JSON schema, for tools and module operations alike.

Self-contained (standard library and pydantic only): this file is also copied into module sandboxes as
part of ``nexus_sdk``, where nothing else of the app exists.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(first paragraph, {argument: description}) from a Google-style docstring."""
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    args: dict[str, str] = {}
    match = re.search(r"^Args:\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if match:
        current = None
        for line in match.group(1).splitlines():
            item = re.match(r"\s+(\w+)\s*(?:\([^)]*\))?:\s*(.*)", line)
            if item and (current is None or len(line) - len(line.lstrip()) <= 8):
                current = item.group(1)
                args[current] = item.group(2).strip()
            elif current and line.strip():
                args[current] += " " + line.strip()
    return summary, args


def strip_titles(schema: Any) -> Any:
    """pydantic's schema without its ``title`` keys, which only add noise to what a model reads."""
    if isinstance(schema, dict):
        return {k: strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [strip_titles(v) for v in schema]
    return schema


def args_model(fn: Callable[..., Any], name: str, *, skip_first: bool = False) -> type[BaseModel]:
    """A pydantic model of ``fn``'s parameters (``skip_first`` drops ``self`` or ``ctx``); extra keys refused."""
    _summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())
    if skip_first:
        params = params[1:]
    fields: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{name}: *args/**kwargs cannot be described to a model")
        annotation = hints.get(p.name, str)
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (annotation, Field(default, description=arg_docs.get(p.name)))
    return create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)


def validate_arguments(model: type[BaseModel], name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments checked and converted to the declared types; ValueError naming each bad field."""
    try:
        parsed = model.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"invalid arguments for {name}: {problems}") from exc
    return {field: getattr(parsed, field) for field in type(parsed).model_fields}
