"""ProviderConfig validation and the ProviderPool: saved configs, keys, client caching, cooldowns."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import pytest
from pydantic import ValidationError

from nexus_core.errors import NexusError
from nexus_core.providers.base import ModelInfo
from nexus_core.providers.config import STORE_KEY, ProviderConfig
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.pool import ProviderPool, split_model_ref
from nexus_core.providers.types import ChatMessage, ChatRequest, ChatResult, StreamEvent
from nexus_core.secrets import CredentialStore
from nexus_core.store import Store
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring

PASSPHRASE = "correct horse battery"
KEY_ENVS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "NEXUS_TEST_KEY")
REQUEST = ChatRequest(model="test-model", messages=[ChatMessage("user", "hi")])


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(tmp_path / "s.db").open()
    yield st
    st.close()


@pytest.fixture
def creds(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "v.vault", keyring_backend=MemoryKeyring())


@pytest.fixture
def locked_creds(tmp_path: Path) -> CredentialStore:
    """Passphrase mode (no keyring), holding one key for provider "router", locked again."""
    vault = CredentialStore(tmp_path / "locked.vault", keyring_backend=keyring.backends.fail.Keyring())
    vault.unlock(PASSPHRASE)
    vault.set("provider:router", "sk-or-stored")
    vault.lock()
    assert vault.locked
    return vault


@pytest.fixture
def srv() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(models=["m-b", "m-a"]) as server:
        yield server


def openai_config(name: str, base_url: str, **kwargs: object) -> ProviderConfig:
    return ProviderConfig(name=name, kind="openai", base_url=base_url, **kwargs)  # type: ignore[arg-type]


async def ask(pool: ProviderPool, name: str, server: ScriptedOpenAIServer) -> str:
    """One chat request through the pool's client for ``name``; the Authorization header the server saw."""
    result = ChatResult()
    events: list[StreamEvent] = []
    async for event in pool.get(name).stream(REQUEST):
        events.append(event)
        result.add(event)
    assert result.text == "Hello world"
    return server.requests[-1].headers["authorization"]


def run(pool: ProviderPool, body: object) -> object:
    """Run ``body`` (a coroutine) and close the pool's clients in the same event loop."""
    async def go() -> object:
        try:
            return await body  # type: ignore[misc]
        finally:
            await pool.aclose()

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- ProviderConfig ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my provider", "a/b", "", "-lead", ".hidden", "x" * 65, "tab\there", "ünï"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        openai_config(name, "http://127.0.0.1:1/v1")
    assert info.value.errors()[0]["loc"] == ("name",)


@pytest.mark.parametrize("name", ["ollama", "my-provider_2.local", "A" * 64, "9lives"])
def test_good_names_are_accepted(name: str) -> None:
    assert openai_config(name, "http://127.0.0.1:1/v1").name == name


def test_name_with_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError):
        openai_config("ollama\n", "http://127.0.0.1:1/v1")


@pytest.mark.parametrize("url", ["ftp://host/v1", "127.0.0.1:11434/v1", "http://", "https:// spaced"])
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        openai_config("p", url)
    assert info.value.errors()[0]["loc"] == ("base_url",)


def test_base_url_is_trimmed() -> None:
    assert openai_config("p", "  http://127.0.0.1:11434/v1/  ").base_url == "http://127.0.0.1:11434/v1"


@pytest.mark.parametrize("timeout_s", [0, -1, 3601])
def test_timeout_must_be_sane(timeout_s: float) -> None:
    with pytest.raises(ValidationError):
        openai_config("p", "http://127.0.0.1:1/v1", timeout_s=timeout_s)


def test_check_complete(store: Store) -> None:
    pool = ProviderPool(store)
    with pytest.raises(NexusError, match="no base URL"):
        pool.save(ProviderConfig(name="oa", kind="openai"))
    with pytest.raises(NexusError, match="no model folder"):
        pool.save(ProviderConfig(name="loc", kind="local"))
    assert pool.configs() == []
    assert store.get_value(STORE_KEY) is None
    pool.save(ProviderConfig(name="claude", kind="anthropic", preset="anthropic"))  # SDK default URL is fine
    assert [c.name for c in pool.configs()] == ["claude"]


