"""``manifest.json``: what a module is, what it needs, who built it, and what was checked and approved.

Validated by a versioned pydantic schema; every problem names the field (and the line, for JSON syntax).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nexus_core.errors import NexusError

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
HOST_RE = re.compile(r"^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$")
CATEGORIES = ("weather", "finance", "news", "productivity", "knowledge", "developer", "home", "media", "other")
# Third-party packages a module may declare: what the module sandbox can already import, nothing more.
ALLOWED_DEPENDENCIES = frozenset({"httpx", "pydantic"})


class ManifestError(NexusError):
    """The manifest is missing, not JSON, or breaks the schema; ``problems`` lists each field's issue."""

    def __init__(self, what: str, *, path: Path | None, problems: list[str] | None = None, hint: str = "") -> None:
        self.problems = problems or []
        super().__init__(what + ("".join(f"\n  - {p}" for p in self.problems)), path=path,
                         hint=hint or "Fix manifest.json; the module format is described in the README.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CredentialSpec(_Strict):
    """A secret the module needs: its name and a label for the credentials dialog (never a value)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=120)
    required: bool = True


class Provenance(_Strict):
    """Who or what wrote the module, with which model, when, and a hash of every file."""

    built_by: str = Field(min_length=1, description="'builtin', 'user', or 'agent'")
    model: str | None = None
    created_at: datetime
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256 hex")

    @field_validator("files")
    @classmethod
    def _hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"files[{name!r}] must be a sha256 hex digest")
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"files[{name!r}] must be a path inside the module folder")
        return value


class CheckRecord(_Strict):
    name: str
    passed: bool
    detail: str = ""


class Validation(_Strict):
    validated_at: datetime
    passed: bool
    checks: list[CheckRecord] = Field(default_factory=list)


class Approval(_Strict):
    approved_by: str
    approved_at: datetime
    sandbox: str = ""  # how strongly the sandbox isolated it on that machine, as shown to the approver


class Manifest(_Strict):
    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    name: str = Field(description="the folder name: lower case letters, digits and '_'")
    version: str
    category: str
    platform: str = Field(min_length=1, description="the service it integrates, e.g. 'Open-Meteo'")
    display_name: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=2000)
    entry_point: str = Field(description="the Python file, relative to the module folder, that defines the adapter")
    class_name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    python_dependencies: list[str] = Field(default_factory=list)
    test_file: str
    credentials: list[CredentialSpec] = Field(default_factory=list)
    network_hosts: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict, description="defaults for the adapter's config model")
    provenance: Provenance
    validation: Validation | None = None
    approval: Approval | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.fullmatch(value):
            raise ValueError("must be 2-48 lower-case letters, digits or '_', starting with a letter")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not SEMVER_RE.fullmatch(value):
            raise ValueError("must be a semantic version like 1.2.0")
        return value

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"must be one of {', '.join(CATEGORIES)}")
        return value

    @field_validator("entry_point", "test_file")
    @classmethod
    def _relative_py(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts or path.suffix != ".py":
            raise ValueError("must be a .py file inside the module folder")
        return value

    @field_validator("python_dependencies")
    @classmethod
    def _deps(cls, value: list[str]) -> list[str]:
        for dep in value:
            base = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].strip().lower()
            if base not in ALLOWED_DEPENDENCIES:
                raise ValueError(f"{dep!r} is not allowed; modules may use {', '.join(sorted(ALLOWED_DEPENDENCIES))}")
        return value

    @field_validator("network_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not HOST_RE.fullmatch(host):
                raise ValueError(f"{host!r} is not a host name (like api.example.com or *.example.com)")
        return value

    @model_validator(mode="after")
    def _unique_credentials(self) -> Manifest:
        names = [c.name for c in self.credentials]
        if len(names) != len(set(names)):
            raise ValueError("credential names must be unique")
        return self

    def version_tuple(self) -> tuple[int, int, int]:
        major, minor, patch = (int(x) for x in re.split(r"[.+-]", self.version)[:3])
        return major, minor, patch

    def write(self, folder: Path) -> None:
        from nexus_core.atomic import atomic_write_text

        atomic_write_text(folder / MANIFEST_FILE, self.model_dump_json(indent=2, exclude_none=True) + "\n")


def _field_problems(exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (remove it or check its spelling)"
        elif error["type"] == "missing":
            message = "required field is missing"
        out.append(f"{loc}: {message}")
    return out


def load_manifest(folder: Path, *, expected_name: str | None = None) -> Manifest:
    """Read and check ``folder/manifest.json``; the name must equal the folder's name (or ``expected_name`` for
    an installed version, which lives in ``<name>/versions/v<N>``)."""
    path = folder / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("The module has no manifest.json.", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest.json cannot be read: {exc}", path=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest.json is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                            path=path) from None
    if not isinstance(data, dict):
        raise ManifestError("manifest.json must hold a JSON object.", path=path)
    if data.get("schema_version", MANIFEST_SCHEMA_VERSION) != MANIFEST_SCHEMA_VERSION:
        raise ManifestError(f"manifest.json has schema_version {data.get('schema_version')!r}; this app reads "
                            f"version {MANIFEST_SCHEMA_VERSION}.", path=path,
                            hint="Update the app, or rebuild the module for this version.")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError("manifest.json does not match the module schema:", path=path,
                            problems=_field_problems(exc)) from None
    expected = expected_name or folder.name
    if manifest.name != expected:
        raise ManifestError(f"manifest.json names the module {manifest.name!r}, but its folder is "
                            f"{expected!r}.", path=path, problems=["name: must equal the folder name"])
    return manifest


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file a module ships (manifest excluded: it holds the hashes)."""
    hashes = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST_FILE and "__pycache__" not in path.parts:
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def rehash(folder: Path) -> Manifest:
    """Rewrite the manifest's file hashes after an edit by its author (validation fails on stale ones)."""
    manifest = load_manifest(folder)
    manifest.provenance.files = file_hashes(folder)
    manifest.write(folder)
    return manifest
