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
from nexus_core.routing.table import Assignment, RoutingTable

HELLO_PROMPT = "Say hello to a new Nexus Studio user in one short sentence."
HELLO_MAX_TOKENS = 60


def save_detected_server(pool: Any, server: DetectedServer) -> str:
    """Save the provider for a server found on this machine (named after its preset). An existing one keeps its own
    settings (timeout, key variable, enabled); only its address and model list are refreshed."""
    found = config_for_detected(server)
    existing = pool.config(found.name)
    config = found if existing is None else existing.model_copy(update={"base_url": found.base_url,
                                                                        "models": found.models})
    pool.save(config, replaces=existing.name if existing else None)
    return config.name


async def check_remote_provider(pool: Any, preset_id: str, api_key: str, *, base_url: str = "",
                                name: str | None = None) -> tuple[str, list[str]]:
    """Ask a hosted service (OpenRouter, OpenAI, Anthropic, or a custom OpenAI-compatible URL) for its models with the
    key first; only a key that works is saved, to the credential store. An empty key re-checks the stored one.
    Returns the provider's name and the model ids it lists."""
    from nexus_core.providers.pool import build_provider

    preset = PRESETS.get(preset_id)
    if preset is None:
        raise NexusError(f"Unknown provider type {preset_id!r}.", hint=f"Use one of: {', '.join(sorted(PRESETS))}.")
    provider_name = name or preset.id
    existing = pool.config(provider_name)
    url = (base_url if preset.id == "custom" else "") or preset.base_url
    if preset.id == "custom" and not url.strip():
        raise NexusError("Type the server's address (for example http://192.168.1.20:1234/v1).")
    fields = {"name": provider_name, "kind": preset.kind, "preset": preset.id, "base_url": url.strip()}
    config = (existing.model_copy(update=fields) if existing is not None
              else ProviderConfig.model_validate(fields))
    key = api_key.strip()
    if not key and existing is not None and pool.has_stored_key(provider_name):
        pool.save(config, replaces=existing.name)
        models = await pool.list_models(provider_name)
        return provider_name, [m.id for m in models]
    if preset.needs_key and not key:
        raise NexusError(f"{preset.label} needs an API key.", hint="Paste the key, then press Check key.")
    trial = build_provider(config, key or None, "the key you pasted")
    try:
        ids = [m.id for m in await trial.list_models()]
    finally:
        await trial.aclose()
    pool.save(config.model_copy(update={"models": ids}), replaces=existing.name if existing else None)
    if key:
        pool.set_api_key(provider_name, key)
    return provider_name, ids


# Chat models to prefer when a service lists hundreds (its list is alphabetical: the first is rarely a chat model).
PREFERRED_CHAT_MODELS = ("openrouter/auto", "gpt-4o-mini", "gpt-4.1-mini", "claude-3-5-haiku-latest",
                         "claude-haiku-4-5")
NOT_CHAT = ("embed", "whisper", "tts", "dall-e", "davinci", "babbage", "moderation", "audio", "realtime", "image",
            "transcribe", "search")


def pick_chat_model(ids: list[str]) -> str | None:
    """A sensible first choice among a service's models: a known small chat model, else the first that is not an
    embedding, speech, image or legacy completion model."""
    for preferred in PREFERRED_CHAT_MODELS:
        if preferred in ids:
            return preferred
    return next((m for m in ids if not any(word in m.lower() for word in NOT_CHAT)), ids[0] if ids else None)


def make_default_chat_model(routing: Any, model_ref: str, *, base: RoutingTable | None = None) -> list[str]:
    """Route chats to ``model_ref``: the standard tier's model (a different earlier one becomes its first fallback),
    and the heavy and ultra tiers' too where they have none. ``base`` is the table to start from (the wizard passes
    the one it found, so trying several models does not pile them up). Returns the tiers changed."""
    table = (base if base is not None else routing.table).model_copy(deep=True)
    changed = []
    for tier in Tier:
        current = table.tiers.get(tier, Assignment())
        if current.model == model_ref or (tier != Tier.STANDARD and current.model):
            continue
        fallbacks = [ref for ref in ([current.model] if current.model else []) + current.fallbacks if ref != model_ref]
        table.tiers[tier] = Assignment(model=model_ref, fallbacks=fallbacks)
        changed.append(tier.value)
    if changed or (base is not None and table != routing.table):
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
        where = "add it with `nexus providers add`" if for_cli else "pick it in the Model list above"
        steps.append(f"{local_models} model folder{'s' if local_models != 1 else ''} found on disk can also answer "
                     f"in Nexus Studio itself: {where} (slow without a GPU).")
    if not keyring_usable:
        steps.append("Keys are kept encrypted with a passphrase because this computer has no system keyring; "
                     + ("set NEXUS_CREDENTIALS_PASSPHRASE for the command line." if for_cli else
                        "you will be asked for it when Nexus Studio starts."))
    return steps