def test_split_model_ref() -> None:
    assert split_model_ref("ollama/llama3.2:3b") == ("ollama", "llama3.2:3b")
    assert split_model_ref("openrouter/meta-llama/llama-3-8b") == ("openrouter", "meta-llama/llama-3-8b")
    for bad in ("no-slash", "/model", "provider/", ""):
        with pytest.raises(NexusError, match="provider/model"):
            split_model_ref(bad)


# ---- saving, renaming, removing ------------------------------------------------------------------------------------


def test_save_persists_and_updates_in_place(store: Store) -> None:
    pool = ProviderPool(store)
    changes: list[None] = []
    pool.changed.connect(changes.append)
    pool.save(openai_config("one", "http://127.0.0.1:1/v1"))
    pool.save(openai_config("two", "http://127.0.0.1:2/v1"))
    pool.save(openai_config("one", "http://127.0.0.1:3/v1"))  # same name: an update, keeps its place

    assert [(c.name, c.base_url) for c in pool.configs()] == [("one", "http://127.0.0.1:3/v1"),
                                                             ("two", "http://127.0.0.1:2/v1")]
    assert len(changes) == 3
    reloaded = ProviderPool(store)
    assert [(c.name, c.base_url) for c in reloaded.configs()] == [(c.name, c.base_url) for c in pool.configs()]
    assert reloaded.problems == []
    # configs() hands out copies
    pool.configs()[0].base_url = "http://tampered"
    assert pool.config("one").base_url == "http://127.0.0.1:3/v1"  # type: ignore[union-attr]


def test_rename_moves_the_stored_key(store: Store, creds: CredentialStore) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("first", "http://127.0.0.1:1/v1"))
    pool.save(openai_config("old", "http://127.0.0.1:2/v1"))
    pool.save(openai_config("last", "http://127.0.0.1:3/v1"))
    pool.set_api_key("old", "sk-old-key")

    pool.save(openai_config("new", "http://127.0.0.1:2/v1"), replaces="old")

    assert [c.name for c in pool.configs()] == ["first", "new", "last"]  # renamed in place
    assert pool.has_stored_key("new")
    assert not pool.has_stored_key("old")
    assert creds.get("provider:new") == "sk-old-key"
    assert "provider:old" not in creds


def test_rename_onto_an_existing_name_is_refused(store: Store, creds: CredentialStore) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("a", "http://127.0.0.1:1/v1"))
    pool.save(openai_config("b", "http://127.0.0.1:2/v1"))
    pool.set_api_key("a", "sk-a")
    pool.set_api_key("b", "sk-b")

    with pytest.raises(NexusError, match="already exists"):
        pool.save(openai_config("b", "http://127.0.0.1:9/v1"), replaces="a")

    assert [(c.name, c.base_url) for c in pool.configs()] == [("a", "http://127.0.0.1:1/v1"),
                                                             ("b", "http://127.0.0.1:2/v1")]
    assert (creds.get("provider:a"), creds.get("provider:b")) == ("sk-a", "sk-b")


def test_remove_deletes_config_and_key(store: Store, creds: CredentialStore) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("gone", "http://127.0.0.1:1/v1"))
    pool.save(openai_config("kept", "http://127.0.0.1:2/v1"))
    pool.set_api_key("gone", "sk-gone")
    pool.set_api_key("kept", "sk-kept")

    assert pool.remove("gone") is True
    assert pool.remove("gone") is False
    assert [c.name for c in pool.configs()] == ["kept"]
    assert "provider:gone" not in creds
    assert creds.get("provider:kept") == "sk-kept"
    assert [c.name for c in ProviderPool(store, creds).configs()] == ["kept"]


