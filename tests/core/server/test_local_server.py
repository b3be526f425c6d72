"""The local OpenAI-compatible server, called with the real `openai` SDK (and raw HTTP for what the SDK cannot
send), answering through the real router from a scripted upstream on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from nexus_core.core import Core
from nexus_core.errors import NexusError
from tests.support.llm_servers import ScriptedOpenAIServer, error, hang, text, tool_calls

USER = [{"role": "user", "content": "Say hello"}]
WEATHER = {"type": "function", "function": {"name": "weather", "description": "The weather in a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def _calls(core: Core) -> list[dict]:
    rows = core.store.query('SELECT "gen_ai.request.model" AS model, "nexus.client" AS client, "nexus.outcome" AS '
                            'outcome, "gen_ai.usage.output_tokens" AS tokens FROM llm_calls ORDER BY started_at')
    return [dict(r) for r in rows]


def _raw(core: Core, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {core.server.token()}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    base = core.server.state.base_url.removesuffix("/v1")
    return httpx.request(method, base + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_models_list_the_router_the_agent_and_the_assigned_models(core: Core, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["nexus/auto", "nexus/agent", "loc/m1", "loc/m2"]
    assert client.models.retrieve("loc/m2").owned_by == "loc"
    with pytest.raises(openai.NotFoundError, match="GET /v1/models lists"):
        client.models.retrieve("loc/m9")


def test_a_whole_answer_goes_through_the_router_and_is_recorded_with_its_client(
        core: Core, client: openai.OpenAI, upstream: ScriptedOpenAIServer) -> None:
    upstream.script(text(["Hel", "lo"], usage=(12, 3)))
    reply = client.chat.completions.create(model="nexus/auto", messages=USER, temperature=0.3, max_tokens=50,
                                           stop=["\n\n"], user="notes-app")
    assert reply.choices[0].message.content == "Hello" and reply.choices[0].finish_reason == "stop"
    assert reply.model == "loc/m1" and reply.object == "chat.completion"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (12, 3, 15)
    sent = upstream.requests[-1].body
    assert sent["model"] == "m1" and sent["messages"][-1]["content"] == "Say hello"
    assert (sent["temperature"], sent["max_tokens"], sent["stop"]) == (0.3, 50, ["\n\n"])
    assert _calls(core) == [{"model": "m1", "client": "notes-app", "outcome": "ok", "tokens": 3}]


def test_a_streamed_answer_arrives_in_chunks_with_usage_at_the_end(
        core: Core, client: openai.OpenAI, upstream: ScriptedOpenAIServer) -> None:
    upstream.script(text(["Hel", "lo", " there"], usage=(4, 3)))
    chunks = list(client.chat.completions.create(model="loc/m2", messages=USER, stream=True,
                                                 stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["Hel", "lo", " there"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert {c.model for c in chunks} == {"loc/m2"} and len({c.id for c in chunks}) == 1
    assert _calls(core)[0]["client"].startswith("OpenAI/Python")  # the SDK's User-Agent when no name is given


def test_tool_calls_pass_through_to_the_client_streamed_or_whole(
        client: openai.OpenAI, upstream: ScriptedOpenAIServer) -> None:
    upstream.script(tool_calls([("call_1", "weather", {"city": "Oslo"})]),
                    tool_calls([("call_2", "weather", {"city": "Lima"})], split=4))
    whole = client.chat.completions.create(model="nexus/auto", messages=USER, tools=[WEATHER])
    [call] = whole.choices[0].message.tool_calls
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("call_1", "weather",
                                                                                   {"city": "Oslo"})
    assert whole.choices[0].finish_reason == "tool_calls" and whole.choices[0].message.content is None
    assert upstream.requests[-1].body["tools"][0]["function"]["name"] == "weather"
    arguments, finish = "", None
    for part in client.chat.completions.create(model="nexus/auto", messages=USER, tools=[WEATHER], stream=True):
        for delta in part.choices[0].delta.tool_calls or []:
            arguments += delta.function.arguments or ""
        finish = part.choices[0].finish_reason or finish
    assert json.loads(arguments) == {"city": "Lima"} and finish == "tool_calls"
    # the client answers its tool call in the next request: the history reaches the upstream as sent
    upstream.script(text(["It is sunny."]))
    client.chat.completions.create(model="nexus/auto", messages=[
        *USER, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"}], tools=[WEATHER])
    history = upstream.requests[-1].body["messages"]
    assert history[-1] == {"role": "tool", "tool_call_id": "call_2", "content": "sunny"}
    assert history[-2]["tool_calls"][0]["id"] == "call_2"


def test_a_failing_model_falls_back_like_the_chat_pane(core: Core, client: openai.OpenAI,
                                                        upstream: ScriptedOpenAIServer) -> None:
    upstream.script(error(500), error(500), error(500), text(["from the fallback"]))
    reply = client.chat.completions.with_raw_response.create(model="nexus/auto", messages=USER)
    assert reply.parse().choices[0].message.content == "from the fallback"
    assert reply.headers["x-nexus-model"] == "loc/m2"
    assert [c["model"] for c in _calls(core)][-1] == "m2" and _calls(core)[0]["outcome"] == "error"


def test_upstream_failures_become_openai_errors(core: Core, client: openai.OpenAI,
                                                upstream: ScriptedOpenAIServer) -> None:
    core.routing.save(core.routing.table.model_copy(update={"max_retries": 0}))
    upstream.script(error(429, retry_after=7), error(429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="nexus/auto", messages=USER)
    assert caught.value.response.headers["retry-after"] == "7"
    upstream.script(error(400, "context too long"))
    with pytest.raises(openai.BadRequestError, match="context too long"):
        client.chat.completions.create(model="loc/m1", messages=USER)


def test_bad_requests_get_openai_error_bodies_and_the_server_keeps_serving(core: Core, client: openai.OpenAI,
                                                                            upstream: ScriptedOpenAIServer) -> None:
    def refused(response: httpx.Response, status: int, *words: str) -> dict:
        assert response.status_code == status, response.text
        body = response.json()["error"]
        assert set(body) == {"message", "type", "param", "code"}
        for word in words:
            assert word in body["message"] or word == body["code"] or word == body["param"]
        return body

    refused(_raw(core, "POST", "/v1/chat/completions", content=b'{"model": "nexus/auto", "messages": [}'), 400,
            "not valid JSON", "line 1")
    refused(_raw(core, "POST", "/v1/chat/completions", json=[1, 2]), 400, "JSON object")
    refused(_raw(core, "POST", "/v1/chat/completions", json={"model": "nexus/auto"}), 400, "messages")
    refused(_raw(core, "POST", "/v1/chat/completions", json={"model": "nexus/auto", "messages": [
        {"role": "robot", "content": "x"}]}), 400, "messages[0].role")
    refused(_raw(core, "POST", "/v1/chat/completions", json={"model": "nexus/auto", "messages": USER,
                                                             "temperature": 9}), 400, "temperature")
    refused(_raw(core, "POST", "/v1/chat/completions", json={"model": "nexus/auto", "messages": USER, "n": 3}),
            400, "n")
    refused(_raw(core, "POST", "/v1/chat/completions", json={"model": "nope/x", "messages": USER}), 404,
            "model_not_found", "nope/x")
    refused(_raw(core, "POST", "/v1/chat/completions", json={"model": "nexus/agent", "messages": USER,
                                                             "tools": [WEATHER]}), 400, "tools")
    big = {"model": "nexus/auto", "messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]}
    refused(_raw(core, "POST", "/v1/chat/completions", json=big), 413, "request_too_large")
    refused(_raw(core, "GET", "/v1/chat/completions"), 405, "POST")
    refused(_raw(core, "POST", "/v1/embeddings", json={}), 404, "unknown_url")
    refused(_raw(core, "GET", "/v1/models", headers={"authorization": ""}), 401, "invalid_api_key")
    with pytest.raises(openai.BadRequestError, match="does not fetch pictures from the web"):
        client.chat.completions.create(model="nexus/auto", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    with pytest.raises(openai.BadRequestError, match="not valid base64"):
        client.chat.completions.create(model="nexus/auto", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}])
    assert upstream.requests == []  # nothing bad reached the model
    upstream.script(text(["still here"]))
    assert client.chat.completions.create(model="nexus/auto", messages=USER).choices[0].message.content == \
        "still here"
    assert [e.status for e in core.server.api.recent][:3] == [400, 400, 400]


def test_pictures_sent_inline_reach_the_model_in_its_providers_format(core: Core, client: openai.OpenAI,
                                                                     upstream: ScriptedOpenAIServer) -> None:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(buffer, format="PNG")
    picture = base64.b64encode(buffer.getvalue()).decode()
    upstream.script(text(["Red."]))
    reply = client.chat.completions.create(model="nexus/auto", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Colour?"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,"
                                                                                     f"{picture}"}}]}])
    assert reply.choices[0].message.content == "Red."
    parts = upstream.requests[-1].body["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "Colour?"} and parts[1]["image_url"]["url"].endswith(picture)


def test_a_client_that_hangs_up_cancels_its_answer_and_the_upstream_call(core: Core,
                                                                        upstream: ScriptedOpenAIServer) -> None:
    upstream.script(text(["one ", "two ", "three ", "four"], delay=0.5))
    port = int(core.server.state.base_url.split(":")[2].split("/")[0])
    body = json.dumps({"model": "loc/m1", "messages": USER, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {core.server.token()}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body)
        received = b""
        while b"one " not in received:
            received += sock.recv(4096)
    api = core.server.api
    # the call is recorded inside the cancelled answer; the request log a few loop turns later: wait for both
    _until(lambda: _calls(core) and api.in_flight == 0 and api.recent, 10)
    assert _calls(core)[0]["outcome"] == "cancelled"  # recorded as the chat pane's Stop records it
    entry = core.server.api.recent[-1]
    assert entry.note == "client disconnected" and entry.status == 200
    assert core.server.api.in_flight == 0


def test_a_slow_client_does_not_hold_up_the_others_and_a_burst_is_served(core: Core, client: openai.OpenAI,
                                                                         upstream: ScriptedOpenAIServer) -> None:
    upstream.script(hang(40), text(["x" * 1000] * 4000))
    stuck = ThreadPoolExecutor(1)
    slow = stuck.submit(lambda: client.with_options(timeout=15).chat.completions.create(model="loc/m1",
                                                                                       messages=USER))
    _until(lambda: len(upstream.requests) == 1, 10)  # the slow one has taken the hang
    # a client that asks for a long streamed answer and never reads it: its writes back up, nobody else's do
    port = int(core.server.state.base_url.split(":")[2].split("/")[0])
    body = json.dumps({"model": "loc/m1", "messages": USER, "stream": True}).encode()
    reader = socket.create_connection(("127.0.0.1", port))
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   + f"Authorization: Bearer {core.server.token()}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                   + body)
    _until(lambda: len(upstream.requests) == 2, 10)  # the reader has taken the long answer
    upstream.default = text(["quick"])
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: client.chat.completions.create(
            model="loc/m2", messages=[{"role": "user", "content": f"question {i}"}], stream=i % 2 == 0), range(32)))
    elapsed = time.perf_counter() - started
    texts = [a.choices[0].message.content if hasattr(a, "choices") else "".join(
        c.choices[0].delta.content or "" for c in a if c.choices) for a in answers]
    assert texts == ["quick"] * 32 and elapsed < 10
    assert not slow.done()  # still waiting on its upstream while the 32 were answered
    # the hanging upstream's request and the client that does not read
    _until(lambda: core.server.api.in_flight == 2, 5)
    reader.close()
    with pytest.raises(openai.APITimeoutError):
        slow.result(30)
    stuck.shutdown()


def test_cross_origin_requests_are_refused_until_an_origin_is_allowed(core: Core) -> None:
    preflight = {"origin": "http://localhost:3000", "access-control-request-method": "POST"}
    assert _raw(core, "OPTIONS", "/v1/chat/completions", headers=preflight).status_code == 403
    assert "access-control-allow-origin" not in _raw(core, "GET", "/v1/models", headers=preflight).headers
    core.settings.server_cors_origins = ["http://localhost:3000"]
    answer = _raw(core, "OPTIONS", "/v1/chat/completions", headers=preflight)
    assert answer.status_code == 204 and answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "authorization" in answer.headers["access-control-allow-headers"]
    other = _raw(core, "GET", "/v1/models", headers={"origin": "http://evil.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def test_the_token_rotates_and_lives_in_the_credential_store(core: Core, client: openai.OpenAI,
                                                             nexus_home) -> None:
    old = core.server.token()
    assert old.startswith("nxs-") and core.credentials.get("local-server-token") == old
    new = core.server.rotate_token()
    assert new != old
    with pytest.raises(openai.AuthenticationError, match="not this server's token"):
        client.models.list()
    assert client.with_options(api_key=new).models.list().data
    for path in nexus_home.rglob("*"):  # never in plain text on disk (the vault is encrypted)
        if path.is_file():
            assert new.encode() not in path.read_bytes(), path


def test_a_port_in_use_is_a_clear_error(core: Core) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(NexusError, match=f"Port {port} on 127.0.0.1 is already in use"):
            core.server.start("127.0.0.1", port)
    assert not core.server.state.running


def test_stopping_the_server_ends_open_streams(core: Core, client: openai.OpenAI,
                                               upstream: ScriptedOpenAIServer) -> None:
    upstream.script(text(["a"] * 100, delay=0.2))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in client.chat.completions.create(model="loc/m1", messages=USER, stream=True):
                pass
        except (openai.APIError, httpx.HTTPError) as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.6)
    started = time.perf_counter()
    core.server.stop()
    reader.join(10)
    assert not reader.is_alive() and time.perf_counter() - started < 8
    assert not core.server.state.running


def test_nexus_agent_runs_installed_module_tools_on_the_server(core: Core, client: openai.OpenAI,
                                                              upstream: ScriptedOpenAIServer, tmp_path) -> None:
    from tests.support.module_factory import make_module

    core.modules.install(make_module(tmp_path / "src"), approved_by="test")
    upstream.script(tool_calls([("call_1", "lab__echo", {"text": "ab", "times": 2})]), text(["The echo is abab."]))
    parts = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="nexus/agent", messages=USER, stream=True) if c.choices and c.choices[0].delta.content]
    assert "".join(parts) == "The echo is abab."
    first, second = (r.body for r in upstream.requests[-2:])
    offered = {t["function"]["name"] for t in first["tools"]}
    assert offered == {f"lab__{op}" for op in core.modules.status("lab").operations}  # not the app's own tools
    assert second["messages"][-1]["role"] == "tool" and json.loads(second["messages"][-1]["content"]) == \
        {"echo": "abab"}
    calls = _calls(core)
    assert len(calls) == 2 and all(c["client"].startswith("OpenAI/Python") for c in calls)


def test_nexus_serve_prints_its_url_and_token_first_and_serves_until_interrupted(
        upstream: ScriptedOpenAIServer, nexus_home) -> None:
    import os
    import signal
    import subprocess
    import sys

    upstream.default = text(["served by the CLI"])
    process = subprocess.Popen(
        [sys.executable, "-m", "nexus_core.cli", "serve", "--port", "0", "--base-url", upstream.base_url, "--model",
         "m2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NEXUS_HOME": str(nexus_home)})
    try:
        base_url, token = process.stdout.readline().split()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1") and token.startswith("nxs-")
        with openai.OpenAI(base_url=base_url, api_key=token, max_retries=0) as sdk:
            assert "cli/m2" in [m.id for m in sdk.models.list()]
            answer = sdk.chat.completions.create(model="nexus/auto", messages=USER)
        assert answer.choices[0].message.content == "served by the CLI" and answer.model == "cli/m2"
        assert upstream.requests[-1].body["model"] == "m2"
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "200 POST /v1/chat/completions cli/m2" in err and token not in err and "nexus: stopping" in err


def test_past_the_in_flight_limit_requests_get_429_and_the_server_recovers(core: Core, client: openai.OpenAI,
                                                                           upstream: ScriptedOpenAIServer) -> None:
    core.server.api.max_in_flight = 2
    upstream.script(hang(8), hang(8))
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(lambda: client.with_options(timeout=5).chat.completions.create(
            model="loc/m1", messages=USER)) for _ in range(2)]
        deadline = time.time() + 5
        while core.server.api.in_flight < 2 and time.time() < deadline:
            time.sleep(0.02)
        with pytest.raises(openai.RateLimitError, match="answering 2 requests already") as caught:
            client.chat.completions.create(model="loc/m1", messages=USER)
        assert caught.value.response.headers["retry-after"] == "1"
        for future in waiting:
            with pytest.raises(openai.APITimeoutError):
                future.result(10)
    deadline = time.time() + 5
    while core.server.api.in_flight and time.time() < deadline:
        time.sleep(0.02)
    upstream.script(text(["back"]))
    assert client.chat.completions.create(model="loc/m1", messages=USER).choices[0].message.content == "back"


def _until(condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.02)
