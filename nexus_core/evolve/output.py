"""Reading a model's module build: ``### file`` headings with fenced code (what the guide asks for), or one
JSON object with a ``files`` map (what structured-output modes give). Anything else is rejected with a
message the model can act on in its next attempt.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_FILES = 8
MAX_FILE_BYTES = 200_000
SECTION_RE = re.compile(r"^#{2,4}\s*`?([\w./-]+)`?\s*$", re.MULTILINE)
FENCE_RE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)\n```", re.DOTALL)


class BuildOutputError(ValueError):
    """The answer is not a usable module build; ``str()`` says what to change."""


class IntegrationCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class CredentialOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    label: str
    required: bool = True


class ModuleSpec(BaseModel):
    """The module's metadata as the model states it (the manifest is built from it, not copied)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    display_name: str
    description: str
    category: str = "other"
    platform: str
    class_name: str
    network_hosts: list[str] = Field(default_factory=list)
    credentials: list[CredentialOut] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    integration_check: IntegrationCheck | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")


class BuildOutput(BaseModel):
    spec: ModuleSpec
    files: dict[str, str]


def _check_path(name: str) -> str:
    path = PurePosixPath(name.strip())
    if path.is_absolute() or ".." in path.parts or path.suffix != ".py" or not path.parts:
        raise BuildOutputError(f"{name!r} is not allowed: files must be .py files inside the module folder")
    return path.as_posix()


def _sections(text: str) -> dict[str, str]:
    """``### name`` headings each followed by a fenced block."""
    found: dict[str, str] = {}
    heads = list(SECTION_RE.finditer(text))
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        fence = FENCE_RE.search(text, head.end(), end)
        if fence is not None and "." in head.group(1):  # "### Notes" and the like are commentary, not files
            found[head.group(1)] = fence.group(1)
    return found


def json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in an answer (bare, fenced, or with words around it), or None."""
    stripped = text.strip()
    fence = FENCE_RE.fullmatch(stripped) if stripped.startswith("```") else None
    candidate = fence.group(1) if fence else stripped
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(candidate[start:end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def parse_build(text: str) -> BuildOutput:
    """The spec and files of an answer, or BuildOutputError naming what is missing or wrong."""
    sections = _sections(text)
    if "module.json" in sections:
        try:
            meta = json.loads(sections.pop("module.json"))
        except json.JSONDecodeError as exc:
            raise BuildOutputError(f"module.json is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        files = sections
    else:
        whole = json_object(text) if not sections else None
        if whole is None or not isinstance(whole.get("files"), dict):
            if not sections and "```" not in text:
                raise BuildOutputError("the answer was prose, not the module: answer with the ### module.json, "
                                       "### adapter.py and ### test_adapter.py sections only")
            raise BuildOutputError("the ### module.json section is missing (or its JSON fence is broken)")
        files = {str(k): v for k, v in whole.pop("files").items()}
        meta = whole
    if not isinstance(meta, dict):
        raise BuildOutputError("module.json must be one JSON object")
    try:
        spec = ModuleSpec.model_validate(meta)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:6])
        raise BuildOutputError(f"module.json does not fit: {problems}") from None
    checked: dict[str, str] = {}
    for name, source in files.items():
        if not isinstance(source, str):
            raise BuildOutputError(f"the content of {name} must be text")
        if len(source.encode()) > MAX_FILE_BYTES:
            raise BuildOutputError(f"{name} is larger than {MAX_FILE_BYTES // 1000} KB")
        checked[_check_path(name)] = source.rstrip() + "\n"
    if len(checked) > MAX_FILES:
        raise BuildOutputError(f"too many files ({len(checked)}; at most {MAX_FILES})")
    for required in ("adapter.py", "test_adapter.py"):
        if required not in checked:
            raise BuildOutputError(f"the ### {required} section is missing")
    return BuildOutput(spec=spec, files=checked)