def test_set_api_key_and_has_stored_key(store: Store, creds: CredentialStore) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("p", "http://127.0.0.1:1/v1"))
    assert not pool.has_stored_key("p")
    pool.set_api_key("p", "sk-1")
    assert pool.has_stored_key("p")
    pool.set_api_key("p", None)
    assert not pool.has_stored_key("p")
    assert "provider:p" not in creds


def test_set_api_key_without_a_credential_store(store: Store) -> None:
    pool = ProviderPool(store)
    pool.save(openai_config("p", "http://127.0.0.1:1/v1"))
    with pytest.raises(NexusError, match="credential store"):
        pool.set_api_key("p", "sk-1")
    assert not pool.has_stored_key("p")


# ---- keys reach the server; clients are cached and rebuilt ---------------------------------------------------------


def test_stored_key_wins_over_env_var(store: Store, creds: CredentialStore, srv: ScriptedOpenAIServer,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", "sk-from-env")
    pool = ProviderPool(store, creds)
    pool.save(openai_config("p", srv.base_url, key_env="NEXUS_TEST_KEY"))

    async def body() -> list[str]:
        seen = [await ask(pool, "p", srv)]  # nothing stored: the env var
        pool.set_api_key("p", "sk-stored")
        seen.append(await ask(pool, "p", srv))  # stored key wins
        pool.set_api_key("p", None)
        seen.append(await ask(pool, "p", srv))  # back to the env var
        return seen

    assert run(pool, body()) == ["Bearer sk-from-env", "Bearer sk-stored", "Bearer sk-from-env"]


def test_preset_env_var_is_used_by_default(store: Store, creds: CredentialStore, srv: ScriptedOpenAIServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-env")
    pool = ProviderPool(store, creds)
    pool.save(openai_config("router", srv.base_url, preset="openrouter"))
    assert run(pool, ask(pool, "router", srv)) == "Bearer sk-or-env"
    assert "$OPENROUTER_API_KEY" in pool.key_hint(pool.config("router"))  # type: ignore[arg-type]


def test_preset_needing_a_key_without_one_is_auth(store: Store, creds: CredentialStore) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("router", "https://openrouter.example/api/v1", preset="openrouter"))
    with pytest.raises(ProviderError) as info:
        pool.get("router")
    assert info.value.kind is FailureKind.AUTH
    assert info.value.provider == "router"
    assert "router" in str(info.value)
    assert "OPENROUTER_API_KEY" in info.value.hint


def test_anthropic_without_a_key_is_auth_before_any_network_call(store: Store, creds: CredentialStore) -> None:
    pool = ProviderPool(store, creds)
    pool.save(ProviderConfig(name="claude", kind="anthropic", preset="anthropic",
                             base_url=f"http://127.0.0.1:{closed_port()}"))

    async def body() -> ProviderError:
        with pytest.raises(ProviderError) as info:
            async for _ in pool.get("claude").stream(REQUEST):
                pass
        return info.value

    exc = run(pool, body())
    assert isinstance(exc, ProviderError)
    assert exc.kind is FailureKind.AUTH  # not CONNECTION: nothing was dialled
    assert "ANTHROPIC_API_KEY" in exc.hint


def test_client_is_cached_and_rebuilt_after_key_or_config_change(store: Store, creds: CredentialStore,
                                                                 srv: ScriptedOpenAIServer) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("p", srv.base_url))
    pool.set_api_key("p", "sk-first")

    with ScriptedOpenAIServer() as other:
        async def body() -> None:
            first = pool.get("p")
            assert pool.get("p") is first
            assert await ask(pool, "p", srv) == "Bearer sk-first"

            pool.set_api_key("p", "sk-second")
            second = pool.get("p")
            assert second is not first
            assert await ask(pool, "p", srv) == "Bearer sk-second"
            assert pool.get("p") is second

            pool.save(openai_config("p", other.base_url))  # config change: new client, new URL, same key
            third = pool.get("p")
            assert third is not second
            assert await ask(pool, "p", other) == "Bearer sk-second"

        run(pool, body())
        assert len(other.requests) == 1
    assert [r.headers["authorization"] for r in srv.requests] == ["Bearer sk-first", "Bearer sk-second"]


