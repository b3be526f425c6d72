"""First-run logic without a window: the remembered data folder, the default chat model, the advice and next steps,
and ``nexus setup`` end to end against a scripted loopback server standing in for Ollama."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_core.cli import main
from nexus_core.config import first_run_pending
from nexus_core.firstrun import fit_advice, make_default_chat_model, next_steps
from nexus_core.location import chosen_data_dir, location_file, remember_data_dir, source_of
from nexus_core.paths import default_data_dir, platform_data_dir
from nexus_core.providers.detect import DetectedServer
from nexus_core.providers.presets import PRESETS
from nexus_core.routing.classify import Tier
from nexus_core.routing.table import Assignment, RoutingTable, RoutingTableStore
from nexus_core.store import Store
from tests.support.llm_servers import ScriptedOpenAIServer, text

GIB = 1024**3


def test_the_chosen_data_folder_is_used_unless_nexus_home_says_otherwise(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NEXUS_HOME")
    assert chosen_data_dir() is None and default_data_dir() == platform_data_dir()
    assert source_of(default_data_dir()) == "default"
    remember_data_dir(tmp_path / "big disk" / "nexus")
    assert default_data_dir() == (tmp_path / "big disk" / "nexus").resolve()
    assert source_of(default_data_dir()) == "chosen" and source_of(tmp_path) == "option"
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "env"))
    assert default_data_dir() == tmp_path / "env" and source_of(default_data_dir()) == "env"
    monkeypatch.delenv("NEXUS_HOME")
    remember_data_dir(None)
    assert not location_file().exists() and default_data_dir() == platform_data_dir()


@pytest.mark.parametrize("content", ["{ broken", "[1, 2]", '{"data_dir": ""}', '{"data_dir": 5}'])
def test_an_unreadable_location_file_falls_back_to_the_default(content, monkeypatch, caplog) -> None:
    monkeypatch.delenv("NEXUS_HOME")
    location_file().parent.mkdir(parents=True, exist_ok=True)
    location_file().write_text(content)
    assert default_data_dir() == platform_data_dir()
    assert str(location_file()) in caplog.text or "data_dir" in caplog.text


def test_first_run_is_pending_until_marked_done(tmp_path) -> None:
    settings = tmp_path / "settings.json"
    assert first_run_pending(settings)
    settings.write_text(json.dumps({"theme": "dark"}))
    assert first_run_pending(settings)
    settings.write_text(json.dumps({"first_run_done": True}))
    assert not first_run_pending(settings)


def test_the_chosen_model_becomes_the_default_and_keeps_what_was_there_as_fallback(tmp_path) -> None:
    store = Store(tmp_path / "nexus.db").open()
    tables = RoutingTableStore(store)
    tables.save(RoutingTable(tiers={Tier.STANDARD: Assignment(model="old/one", fallbacks=["x/y"]),
                                    Tier.HEAVY: Assignment(model="big/model")}))
    saved: list[RoutingTable] = []
    tables.changed.connect(saved.append)
    assert make_default_chat_model(tables, "ollama/llama3.2:3b") == ["standard", "ultra"]
    table = tables.table
    assert table.tiers[Tier.STANDARD] == Assignment(model="ollama/llama3.2:3b", fallbacks=["old/one", "x/y"])
    assert table.tiers[Tier.HEAVY].model == "big/model"  # a tier the person assigned stays theirs
    assert table.tiers[Tier.ULTRA].model == "ollama/llama3.2:3b"
    assert make_default_chat_model(tables, "ollama/llama3.2:3b") == [] and len(saved) == 1
    assert RoutingTableStore(store).table == table  # it was saved in the store
    store.close()


def test_advice_scales_with_memory() -> None:
    assert "up to about 8B" in fit_advice(8 * GIB, 32 * GIB)
    assert "up to about 34B" in fit_advice(24 * GIB, 64 * GIB)
    assert "about 1B" in fit_advice(2 * GIB, 8 * GIB)
    assert "Without a GPU" in fit_advice(0, 32 * GIB) and "remote provider" in fit_advice(0, 2 * GIB)


def test_next_steps_name_the_commands_for_what_is_missing() -> None:
    ollama = PRESETS["ollama"]
    none = next_steps([], local_models=0, keyring_usable=True)
    assert "https://ollama.com/download" in none[0] and "ollama pull llama3.2" in none[0]
    assert "https://openrouter.ai/keys" in none[1] and len(none) == 2
    empty = next_steps([DetectedServer(ollama, "http://127.0.0.1:11434/v1", [])], local_models=2,
                       keyring_usable=False, for_cli=True)
    assert "no model yet" in empty[0] and "nexus setup" in empty[0]
    assert "nexus setup --provider openrouter" in empty[1]
    assert "2 model folders" in empty[2] and "NEXUS_CREDENTIALS_PASSPHRASE" in empty[3]


def _only(monkeypatch, ports: dict[str, int]) -> None:
    import nexus_core.providers.detect as detect

    real = detect.detect_local_servers
    monkeypatch.setattr(detect, "detect_local_servers", lambda **kw: real(ports=ports, **kw))


def test_nexus_setup_connects_to_ollama_and_says_hello(monkeypatch, capsys, nexus_home: Path) -> None:
    with ScriptedOpenAIServer(models=["llama3.2:3b"], ollama=True) as ollama:
        ollama.script(text(["Hi", " there!"]))
        _only(monkeypatch, {"ollama": ollama.port, "lmstudio": 0, "llamacpp": 0, "vllm": 0})
        assert main(["setup"]) == 0
    out = capsys.readouterr().out
    assert f"Ollama at {ollama.base_url}: llama3.2:3b" in out
    assert "ollama/llama3.2:3b" in out and "“Hi there!”" in out
    settings = json.loads((nexus_home / "settings.json").read_text())
    assert settings["first_run_done"] is True
    assert main(["providers", "list", "--json"]) == 0
    assert '"ollama"' in capsys.readouterr().out


def test_nexus_setup_with_nothing_running_prints_next_steps(monkeypatch, capsys, nexus_home: Path) -> None:
    _only(monkeypatch, {"ollama": 1, "lmstudio": 1, "llamacpp": 1, "vllm": 1})  # port 1: nothing listens
    assert main(["setup"]) == 1
    out = capsys.readouterr().out
    assert "none answered" in out and "Next steps" in out and "ollama serve" in out
    assert not (nexus_home / "settings.json").exists() or not json.loads(
        (nexus_home / "settings.json").read_text()).get("first_run_done")


def test_nexus_setup_with_a_named_provider_that_is_not_running_is_a_clear_error(monkeypatch, capsys) -> None:
    _only(monkeypatch, {"ollama": 1, "lmstudio": 1, "llamacpp": 1, "vllm": 1})
    assert main(["setup", "--provider", "lmstudio"]) == 2
    assert "No LM Studio server with a model answered" in capsys.readouterr().err


def test_nexus_setup_remembers_a_data_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("NEXUS_HOME")
    _only(monkeypatch, {"ollama": 1, "lmstudio": 1, "llamacpp": 1, "vllm": 1})
    target = tmp_path / "elsewhere"
    assert main(["setup", "--remember-data-folder", str(target)]) == 1
    assert chosen_data_dir() == target.resolve() and (target / "nexus.db").exists()
    assert f"Data folder   {target}" in capsys.readouterr().out


def test_trying_several_models_from_the_same_base_does_not_pile_them_up(tmp_path) -> None:
    store = Store(tmp_path / "nexus.db").open()
    tables = RoutingTableStore(store)
    found = tables.table  # empty, as on a first run
    make_default_chat_model(tables, "p/broken", base=found)
    make_default_chat_model(tables, "p/good", base=found)
    table = tables.table
    assert {tier: a.model for tier, a in table.tiers.items()} == {t: "p/good" for t in Tier}
    assert all(a.fallbacks == [] for a in table.tiers.values())
    make_default_chat_model(tables, "p/good", base=found.model_copy(deep=True))  # same again: nothing changes
    assert tables.table == table
    store.close()


def test_a_found_server_refreshes_an_existing_provider_without_resetting_it(nexus_home) -> None:
    from nexus_core.core import Core
    from nexus_core.firstrun import save_detected_server
    from nexus_core.providers.config import ProviderConfig

    core = Core.open(nexus_home)
    try:
        core.providers.save(ProviderConfig(name="ollama", kind="openai", preset="ollama", base_url="http://old/v1",
                                           timeout_s=900, key_env="MY_VAR", models=["y", "z"], enabled=False))
        server = DetectedServer(PRESETS["ollama"], "http://127.0.0.1:11434/v1", ["y"])
        assert save_detected_server(core.providers, server) == "ollama"
        config = core.providers.config("ollama")
        assert (config.base_url, config.models) == ("http://127.0.0.1:11434/v1", ["y"])
        assert (config.timeout_s, config.key_env, config.enabled) == (900, "MY_VAR", False)
    finally:
        core.close()


def test_a_hosted_key_is_saved_only_once_it_works(nexus_home) -> None:
    from keyring.backends import fail

    from nexus_core.core import Core
    from nexus_core.firstrun import check_remote_provider

    good, bad = "sk-firstrun-good-7c1e2a", "sk-firstrun-bad-7c1e2a"
    core = Core.open(nexus_home, keyring_backend=fail.Keyring())
    core.credentials.unlock("correct horse battery")
    try:
        with ScriptedOpenAIServer(api_key=good, models=["m1", "m2"]) as service:
            with pytest.raises(Exception, match=r"(?i)key|401|auth"):
                core.aio.run(check_remote_provider(core.providers, "custom", bad, base_url=service.base_url))
            assert core.providers.config("custom") is None and not core.providers.has_stored_key("custom")
            name, ids = core.aio.run(check_remote_provider(core.providers, "custom", good, base_url=service.base_url))
            assert (name, ids) == ("custom", ["m1", "m2"]) and core.providers.has_stored_key("custom")
            # the stored key is checked again when none is pasted
            assert core.aio.run(check_remote_provider(core.providers, "custom", "", base_url=service.base_url))[1]
    finally:
        core.close()


def test_pick_chat_model_skips_embeddings_and_legacy_models() -> None:
    from nexus_core.firstrun import pick_chat_model

    assert pick_chat_model(["babbage-002", "dall-e-3", "gpt-4o-mini", "o1"]) == "gpt-4o-mini"
    assert pick_chat_model(["text-embedding-3-small", "whisper-1", "mistral-large"]) == "mistral-large"
    assert pick_chat_model(["anthropic/claude", "openrouter/auto"]) == "openrouter/auto"
    assert pick_chat_model([]) is None
