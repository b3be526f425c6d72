"""Turning what was found into a chat that answers: save the provider, make its model the default, say hello.

When nothing answers, ``next_steps`` says exactly what to do (start a server, paste a key), in the words a
first-time user needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.providers.config import ProviderConfig
from nexus_core.providers.detect import DetectedServer, config_for_detected
from nexus_core.providers.presets import PRESETS
from nexus_core.routing.classify import Tier
from nexus_core.routing.table import Assignment

HELLO_PROMPT = "Say hello to a new Nexus Studio user in one short sentence."
HELLO_MAX_TOKENS = 60


def save_detected_server(pool: Any, server: DetectedServer) -> str:
    """Save (or refresh) the provider for a server found on this machine; its name is the preset's id."""
    config = config_for_detected(server)
    existing = pool.config(config.name)
    pool.save(config, replaces=existing.name if existing else None)
    return config.name


def save_remote_provider(pool: Any, preset_id: str, api_key: str, *, base_url: str = "",
                         name: str | None = None) -> str:
    """Save a provider that needs a key (OpenRouter, OpenAI, Anthropic, or a custom OpenAI-compatible URL); the key
    goes to the credential store, never into the provider's settings."""
    preset = PRESETS.get(preset_id)
    if preset is None:
        raise NexusError(f"Unknown provider type {preset_id!r}.", hint=f"Use one of: {', '.join(sorted(PRESETS))}.")
    config = ProviderConfig.model_validate({"name": name or preset.id, "kind": preset.kind, "preset": preset.id,
                                            "base_url": (base_url or preset.base_url).strip()})
    if preset.needs_key and not api_key.strip():
        raise NexusError(f"{preset.label} needs an API key.", hint="Paste the key, then try again.")
    existing = pool.config(config.name)
    pool.save(config, replaces=existing.name if existing else None)
    if api_key.strip():
        pool.set_api_key(config.name, api_key.strip())
    return config.name


def make_default_chat_model(routing: Any, model_ref: str) -> list[str]:
    """Route chats to ``model_ref``: the standard tier's model (a different earlier one becomes its first fallback),
    and the heavy and ultra tiers' too where they have none. Returns the tiers changed."""
    table = routing.table
    changed = []
    for tier in Tier:
        current = table.tiers.get(tier, Assignment())
        if current.model == model_ref or (tier != Tier.STANDARD and current.model):
            continue
        fallbacks = [ref for ref in ([current.model] if current.model else []) + current.fallbacks if ref != model_ref]
        table.tiers[tier] = Assignment(model=model_ref, fallbacks=fallbacks)
        changed.append(tier.value)
    if changed:
        routing.save(table)
    return changed


@dataclass(frozen=True)
class Hello:
    text: str
    model_ref: str
    seconds: float


async def say_hello(router: Any, model_ref: str) -> Hello:
    """One short real answer from ``model_ref`` through the router (so it is recorded like any chat call)."""
    from nexus_core.providers.types import ChatMessage

    started = time.monotonic()
    text, used = await router.complete(model_ref, [ChatMessage("user", HELLO_PROMPT)], max_tokens=HELLO_MAX_TOKENS,
                                       retries=0)
    if not text.strip():
        raise NexusError(f"{model_ref} answered with no text.",
                         hint="Pick another model: this one may be an embedding model or still loading.")
    return Hello(text.strip(), used or model_ref, time.monotonic() - started)


def next_steps(servers: list[DetectedServer], *, local_models: int, keyring_usable: bool,
               for_cli: bool = False) -> list[str]:
    """What to do when no chat provider works yet, most likely first (worded for the wizard or for ``nexus setup``)."""
    again = "run `nexus setup` again" if for_cli else "press Scan again"
    steps = []
    for server in (s for s in servers if not s.models):
        if server.preset.id == "ollama":
            steps.append(f"Ollama is running but has no model yet. In a terminal run `ollama pull llama3.2` "
                         f"(about 2 GB), then {again}.")
        else:
            steps.append(f"{server.preset.label} is running at {server.base_url} but has no model loaded: load one "
                         f"in it, then {again}.")
    if not servers:
        steps.append("To chat on this computer, install Ollama from https://ollama.com/download, then in a terminal "
                     f"run `ollama serve` and `ollama pull llama3.2`, and {again}. LM Studio's server "
                     "(Developer tab → Start server) is found the same way.")
    paste = ("run `OPENROUTER_API_KEY=<key> nexus setup --provider openrouter`" if for_cli else
             "paste it under “Or use a hosted provider”, and press Check key")
    steps.append(f"To chat with a hosted model, create a key at https://openrouter.ai/keys (one key, hundreds of "
                 f"models), then {paste}.")
    if local_models:
        where = "add it with `nexus providers add`" if for_cli else "pick one under “Run a model folder here”"
        steps.append(f"{local_models} model folder{'s' if local_models != 1 else ''} found on disk can also answer "
                     f"in Nexus Studio itself: {where} (slow without a GPU).")
    if not keyring_usable:
        steps.append("Keys are kept encrypted with a passphrase because this computer has no system keyring; "
                     + ("set NEXUS_CREDENTIALS_PASSPHRASE for the command line." if for_cli else
                        "you will be asked for it when Nexus Studio starts."))
    return steps