def test_renamed_provider_sends_the_moved_key(store: Store, creds: CredentialStore,
                                              srv: ScriptedOpenAIServer) -> None:
    pool = ProviderPool(store, creds)
    pool.save(openai_config("old", srv.base_url))
    pool.set_api_key("old", "sk-moving")

    async def body() -> str:
        pool.get("old")
        pool.save(openai_config("new", srv.base_url), replaces="old")
        with pytest.raises(ProviderError) as info:
            pool.get("old")
        assert info.value.kind is FailureKind.NOT_CONFIGURED
        return await ask(pool, "new", srv)

    assert run(pool, body()) == "Bearer sk-moving"


def test_unknown_and_disabled_providers_are_not_configured(store: Store) -> None:
    pool = ProviderPool(store)
    pool.save(openai_config("off", "http://127.0.0.1:1/v1", enabled=False))
    for name, words in (("missing", "no provider named"), ("off", "disabled")):
        with pytest.raises(ProviderError, match=words) as info:
            pool.get(name)
        assert info.value.kind is FailureKind.NOT_CONFIGURED


class _FakeProvider:
    kind = "openai"

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = 0

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("z-model", self.name), ModelInfo("a-model", self.name)]

    async def aclose(self) -> None:
        self.closed += 1


def test_register_temporary_is_used_but_not_saved(store: Store) -> None:
    pool = ProviderPool(store)
    first, second = _FakeProvider("cli"), _FakeProvider("cli")
    pool.register_temporary(first)
    assert pool.get("cli") is first
    pool.register_temporary(second)
    assert pool.get("cli") is second
    assert pool.configs() == []
    assert store.get_value(STORE_KEY) is None
    asyncio.run(pool.aclose())
    assert (first.closed, second.closed) == (1, 1)  # the replaced client is closed too


def test_list_models_remembers_the_ids(store: Store, srv: ScriptedOpenAIServer) -> None:
    pool = ProviderPool(store)
    pool.save(openai_config("p", srv.base_url))
    changes: list[None] = []
    pool.changed.connect(changes.append)

    models = run(pool, pool.list_models("p"))

    assert [m.id for m in models] == ["m-a", "m-b"]  # type: ignore[attr-defined]
    assert pool.config("p").models == ["m-a", "m-b"]  # type: ignore[union-attr]
    assert ProviderPool(store).config("p").models == ["m-a", "m-b"]  # type: ignore[union-attr]
    assert changes == [None]


# ---- the locked passphrase store -----------------------------------------------------------------------------------


def test_locked_store_keyless_local_server_still_works(store: Store, locked_creds: CredentialStore,
                                                       srv: ScriptedOpenAIServer) -> None:
    pool = ProviderPool(store, locked_creds)
    pool.save(openai_config("ollama", srv.base_url, preset="ollama"))
    assert run(pool, ask(pool, "ollama", srv)).startswith("Bearer ")
    assert locked_creds.locked


def test_locked_store_key_needing_preset_says_unlock(store: Store, locked_creds: CredentialStore,
                                                     srv: ScriptedOpenAIServer) -> None:
    pool = ProviderPool(store, locked_creds)
    pool.save(openai_config("router", srv.base_url, preset="openrouter"))
    assert not pool.has_stored_key("router")  # cannot tell while locked, and must not raise

    with pytest.raises(ProviderError) as info:
        pool.get("router")
    assert info.value.kind is FailureKind.NOT_CONFIGURED
    assert "locked" in info.value.what
    assert "Unlock" in info.value.hint or "unlock" in info.value.hint

    locked_creds.unlock(PASSPHRASE)
    assert pool.has_stored_key("router")
    assert run(pool, ask(pool, "router", srv)) == "Bearer sk-or-stored"


