"""The one provider pool: builds provider clients from saved configs and keys, and tracks cooldowns."""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.models.manager import ModelManager
from nexus_core.providers.base import ModelInfo, Provider
from nexus_core.providers.config import ProviderConfig, load_configs, save_configs
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.presets import PRESETS
from nexus_core.store import Store

log = logging.getLogger(__name__)


def split_model_ref(ref: str) -> tuple[str, str]:
    """``"provider/model"`` → ``(provider, model)``; model ids may themselves contain ``/``."""
    provider, sep, model = ref.partition("/")
    if not sep or not provider or not model:
        raise NexusError(f"Model reference {ref!r} is not of the form provider/model.",
                         hint="Write the provider's name, a slash, then the model id, e.g. ollama/llama3.2:3b.")
    return provider, model


class ProviderPool:
    """Owns provider clients (one per saved provider, rebuilt when its config or key changes)."""

    def __init__(self, store: Store, credentials: Any = None, models: ModelManager | None = None) -> None:
        self._store = store
        self._models = models if models is not None else ModelManager()
        self._credentials = credentials
        self._lock = threading.RLock()
        self._configs, self.problems = load_configs(store)
        self._clients: dict[str, Provider] = {}
        self._retired: list[Provider] = []  # replaced clients, closed on aclose()
        self._cooldowns: dict[str, float] = {}  # "provider/model" → monotonic time it may be used again
        self.changed: Emitter[None] = Emitter("providers.changed")

    # ---- configs ---------------------------------------------------------------------------------

    def configs(self) -> list[ProviderConfig]:
        with self._lock:
            return [c.model_copy(deep=True) for c in self._configs]

    def config(self, name: str) -> ProviderConfig | None:
        with self._lock:
            return next((c.model_copy(deep=True) for c in self._configs if c.name == name), None)

    def save(self, config: ProviderConfig, *, replaces: str | None = None) -> None:
        """Add or update a provider (``replaces`` = its old name when renamed)."""
        config.check_complete()
        renaming = bool(replaces and replaces != config.name)
        if renaming and self._credentials is not None and getattr(self._credentials, "locked", False):
            raise NexusError(f"Provider {replaces!r} cannot be renamed while the credential store is locked: its "
                             "API key could not move with it.", hint="Unlock the credential store first.")
        with self._lock:
            old_name = replaces or config.name
            if config.name != old_name and any(c.name == config.name for c in self._configs):
                raise NexusError(f"A provider named {config.name!r} already exists.", hint="Choose another name.")
            configs = [c for c in self._configs if c.name != old_name]
            index = next((i for i, c in enumerate(self._configs) if c.name == old_name), len(configs))
            configs.insert(index, config)
            save_configs(self._store, configs)
            self._configs = configs
            self._retire(old_name)
            self._retire(config.name)
            if replaces and replaces != config.name and self._credentials_open():
                secret = self._credentials.get(_key_name(replaces))
                if secret:
                    self._credentials.set(_key_name(config.name), secret)
                    self._credentials.delete(_key_name(replaces))
        self.changed.emit(None)

    def local_provider_for(self, folder: Path | str) -> str:
        """The ``provider/model`` reference that runs ``folder`` locally, saving a local provider for it if none
        points there yet (named after the folder, made unique)."""
        folder = Path(folder).expanduser()
        key = folder.resolve()
        with self._lock:
            for config in self._configs:
                if config.kind == "local" and config.folder and Path(config.folder).expanduser().resolve() == key:
                    return f"{config.name}/{folder.name}"
            taken = {c.name for c in self._configs}
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-._")[:56] or "model"
        name = f"local-{base}"
        n = 2
        while name in taken:
            name, n = f"local-{base}-{n}", n + 1
        self.save(ProviderConfig(name=name, kind="local", folder=str(folder), models=[folder.name]))
        return f"{name}/{folder.name}"

    def remove(self, name: str) -> bool:
        with self._lock:
            configs = [c for c in self._configs if c.name != name]
            if len(configs) == len(self._configs):
                return False
            save_configs(self._store, configs)
            self._configs = configs
            self._retire(name)
            if self._credentials_open():
                self._credentials.delete(_key_name(name))
            elif self._credentials is not None:
                log.warning("credential store locked: the stored key of removed provider %s stays until unlocked",
                            name)
        self.changed.emit(None)
        return True

    def _credentials_open(self) -> bool:
        return self._credentials is not None and not getattr(self._credentials, "locked", False)

    def remember_models(self, name: str, models: list[str]) -> None:
        with self._lock:
            for c in self._configs:
                if c.name == name:
                    c.models = list(models)
            save_configs(self._store, self._configs)
        self.changed.emit(None)

    # ---- keys ------------------------------------------------------------------------------------

    def set_api_key(self, name: str, key: str | None) -> None:
        if self._credentials is None:
            raise NexusError("No credential store is open, so keys cannot be saved.")
        if key:
            self._credentials.set(_key_name(name), key)
        else:
            self._credentials.delete(_key_name(name))
        with self._lock:
            self._retire(name)
        self.changed.emit(None)

    def has_stored_key(self, name: str) -> bool:
        if self._credentials is None or getattr(self._credentials, "locked", False):
            return False
        try:
            return _key_name(name) in self._credentials
        except NexusError:
            return False

    def _api_key(self, config: ProviderConfig) -> str | None:
        env = config.key_env_var()
        env_key = (os.environ.get(env) or None) if env else None
        preset = PRESETS.get(config.preset)
        needs_key = bool(preset and preset.needs_key) or config.kind == "anthropic"
        if self._credentials is not None and getattr(self._credentials, "locked", False):
            # Passphrase mode, not unlocked: keyless local servers still work; others say what to do.
            if env_key or not needs_key:
                return env_key
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"The key of provider {config.name!r} is in the locked "
                                "credential store.", provider=config.name,
                                hint="Unlock it with your passphrase (the app asks; the CLI reads "
                                     "$NEXUS_CREDENTIALS_PASSPHRASE), or set the key's environment variable.")
        if self._credentials is not None:
            try:
                key = self._credentials.get(_key_name(config.name))
            except NexusError as exc:
                raise ProviderError(FailureKind.NOT_CONFIGURED, f"The key of provider {config.name!r} could not be "
                                    f"read: {exc.what}", provider=config.name, hint=exc.hint) from exc
            if key:
                return key
        return env_key

    def key_hint(self, config: ProviderConfig) -> str:
        env = config.key_env_var()
        where = f" (or ${env})" if env else ""
        return f"the API key saved for provider {config.name!r}{where}"

    # ---- clients ---------------------------------------------------------------------------------

    def get(self, name: str) -> Provider:
        with self._lock:
            client = self._clients.get(name)
            if client is not None:
                return client
            config = next((c for c in self._configs if c.name == name), None)
            if config is None:
                raise ProviderError(FailureKind.NOT_CONFIGURED, f"There is no provider named {name!r}.",
                                    provider=name, hint="Add it under Providers, or fix the model assignment.")
            if not config.enabled:
                raise ProviderError(FailureKind.NOT_CONFIGURED, f"Provider {name!r} is disabled.", provider=name,
                                    hint="Enable it under Providers, or assign another model.")
            client = build_provider(config, self._api_key(config), self.key_hint(config), self._models)
            self._clients[name] = client
            return client

    def register_temporary(self, provider: Provider) -> None:
        """Use ``provider`` under its name for this session only (CLI --base-url / --api-key-env); not saved."""
        with self._lock:
            self._retire(provider.name)
            self._clients[provider.name] = provider

    def _retire(self, name: str) -> None:
        client = self._clients.pop(name, None)
        if client is not None:
            self._retired.append(client)

    def preload_sdks(self) -> list[str]:
        """Import the SDKs the saved providers use, so the first message does not wait for them.

        Call it from a background thread after the window is up; it returns the modules it imported.
        """
        kinds = {c.kind for c in self.configs() if c.enabled}
        wanted = [module for kind, module in (("openai", "openai"), ("anthropic", "anthropic")) if kind in kinds]
        for module in wanted:
            importlib.import_module(module)
        return wanted

    async def list_models(self, name: str) -> list[ModelInfo]:
        models = await self.get(name).list_models()
        self.remember_models(name, [m.id for m in models])
        return models

    async def aclose(self) -> None:
        with self._lock:
            clients = list(self._clients.values()) + self._retired
            self._clients.clear()
            self._retired.clear()
        for client in clients:
            try:
                await client.aclose()
            except Exception:  # closing must not stop the others
                log.exception("closing provider %s failed", getattr(client, "name", client))

    # ---- cooldowns -------------------------------------------------------------------------------

    def cool_down(self, deployment: str, seconds: float) -> None:
        with self._lock:
            self._cooldowns[deployment] = time.monotonic() + seconds
        log.info("cooling down %s for %.0f s", deployment, seconds)

    def cooldown_left(self, deployment: str) -> float:
        with self._lock:
            until = self._cooldowns.get(deployment)
            if until is None:
                return 0.0
            left = until - time.monotonic()
            if left <= 0:
                del self._cooldowns[deployment]
                return 0.0
            return left

    def clear_cooldown(self, deployment: str) -> None:
        with self._lock:
            self._cooldowns.pop(deployment, None)


def _key_name(provider: str) -> str:
    return f"provider:{provider}"


def build_provider(config: ProviderConfig, api_key: str | None, key_hint: str,
                   models: ModelManager | None = None) -> Provider:
    """One client for one saved config (SDKs are imported later, on the first request)."""
    if config.kind == "openai":
        from nexus_core.providers.openai_compat import OpenAICompatProvider

        preset = PRESETS.get(config.preset)
        if preset is not None and preset.needs_key and not api_key:
            raise ProviderError(FailureKind.AUTH, f"Provider {config.name!r} ({preset.label}) has no API key.",
                                provider=config.name, hint=f"Set {key_hint} under Providers.")
        return OpenAICompatProvider(config.name, config.base_url, api_key=api_key, key_hint=key_hint,
                                    timeout_s=config.timeout_s)
    if config.kind == "anthropic":
        from nexus_core.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(config.name, api_key=api_key, base_url=config.base_url, key_hint=key_hint,
                                 timeout_s=config.timeout_s)
    from nexus_core.providers.local import LocalTransformersProvider

    provider = LocalTransformersProvider(config.name, config.folder, models=models,
                                         fusion_bundle=config.fusion_bundle or None)
    provider.check_folder()
    return provider
