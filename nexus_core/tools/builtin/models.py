"""Model tools: list the models of the saved providers and switch this conversation to another one.

The user can say "use the local model for this" and the model can do it itself; the choice is the
conversation's model override ("provider/model"), the same one the model picker sets.
"""

from __future__ import annotations

from typing import Any

from nexus_core.errors import NexusError
from nexus_core.providers.pool import split_model_ref
from nexus_core.tools.base import ToolContext, ToolFailure, tool

MAX_MODELS = 200


@tool(risk="safe", timeout_s=60.0)
async def list_models(ctx: ToolContext, refresh_provider: str | None = None, contains: str = "") -> dict[str, Any]:
    """List the models available to switch to, as "provider/model" references.

    Args:
        refresh_provider: ask this provider's server for its current model list first (slower); leave out to use
            the saved lists.
        contains: only list models whose reference contains this text (case-insensitive), e.g. "llama".
    """
    pool = ctx.service("providers")
    configs = pool.configs()
    if refresh_provider:
        if not any(c.name == refresh_provider for c in configs):
            raise ToolFailure(f"there is no provider named {refresh_provider!r}; providers: "
                              f"{_names(configs)}", kind="not_found")
        try:
            await pool.list_models(refresh_provider)
        except NexusError as exc:
            raise ToolFailure(f"could not list the models of {refresh_provider!r}: {exc.what}"
                              + (f" ({exc.hint})" if exc.hint else ""), kind="provider_error") from None
        configs = pool.configs()
    wanted = contains.casefold()
    refs: list[str] = []
    providers: list[dict[str, Any]] = []
    for config in configs:
        entry: dict[str, Any] = {"name": config.name, "kind": config.kind, "enabled": config.enabled,
                                 "models": len(config.models)}
        if config.enabled and not config.models:
            entry["note"] = "no saved model list; call list_models with refresh_provider to fetch it"
        providers.append(entry)
        if config.enabled:
            refs.extend(ref for m in config.models if wanted in (ref := f"{config.name}/{m}").casefold())
    result: dict[str, Any] = {"current": _current(ctx), "providers": providers, "models": refs[:MAX_MODELS]}
    if len(refs) > MAX_MODELS:
        result["note"] = f"{len(refs)} models match; only the first {MAX_MODELS} are listed (use contains to narrow)"
    elif not configs:
        result["note"] = "no providers are set up yet; the user can add one under Providers"
    return result


@tool(risk="safe", timeout_s=10.0)
def switch_model(ctx: ToolContext, model_ref: str) -> str:
    """Switch this conversation to another model from the next reply on, or back to automatic routing.

    Args:
        model_ref: "provider/model" as listed by list_models (e.g. "ollama/llama3.2:3b"), or "auto" for the
            default routing.
    """
    if not ctx.conversation_id:
        raise ToolFailure("there is no conversation to switch the model of", kind="unavailable")
    conversations = ctx.service("conversations")
    ref = model_ref.strip()
    if ref.casefold() in ("auto", "default", ""):
        conversations.set_model_override(ctx.conversation_id, None)
        return "This conversation now uses automatic model routing (no model override)."
    try:
        provider, model = split_model_ref(ref)
    except NexusError as exc:
        raise ToolFailure(f"{exc.what} {exc.hint}".strip(), kind="invalid_arguments") from None
    pool = ctx.service("providers")
    config = pool.config(provider)
    if config is None:
        raise ToolFailure(f"there is no provider named {provider!r}; providers: {_names(pool.configs())}",
                          kind="not_found")
    if not config.enabled:
        raise ToolFailure(f"provider {provider!r} is disabled; the user can enable it under Providers",
                          kind="unavailable")
    conversations.set_model_override(ctx.conversation_id, ref)
    message = f"This conversation now uses {ref} from the next reply on."
    if config.models and model not in config.models:
        message += (f" Note: {model!r} is not in {provider!r}'s saved model list, so the request may fail; "
                    "list_models shows the known ones.")
    return message


def _current(ctx: ToolContext) -> str:
    conversations = ctx.services.get("conversations")
    if conversations is None or not ctx.conversation_id:
        return "unknown"
    try:
        override = conversations.get(ctx.conversation_id).model_override
    except (NexusError, LookupError):
        return "unknown"
    return override or "auto"


def _names(configs: list[Any]) -> str:
    return ", ".join(repr(c.name) for c in configs) or "none are set up"
