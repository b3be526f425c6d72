"""Saved provider definitions (never their keys: those live in the credential store)."""

from __future__ import annotations

import json
import logging
import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from nexus_core.errors import NexusError
from nexus_core.store import Store

log = logging.getLogger(__name__)
STORE_KEY = "providers"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ProviderConfig(BaseModel):
    name: str
    kind: Literal["openai", "anthropic", "local"]
    preset: str = "custom"
    base_url: str = ""
    folder: str = ""  # local model folder (kind "local")
    fusion_bundle: str = ""  # kind "local": a fusion bundle (nexus fuse train) that lets it read attachments
    key_env: str = ""  # environment variable to read the key from when none is stored
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    enabled: bool = True
    models: list[str] = Field(default_factory=list)  # last listed (or typed) model ids, for pickers

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("use 1–64 letters, digits, '.', '_' or '-' (no spaces or '/'), starting with a "
                             "letter or digit")
        return value

    @field_validator("base_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must start with http:// or https:// followed by a host")
        return value.rstrip("/")

    def key_env_var(self) -> str:
        """The environment variable a key is read from when none is stored (own setting, else the preset's)."""
        from nexus_core.providers.presets import PRESETS

        preset = PRESETS.get(self.preset)
        return self.key_env or (preset.key_env if preset else "")

    def check_complete(self) -> None:
        """Raise NexusError when the config cannot work (called on save, so mistakes show in the dialog)."""
        if self.kind in ("openai",) and not self.base_url:
            raise NexusError(f"Provider {self.name!r} has no base URL.",
                             hint="Enter the server's address, e.g. http://127.0.0.1:11434/v1 for Ollama.")
        if self.kind == "local" and not self.folder:
            raise NexusError(f"Provider {self.name!r} has no model folder.",
                             hint="Choose a folder with config.json, weights and tokenizer files.")


def load_configs(store: Store) -> tuple[list[ProviderConfig], list[str]]:
    """Saved providers, skipping (and reporting) any entry that no longer validates."""
    raw = store.get_value(STORE_KEY)
    if not raw:
        return [], []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        return [], [f"The saved provider list in the store is unreadable ({exc.msg}); providers were reset."]
    if not isinstance(items, list):
        return [], ["The saved provider list in the store is not a list; providers were reset."]
    configs, problems = [], []
    for index, item in enumerate(items):
        try:
            configs.append(ProviderConfig.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            problems.append(f"Saved provider #{index + 1} ({item.get('name', '?') if isinstance(item, dict) else '?'})"
                            f" was skipped: field {field!r}: {first['msg']}.")
    for problem in problems:
        log.warning("%s", problem)
    return configs, problems


def save_configs(store: Store, configs: list[ProviderConfig]) -> None:
    store.set_value(STORE_KEY, json.dumps([c.model_dump() for c in configs]))
