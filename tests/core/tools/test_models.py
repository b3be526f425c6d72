"""list_models / switch_model over a real ProviderPool and ConversationStore (on a temp store), with a scripted
OpenAI-compatible server on loopback for refreshing a provider's model list."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_core.chat.conversations import ConversationStore
from nexus_core.providers.config import ProviderConfig
from nexus_core.providers.pool import ProviderPool
from nexus_core.store import Store
from nexus_core.tools import ToolContext, ToolFailure
from nexus_core.tools.builtin.models import list_models, switch_model
from tests.core.tools.helpers import call
from tests.support.llm_servers import ScriptedOpenAIServer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(tmp_path / "s.db").open()
    yield st
    st.close()


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["qwen2.5:7b", "llama3.2:3b"]) as srv:
        yield srv


@pytest.fixture
def pool(store: Store, server: ScriptedOpenAIServer) -> ProviderPool:
    providers = ProviderPool(store)
    providers.save(ProviderConfig(name="ollama", kind="openai", base_url=server.base_url, models=["llama3.2:3b"]))
    providers.save(ProviderConfig(name="router", kind="openai", base_url="http://127.0.0.1:9/v1",
                                  models=["openai/gpt-4o-mini", "meta-llama/llama-3.1-8b"]))
    providers.save(ProviderConfig(name="old", kind="openai", base_url="http://127.0.0.1:9/v1", enabled=False,
                                  models=["legacy"]))
    providers.save(ProviderConfig(name="fresh", kind="openai", base_url="http://127.0.0.1:9/v1"))
    return providers


@pytest.fixture
def conversations(store: Store) -> ConversationStore:
    return ConversationStore(store)


@pytest.fixture
def ctx(tmp_path: Path, pool: ProviderPool, conversations: ConversationStore) -> ToolContext:
    conversation = conversations.create("test")
    return ToolContext(tmp_path, conversation.id, {"providers": pool, "conversations": conversations})


def run_closing(pool: ProviderPool, tool_args: dict[str, Any], ctx: ToolContext) -> Any:
    """Call list_models and close the pool's HTTP clients in the same event loop."""
    async def go() -> Any:
        try:
            return await list_models.fn(ctx, **list_models.validate(tool_args))
        finally:
            await pool.aclose()

    return asyncio.run(go())


def test_lists_saved_models_of_enabled_providers(ctx: ToolContext) -> None:
    result = call(list_models, {}, ctx)
    assert result["models"] == ["ollama/llama3.2:3b", "router/openai/gpt-4o-mini", "router/meta-llama/llama-3.1-8b"]
    assert result["current"] == "auto"
    by_name = {p["name"]: p for p in result["providers"]}
    assert by_name["old"]["enabled"] is False
    assert "refresh_provider" in by_name["fresh"]["note"]


def test_contains_filters_case_insensitively(ctx: ToolContext) -> None:
    assert call(list_models, {"contains": "LLAMA"}, ctx)["models"] == ["ollama/llama3.2:3b",
                                                                      "router/meta-llama/llama-3.1-8b"]


def test_refresh_asks_the_provider_and_saves_its_list(ctx: ToolContext, pool: ProviderPool) -> None:
    result = run_closing(pool, {"refresh_provider": "ollama"}, ctx)
    assert result["models"][:2] == ["ollama/llama3.2:3b", "ollama/qwen2.5:7b"]
    assert pool.config("ollama").models == ["llama3.2:3b", "qwen2.5:7b"]  # type: ignore[union-attr]


def test_refresh_failures_are_tool_failures(ctx: ToolContext, pool: ProviderPool) -> None:
    with pytest.raises(ToolFailure, match="no provider named 'nope'"):
        call(list_models, {"refresh_provider": "nope"}, ctx)
    with pytest.raises(ToolFailure) as info:
        run_closing(pool, {"refresh_provider": "router"}, ctx)  # nothing listens on port 9
    assert info.value.kind == "provider_error" and "'router'" in str(info.value)


def test_switch_model_sets_and_clears_the_override(ctx: ToolContext, conversations: ConversationStore) -> None:
    assert ctx.conversation_id is not None
    message = call(switch_model, {"model_ref": "router/openai/gpt-4o-mini"}, ctx)
    assert "router/openai/gpt-4o-mini" in message and "Note" not in message
    assert conversations.get(ctx.conversation_id).model_override == "router/openai/gpt-4o-mini"
    assert call(list_models, {}, ctx)["current"] == "router/openai/gpt-4o-mini"
    assert "automatic" in call(switch_model, {"model_ref": "auto"}, ctx)
    assert conversations.get(ctx.conversation_id).model_override is None


def test_switch_model_warns_about_an_unlisted_model(ctx: ToolContext, conversations: ConversationStore) -> None:
    message = call(switch_model, {"model_ref": "ollama/mystery:1b"}, ctx)
    assert "not in 'ollama''s saved model list" in message
    assert conversations.get(ctx.conversation_id or "").model_override == "ollama/mystery:1b"


@pytest.mark.parametrize(("ref", "says"), [
    ("nope/model", "no provider named 'nope'"),
    ("old/legacy", "disabled"),
    ("just-a-model", "provider/model"),
])
def test_switch_model_refusals(ctx: ToolContext, conversations: ConversationStore, ref: str, says: str) -> None:
    with pytest.raises(ToolFailure, match=says):
        call(switch_model, {"model_ref": ref}, ctx)
    assert conversations.get(ctx.conversation_id or "").model_override is None


def test_switch_model_needs_a_conversation_and_the_services(tmp_path: Path, pool: ProviderPool) -> None:
    with pytest.raises(ToolFailure, match="no conversation"):
        call(switch_model, {"model_ref": "auto"}, ToolContext(tmp_path, None, {"providers": pool}))
    with pytest.raises(ToolFailure) as info:
        call(list_models, {}, ToolContext(tmp_path, "c1"))
    assert info.value.kind == "unavailable" and "'providers'" in str(info.value)


def test_schemas() -> None:
    assert switch_model.parameters["required"] == ["model_ref"]
    assert list_models.parameters.get("required") is None
    assert list_models.risk == switch_model.risk == "safe"