def test_locked_store_env_key_still_works(store: Store, locked_creds: CredentialStore, srv: ScriptedOpenAIServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-env")
    pool = ProviderPool(store, locked_creds)
    pool.save(openai_config("router", srv.base_url, preset="openrouter"))
    assert run(pool, ask(pool, "router", srv)) == "Bearer sk-or-env"


def test_remove_while_locked_still_removes(store: Store, locked_creds: CredentialStore) -> None:
    pool = ProviderPool(store, locked_creds)
    pool.save(openai_config("router", "http://127.0.0.1:1/v1", preset="openrouter"))
    changes: list[None] = []
    pool.changed.connect(changes.append)

    assert pool.remove("router") is True

    assert pool.config("router") is None
    assert ProviderPool(store, locked_creds).configs() == []
    assert changes == [None]


def test_rename_while_locked_keeps_the_key(store: Store, locked_creds: CredentialStore) -> None:
    pool = ProviderPool(store, locked_creds)
    pool.save(openai_config("router", "http://127.0.0.1:1/v1", preset="openrouter"))
    try:
        pool.save(openai_config("router2", "http://127.0.0.1:1/v1", preset="openrouter"), replaces="router")
    except NexusError:
        assert [c.name for c in pool.configs()] == ["router"], "rename failed, yet it was saved"
    else:
        locked_creds.unlock(PASSPHRASE)
        assert locked_creds.get("provider:router2") == "sk-or-stored"
        assert "provider:router" not in locked_creds


# ---- damaged saved lists -------------------------------------------------------------------------------------------


def test_corrupt_saved_list_starts_empty_with_a_problem(store: Store) -> None:
    store.set_value(STORE_KEY, "not json")
    pool = ProviderPool(store)
    assert pool.configs() == []
    [problem] = pool.problems
    assert "unreadable" in problem
    pool.save(openai_config("fresh", "http://127.0.0.1:1/v1"))  # and it can be used again
    assert [c.name for c in ProviderPool(store).configs()] == ["fresh"]


def test_one_invalid_entry_is_skipped_naming_the_field(store: Store) -> None:
    good = openai_config("good", "http://127.0.0.1:1/v1").model_dump()
    also_good = openai_config("also-good", "http://127.0.0.1:2/v1").model_dump()
    store.set_value(STORE_KEY, json.dumps([good, {**good, "name": "bad", "timeout_s": -5}, also_good]))

    pool = ProviderPool(store)

    assert [c.name for c in pool.configs()] == ["good", "also-good"]
    [problem] = pool.problems
    assert "'timeout_s'" in problem
    assert "bad" in problem
    assert "#2" in problem


def test_saved_value_that_is_not_a_list_is_reported(store: Store) -> None:
    store.set_value(STORE_KEY, json.dumps({"name": "p", "kind": "openai"}))
    pool = ProviderPool(store)
    assert pool.configs() == []
    assert pool.problems


# ---- cooldowns -----------------------------------------------------------------------------------------------------


def test_cooldown_counts_down_and_clears(store: Store) -> None:
    pool = ProviderPool(store)
    assert pool.cooldown_left("p/m") == 0.0
    pool.cool_down("p/m", 10)
    first = pool.cooldown_left("p/m")
    assert 9 < first <= 10
    time.sleep(0.05)
    assert pool.cooldown_left("p/m") < first
    assert pool.cooldown_left("p/other") == 0.0
    pool.clear_cooldown("p/m")
    assert pool.cooldown_left("p/m") == 0.0
    pool.clear_cooldown("p/never")  # no error

    pool.cool_down("p/m", 0.05)
    time.sleep(0.08)
    assert pool.cooldown_left("p/m") == 0.0


def test_preload_imports_only_the_sdks_in_use(store: Store) -> None:
    from nexus_core.providers.pool import ProviderPool

    pool = ProviderPool(store)
    assert pool.preload_sdks() == []
    pool.save(ProviderConfig(name="a", kind="openai", base_url="http://127.0.0.1:9/v1"))
    assert pool.preload_sdks() == ["openai"]
