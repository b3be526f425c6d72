"""`nexus chat` and `nexus providers` run in-process against scripted loopback servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_core.cli import main
from tests.support.llm_servers import ScriptedOpenAIServer, error, text


@pytest.fixture
def server() -> ScriptedOpenAIServer:
    with ScriptedOpenAIServer(models=["alpha", "beta"]) as srv:
        yield srv


def test_chat_with_base_url_streams_to_stdout(server: ScriptedOpenAIServer, capsys) -> None:
    server.script(text(["Hello", " from", " the CLI"]))
    code = main(["chat", "Say hello", "--base-url", server.base_url, "--model", "beta"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "Hello from the CLI\n"
    assert "cli/beta" in err  # routing notes go to stderr, not into the answer
    assert server.requests[-1].body["model"] == "beta"


def test_chat_picks_the_first_model_when_none_given(server: ScriptedOpenAIServer, capsys) -> None:
    main(["chat", "hi", "--base-url", server.base_url])
    _out, err = capsys.readouterr()
    assert server.requests[-1].body["model"] == "alpha"
    assert "using model alpha" in err


def test_chat_json_and_conversation_continuation(server: ScriptedOpenAIServer, capsys) -> None:
    server.script(text(["first"], usage=(4, 1)), text(["second"]))
    assert main(["chat", "one", "--base-url", server.base_url, "--model", "alpha", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["text"] == "first" and result["status"] == "complete"
    assert (result["tokens_in"], result["tokens_out"]) == (4, 1)
    assert result["model"] == "cli/alpha"
    conv = result["conversation_id"]
    assert main(["chat", "two", "--base-url", server.base_url, "--model", "alpha", "--conversation", conv[:8],
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["conversation_id"] == conv
    contents = [m["content"] for m in server.requests[-1].body["messages"][1:]]
    assert contents == ["one", "first", "two"]


def test_api_key_env_is_sent_and_missing_var_is_explained(monkeypatch, capsys) -> None:
    with ScriptedOpenAIServer(api_key="sk-test-123456", models=["m"]) as srv:
        monkeypatch.setenv("MY_KEY", "sk-test-123456")
        assert main(["chat", "hi", "--base-url", srv.base_url, "--model", "m", "--api-key-env", "MY_KEY"]) == 0
        assert srv.requests[-1].headers["authorization"] == "Bearer sk-test-123456"
        capsys.readouterr()
        assert main(["chat", "hi", "--base-url", srv.base_url, "--model", "m", "--api-key-env", "NOPE_VAR"]) == 2
        assert "NOPE_VAR" in capsys.readouterr().err
        # a wrong key: the answer fails with a message naming the key, and the exit code says so
        monkeypatch.setenv("MY_KEY", "sk-wrong-999999")
        assert main(["chat", "hi", "--base-url", srv.base_url, "--model", "m", "--api-key-env", "MY_KEY"]) == 1
        err = capsys.readouterr().err
        assert "401" in err and "$MY_KEY" in err
        assert "sk-wrong-999999" not in err


def test_server_error_exit_code_and_message(server: ScriptedOpenAIServer, capsys) -> None:
    server.script(*[error(500)] * 5)
    code = main(["chat", "hi", "--base-url", server.base_url, "--model", "alpha"])
    assert code == 1
    assert "server error" in capsys.readouterr().err


def test_routed_chat_needs_an_assignment(capsys) -> None:
    assert main(["chat", "hi"]) == 1
    assert "No model is assigned" in capsys.readouterr().err


def test_providers_add_list_detect_and_route(server: ScriptedOpenAIServer, capsys, monkeypatch) -> None:
    assert main(["providers", "add", "mine", "--preset", "custom", "--base-url", server.base_url]) == 0
    assert main(["providers", "models", "mine"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == ["alpha", "beta"]
    assert main(["providers", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "mine" and listed[0]["models"] == ["alpha", "beta"]
    server.script(text(["via provider"]))
    assert main(["chat", "hi", "--provider", "mine", "--model", "beta"]) == 0
    assert capsys.readouterr().out == "via provider\n"
    assert main(["chat", "hi", "--model", "mine/alpha"]) == 0
    assert server.requests[-1].body["model"] == "alpha"
    assert main(["chat", "hi", "--model", "alpha"]) == 2
    assert "needs a provider" in capsys.readouterr().err
    assert main(["providers", "remove", "mine"]) == 0
    assert main(["providers", "remove", "mine"]) == 2


def test_providers_detect_finds_nothing_quickly_on_closed_ports(capsys, monkeypatch) -> None:
    import nexus_core.providers.detect as detect

    closed = {p.id: 1 for p in detect.LOCAL_SERVER_PRESETS}  # port 1: nothing listens there
    real = detect.detect_local_servers
    monkeypatch.setattr(detect, "detect_local_servers", lambda **kw: real(ports=closed, **kw))
    assert main(["providers", "detect"]) == 0
    assert "No local LLM server answered" in capsys.readouterr().out


def test_set_key_uses_the_passphrase_from_the_environment(monkeypatch, capsys, nexus_home: Path) -> None:
    import io

    assert main(["providers", "add", "router", "--preset", "openrouter"]) == 0
    assert "set-key" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-or-secret-value\n"))
    monkeypatch.setenv("NEXUS_CREDENTIALS_PASSPHRASE", "correct horse battery")
    assert main(["providers", "set-key", "router"]) == 0
    vault = (nexus_home / "credentials.vault").read_bytes()
    assert b"sk-or-secret-value" not in vault
    assert main(["providers", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])[0]["key"] == "stored"


def test_chat_with_a_local_model_folder(tmp_path: Path, capsys) -> None:
    from tests.support.tiny_models import build_tiny_llama

    folder = build_tiny_llama(tmp_path / "tiny-llama")
    assert main(["providers", "add", "tiny", "--preset", "local", "--folder", str(folder)]) == 0
    capsys.readouterr()
    # --no-tools: the 13 tool schemas alone are longer than this tiny model's 256-token context
    assert main(["chat", "hello there", "--provider", "tiny", "--model", "tiny-llama", "--json", "--no-tools"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "complete"
    assert result["model"] == "tiny/tiny-llama"
    assert result["tokens_in"] > 0 and result["tokens_out"] > 0


def test_chat_with_an_empty_model_folder_explains(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    assert main(["providers", "add", "broken", "--preset", "local", "--folder", str(empty)]) == 0
    capsys.readouterr()
    assert main(["chat", "hello", "--model", "broken/empty-model"]) == 1
    err = capsys.readouterr().err
    assert "empty-model" in err
    assert "no answer" in err


def test_chat_runs_tools_and_denies_risky_ones_headless(server: ScriptedOpenAIServer, capsys, nexus_home: Path,
                                                        monkeypatch) -> None:
    from nexus_core.core import Core
    from nexus_core.tools import tool

    @tool(risk="risky")
    def touch_file(ctx, name: str) -> str:
        """Creates a file in the workspace."""
        (ctx.workspace / name).write_text("x")
        return "created"

    real_open = Core.open

    def open_with_tool(*args, **kwargs):
        core = real_open(*args, **kwargs)
        core.tools.register(touch_file, replace=True)
        return core

    monkeypatch.setattr(Core, "open", open_with_tool)
    from tests.support.llm_servers import tool_calls

    server.script(tool_calls([("c1", "touch_file", {"name": "a.txt"})]), text(["no file then"]))
    assert main(["chat", "make a file", "--base-url", server.base_url, "--model", "alpha"]) == 0
    out, err = capsys.readouterr()
    assert out == "no file then\n"
    assert "touch_file is a risky tool; denied" in err
    assert "failed (denied)" in err
    server.script(tool_calls([("c2", "touch_file", {"name": "b.txt"})]), text(["made it"]))
    assert main(["chat", "make a file", "--base-url", server.base_url, "--model", "alpha", "--yes"]) == 0
    out, err = capsys.readouterr()
    assert "allowed (--yes)" in err and "touch_file ok" in err
    assert (nexus_home / "workspace" / "b.txt").exists()
    server.script(text(["plain"]))
    assert main(["chat", "hi", "--base-url", server.base_url, "--model", "alpha", "--no-tools"]) == 0
    assert "tools" not in server.requests[-1].body
