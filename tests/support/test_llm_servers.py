"""The scripted LLM servers speak protocols the real `openai` and `anthropic` SDKs accept."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from functools import cache

import anthropic
import httpx2
import openai
import pytest

from tests.support.llm_servers import (
    RecordedRequest,
    ScriptedAnthropicServer,
    ScriptedOpenAIServer,
    cut,
    error,
    hang,
    malformed,
    text,
    tool_calls,
)

KEY = "sk-test-123"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def oai() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(api_key=KEY, models=["alpha", "beta"]) as srv:
        yield srv
    assert srv.errors == []


@pytest.fixture
def ant() -> Iterator[ScriptedAnthropicServer]:
    with ScriptedAnthropicServer(api_key=KEY, models=["claude-a", "claude-b"]) as srv:
        yield srv
    assert srv.errors == []


@cache
def _http() -> httpx2.Client:
    """One HTTP client shared by the SDK clients: building one per SDK client costs ~40 ms (its SSL context)."""
    return httpx2.Client()


@pytest.fixture(scope="module", autouse=True)
def _close_shared_http_client() -> Iterator[None]:
    yield
    _http().close()
    _http.cache_clear()


def _oai(srv: ScriptedOpenAIServer, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=kwargs.pop("api_key", KEY), max_retries=0,
                         http_client=_http(), **kwargs)


def _ant(srv: ScriptedAnthropicServer, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.base_url, api_key=kwargs.pop("api_key", KEY), max_retries=0,
                               http_client=_http(), **kwargs)


def _oai_stream(client: openai.OpenAI, **kwargs: object) -> openai.Stream:
    return client.chat.completions.create(model="gpt-x", messages=USER, stream=True,
                                          stream_options={"include_usage": True}, **kwargs)


def _raw(port: int, method: str, path: str, body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request over a raw socket; the response as status, lower-cased headers and the undecoded body."""
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
             f"Content-Length: {len(payload)}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    parsed = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), parsed, rest


def _dechunk(body: bytes) -> tuple[list[bytes], bool]:
    """HTTP chunks of a chunked body, and whether the terminating zero-length chunk was there."""
    chunks: list[bytes] = []
    while body:
        size_text, sep, body = body.partition(b"\r\n")
        if not sep:
            break
        size = int(size_text, 16)
        if size == 0:
            return chunks, True
        chunks.append(body[:size])
        body = body[size + 2:]
    return chunks, False


# ------------------------------------------------------------------------------------------------------------------
# OpenAI


def test_openai_stream_text_usage_and_recorded_request(oai: ScriptedOpenAIServer) -> None:
    oai.script(text(["Hel", "lo", " there"], usage=(13, 4)))
    chunks = list(_oai_stream(_oai(oai), temperature=0.2))

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-x" for c in chunks)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens, chunks[-1].usage.total_tokens) == (
        13, 4, 17)

    [req] = oai.requests
    assert isinstance(req, RecordedRequest)
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["messages"] == USER
    assert req.body["stream"] is True
    assert req.body["stream_options"] == {"include_usage": True}
    assert req.body["temperature"] == 0.2


def test_openai_stream_without_include_usage_sends_no_usage_chunk(oai: ScriptedOpenAIServer) -> None:
    chunks = list(_oai(oai).chat.completions.create(model="m", messages=USER, stream=True))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello world"  # the default reply


def test_openai_model_override_and_delay_between_chunks(oai: ScriptedOpenAIServer) -> None:
    oai.script(text(["a", "b", "c"], model="served-model", delay=0.1))
    arrivals: list[float] = []
    for chunk in _oai_stream(_oai(oai)):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
        assert chunk.model == "served-model"
    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] >= 0.18  # two delays: the chunks really are sent apart


def test_openai_non_stream_completion(oai: ScriptedOpenAIServer) -> None:
    oai.script(text(["Hel", "lo"], finish="length"))
    resp = _oai(oai).chat.completions.create(model="gpt-x", messages=USER)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "Hello"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (7, 5)
    assert "stream" not in oai.requests[0].body


def test_openai_stream_tool_calls_reassemble(oai: ScriptedOpenAIServer) -> None:
    args_a = {"path": "/tmp/x.txt", "lines": [1, 2, 3], "note": "déjà vu"}
    oai.script(tool_calls([("call_a", "read_file", args_a), ("call_b", "now", {})], split=4, text_before="Let me"))
    calls: dict[int, dict] = {}
    content = ""
    finish = None
    usage = None
    for chunk in _oai_stream(_oai(oai)):
        usage = chunk.usage or usage
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": None, "args": "", "pieces": 0, "ids_seen": 0})
            if tc.id:
                slot["id"] = tc.id
                slot["ids_seen"] += 1
            if tc.function and tc.function.name:
                slot["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                slot["args"] += tc.function.arguments
                slot["pieces"] += 1

    assert content == "Let me"
    assert finish == "tool_calls"
    assert (calls[0]["id"], calls[0]["name"]) == ("call_a", "read_file")
    assert (calls[1]["id"], calls[1]["name"]) == ("call_b", "now")
    assert json.loads(calls[0]["args"]) == args_a
    assert json.loads(calls[1]["args"]) == {}
    assert calls[0]["pieces"] == 4  # split across separate chunks, none of them valid JSON alone
    assert calls[0]["ids_seen"] == 1 and calls[1]["ids_seen"] == 1  # id only in a call's first chunk
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (11, 9)


def test_openai_non_stream_tool_calls(oai: ScriptedOpenAIServer) -> None:
    oai.script(tool_calls([("call_1", "search", {"q": "x"})]))
    message = _oai(oai).chat.completions.create(model="m", messages=USER).choices[0].message
    assert message.tool_calls is not None
    [call] = message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_1", "function", "search")
    assert json.loads(call.function.arguments) == {"q": "x"}


@pytest.mark.parametrize(("status", "exc_type"), [
    (400, openai.BadRequestError),
    (401, openai.AuthenticationError),
    (403, openai.PermissionDeniedError),
    (404, openai.NotFoundError),
    (429, openai.RateLimitError),
    (500, openai.InternalServerError),
    (503, openai.InternalServerError),
])
def test_openai_error_statuses_raise_matching_sdk_errors(oai: ScriptedOpenAIServer, status: int,
                                                         exc_type: type[Exception]) -> None:
    oai.script(error(status, "boom"))
    with pytest.raises(exc_type) as info:
        _oai_stream(_oai(oai))
    assert isinstance(info.value, openai.APIStatusError)
    assert info.value.status_code == status
    assert info.value.body["message"] == "boom"  # the SDK unwraps {"error": {...}}
    assert {"message", "type", "code"} <= set(info.value.body)


def test_openai_rate_limit_retry_after_header_and_custom_type(oai: ScriptedOpenAIServer) -> None:
    oai.script(error(429, "slow down", retry_after=2.5, err_type="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as info:
        _oai(oai).chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["retry-after"] == "2.5"
    assert info.value.body["type"] == "insufficient_quota"
    assert info.value.body["message"] == "slow down"


def test_openai_wrong_key_is_rejected_everywhere_without_using_a_scripted_reply(oai: ScriptedOpenAIServer) -> None:
    oai.script(text(["kept"]))
    bad = _oai(oai, api_key="wrong")
    with pytest.raises(openai.AuthenticationError) as info:
        _oai_stream(bad)
    assert info.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert len(oai.requests) == 1  # rejected requests are still recorded
    assert oai.pending == 1
    resp = _oai(oai).chat.completions.create(model="m", messages=USER)
    assert resp.choices[0].message.content == "kept"
    assert oai.pending == 0


def test_openai_cut_raises_connection_error_after_the_sent_chunks(oai: ScriptedOpenAIServer) -> None:
    oai.script(cut(["one", "two", "three", "four"], after=2))
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in _oai_stream(_oai(oai)):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "onetwo"
    assert not isinstance(info.value, openai.APITimeoutError)
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
    assert "incomplete chunked read" in str(info.value.__cause__)


def test_openai_malformed_raises_json_error_during_iteration(oai: ScriptedOpenAIServer) -> None:
    oai.script(malformed(["fine", "never"], after=1))
    got: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in _oai_stream(_oai(oai)):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "fine"


def test_openai_hang_times_out(oai: ScriptedOpenAIServer) -> None:
    oai.script(hang(10))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _oai_stream(_oai(oai, timeout=0.25))
    assert time.monotonic() - started < 3


def test_openai_models_list(oai: ScriptedOpenAIServer) -> None:
    models = _oai(oai).models.list()
    assert [m.id for m in models.data] == ["alpha", "beta"]
    assert all(m.object == "model" and m.owned_by for m in models.data)
    assert oai.requests == []  # only chat requests are recorded


def test_openai_async_client_streams_and_sees_cut(oai: ScriptedOpenAIServer) -> None:
    oai.script(text(["as", "ync"]), cut(["x", "y"], after=1))

    async def go() -> tuple[str, BaseException | None]:
        client = openai.AsyncOpenAI(base_url=oai.base_url, api_key=KEY, max_retries=0)
        try:
            stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
            answer = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            failure = None
            try:
                stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
                async for _ in stream:
                    pass
            except Exception as exc:
                failure = exc
            return answer, failure
        finally:
            await client.close()

    answer, failure = asyncio.run(go())
    assert answer == "async"
    assert isinstance(failure, openai.APIConnectionError)


def test_ollama_native_endpoints_and_unknown_paths() -> None:
    with ScriptedOpenAIServer(models=["llama3.2:3b", "qwen3:8b"], ollama=True) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/api/tags")
        resp = conn.getresponse()
        tags = json.loads(resp.read())
        assert resp.status == 200
        assert [m["name"] for m in tags["models"]] == ["llama3.2:3b", "qwen3:8b"]
        assert all(m["model"] == m["name"] and m["size"] == 123 and m["details"] for m in tags["models"])
        conn.request("GET", "/api/version")
        resp = conn.getresponse()
        assert resp.status == 200 and "version" in json.loads(resp.read())
        conn.request("GET", "/v1/nope")  # same keep-alive connection
        resp = conn.getresponse()
        assert resp.status == 404 and "error" in json.loads(resp.read())
        conn.close()
        # no key configured: anything is accepted
        assert _oai(srv, api_key="whatever").models.list().data[0].id == "llama3.2:3b"
    with ScriptedOpenAIServer() as plain:
        status, _, _ = _raw(plain.port, "GET", "/api/tags")
        assert status == 404  # Ollama's native API only when ollama=True


def test_openai_wire_format_is_chunked_sse_and_content_length_json(oai: ScriptedOpenAIServer) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    status, headers, body = _raw(oai.port, "POST", "/v1/chat/completions",
                                 {"model": "m", "messages": USER, "stream": True}, auth)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    chunks, complete = _dechunk(body)
    assert complete
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"

    status, headers, body = _raw(oai.port, "POST", "/v1/chat/completions", {"model": "m", "messages": USER}, auth)
    assert status == 200
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body)["choices"][0]["message"]["content"] == "Hello world"

    oai.script(cut(["a", "b"], after=1))
    _, _, body = _raw(oai.port, "POST", "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True},
                      auth)
    chunks, complete = _dechunk(body)
    assert not complete
    assert b"[DONE]" not in body and len(chunks) == 2  # the role chunk and one content chunk


# ------------------------------------------------------------------------------------------------------------------
# Anthropic


def test_anthropic_raw_stream_events(ant: ScriptedAnthropicServer) -> None:
    ant.script(text(["Hel", "lo"], usage=(21, 3)))
    events = list(_ant(ant).messages.create(model="claude-x", max_tokens=64, messages=USER, stream=True))
    types = [e.type for e in events]
    assert types == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]  # the SDK drops `ping`
    start = events[0].message
    assert (start.model, start.role, start.usage.input_tokens, start.usage.output_tokens) == ("claude-x",
                                                                                              "assistant", 21, 1)
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "Hello"
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 3

    [req] = ant.requests
    assert req.path == "/v1/messages"
    assert req.body == {"model": "claude-x", "max_tokens": 64, "messages": USER, "stream": True}
    assert req.headers["anthropic-version"]


def test_anthropic_stream_helper_final_message_and_stop_mapping(ant: ScriptedAnthropicServer) -> None:
    ant.script(text(["cut ", "short"], finish="length"))
    with _ant(ant).messages.stream(model="claude-x", max_tokens=5, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["cut ", "short"]
    assert final.content[0].text == "cut short"
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 5)


def test_anthropic_stream_tool_use_reassembles(ant: ScriptedAnthropicServer) -> None:
    args = {"city": "Zürich", "days": [1, 2], "units": {"temp": "C"}}
    ant.script(tool_calls([("toolu_1", "weather", args), ("toolu_2", "clock", {})], split=5, text_before="Checking"))
    client = _ant(ant)
    deltas = []
    with client.messages.stream(model="claude-x", max_tokens=100, messages=USER) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                deltas.append((event.index, event.delta.partial_json))
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Checking"
    assert (final.content[1].id, final.content[1].name, final.content[1].input) == ("toolu_1", "weather", args)
    assert (final.content[2].id, final.content[2].name, final.content[2].input) == ("toolu_2", "clock", {})
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 9)
    assert len([d for d in deltas if d[0] == 1]) == 5
    assert json.loads("".join(p for i, p in deltas if i == 1)) == args


def test_anthropic_non_stream_message(ant: ScriptedAnthropicServer) -> None:
    ant.script(text(["a", "b"]), tool_calls([("toolu_9", "f", {"x": 1})]))
    client = _ant(ant)
    msg = client.messages.create(model="claude-x", max_tokens=10, messages=USER)
    assert (msg.type, msg.role, msg.content[0].text, msg.stop_reason) == ("message", "assistant", "ab", "end_turn")
    msg = client.messages.create(model="claude-x", max_tokens=10, messages=USER)
    assert msg.stop_reason == "tool_use"
    assert (msg.content[0].type, msg.content[0].input) == ("tool_use", {"x": 1})


@pytest.mark.parametrize(("status", "exc_type", "err_type"), [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
])
def test_anthropic_error_statuses_raise_matching_sdk_errors(ant: ScriptedAnthropicServer, status: int,
                                                            exc_type: type[Exception], err_type: str) -> None:
    ant.script(error(status, "nope"))
    with pytest.raises(exc_type) as info:
        _ant(ant).messages.create(model="claude-x", max_tokens=10, messages=USER, stream=True)
    assert info.value.status_code == status
    assert info.value.body == {"type": "error", "error": {"type": err_type, "message": "nope"}}


def test_anthropic_rate_limit_retry_after_header(ant: ScriptedAnthropicServer) -> None:
    ant.script(error(429, "slow", retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as info:
        _ant(ant).messages.create(model="claude-x", max_tokens=10, messages=USER)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["request-id"].startswith("req_")


def test_anthropic_api_key_checks(ant: ScriptedAnthropicServer) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        _ant(ant, api_key="wrong").messages.create(model="claude-x", max_tokens=10, messages=USER)
    with pytest.raises(anthropic.AuthenticationError):
        _ant(ant, api_key="wrong").models.list()
    # The SDK sends the key as a bearer token; the `x-api-key` header of the raw API is accepted too.
    assert _ant(ant).messages.create(model="claude-x", max_tokens=10, messages=USER).content[0].text == "Hello world"
    assert ant.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    status, _, body = _raw(ant.port, "POST", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": USER},
                           {"x-api-key": KEY})
    assert status == 200 and json.loads(body)["type"] == "message"
    status, _, body = _raw(ant.port, "POST", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": USER},
                           {"x-api-key": "wrong"})
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"


def test_anthropic_cut_raises_remote_protocol_error(ant: ScriptedAnthropicServer) -> None:
    ant.script(cut(["one", "two", "three"], after=2))
    got: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        for event in _ant(ant).messages.create(model="claude-x", max_tokens=10, messages=USER, stream=True):
            if event.type == "content_block_delta":
                got.append(event.delta.text)
    assert got == ["one", "two"]


def test_anthropic_cut_through_stream_helper_is_also_unwrapped(ant: ScriptedAnthropicServer) -> None:
    ant.script(cut(["one", "two"], after=1))
    with pytest.raises(httpx2.RemoteProtocolError), _ant(ant).messages.stream(
            model="claude-x", max_tokens=10, messages=USER) as stream:
        for _ in stream.text_stream:
            pass
    assert not issubclass(httpx2.RemoteProtocolError, anthropic.APIError)


def test_anthropic_malformed_raises_json_error(ant: ScriptedAnthropicServer) -> None:
    ant.script(malformed(["fine", "never"], after=1))
    got: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        for event in _ant(ant).messages.create(model="claude-x", max_tokens=10, messages=USER, stream=True):
            if event.type == "content_block_delta":
                got.append(event.delta.text)
    assert got == ["fine"]


def test_anthropic_hang_times_out(ant: ScriptedAnthropicServer) -> None:
    ant.script(hang(10))
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        _ant(ant, timeout=0.25).messages.create(model="claude-x", max_tokens=10, messages=USER, stream=True)
    assert time.monotonic() - started < 3


def test_anthropic_models_list(ant: ScriptedAnthropicServer) -> None:
    page = _ant(ant).models.list()
    assert [m.id for m in page.data] == ["claude-a", "claude-b"]
    assert all(m.type == "model" and m.display_name == m.id for m in page.data)
    assert ant.requests == []


def test_anthropic_async_client_streams(ant: ScriptedAnthropicServer) -> None:
    ant.script(text(["as", "ync"]), cut(["x", "y"], after=1))

    async def go() -> tuple[str, BaseException | None]:
        client = anthropic.AsyncAnthropic(base_url=ant.base_url, api_key=KEY, max_retries=0)
        try:
            async with client.messages.stream(model="claude-x", max_tokens=10, messages=USER) as stream:
                answer = "".join([t async for t in stream.text_stream])
            failure = None
            try:
                events = await client.messages.create(model="claude-x", max_tokens=10, messages=USER, stream=True)
                async for _ in events:
                    pass
            except Exception as exc:
                failure = exc
            return answer, failure
        finally:
            await client.close()

    answer, failure = asyncio.run(go())
    assert answer == "async"
    assert isinstance(failure, httpx2.RemoteProtocolError)


def test_anthropic_wire_format_named_events_one_per_chunk(ant: ScriptedAnthropicServer) -> None:
    status, headers, body = _raw(ant.port, "POST", "/v1/messages",
                                 {"model": "m", "max_tokens": 5, "messages": USER, "stream": True}, {"x-api-key": KEY})
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked"
    chunks, complete = _dechunk(body)
    assert complete
    names = []
    for chunk in chunks:
        event_line, data_line, *rest = chunk.decode().split("\n")
        assert rest == ["", ""]  # exactly one event per HTTP chunk
        name = event_line.removeprefix("event: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == name
        names.append(name)
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    status, _, body = _raw(ant.port, "GET", "/v2/whatever")
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"


def test_non_streamed_cut_and_malformed_bodies() -> None:
    # Without streaming both SDKs read the body inside the request, so a short body becomes their APIConnectionError.
    with ScriptedOpenAIServer() as o, ScriptedAnthropicServer() as a:
        o.script(cut(["a", "b"], after=1), malformed(["a"], after=0))
        a.script(cut(["a", "b"], after=1), malformed(["a"], after=0))
        oc, ac = _oai(o), _ant(a)
        with pytest.raises(openai.APIConnectionError) as o_info:
            oc.chat.completions.create(model="m", messages=USER)
        with pytest.raises(json.JSONDecodeError):
            oc.chat.completions.create(model="m", messages=USER)
        with pytest.raises(anthropic.APIConnectionError) as a_info:
            ac.messages.create(model="m", max_tokens=5, messages=USER)
        with pytest.raises(json.JSONDecodeError):
            ac.messages.create(model="m", max_tokens=5, messages=USER)
    assert isinstance(o_info.value.__cause__, httpx2.RemoteProtocolError)
    assert isinstance(a_info.value.__cause__, httpx2.RemoteProtocolError)
    assert o.errors == [] and a.errors == []


# ------------------------------------------------------------------------------------------------------------------
# Lifecycle and scripting


def test_queue_then_default_reply() -> None:
    with ScriptedOpenAIServer(default=text(["fallback"])) as srv:
        srv.script(text(["first"]), text(["second"]))
        client = _oai(srv)
        answers = [client.chat.completions.create(model="m", messages=USER).choices[0].message.content
                   for _ in range(4)]
    assert answers == ["first", "second", "fallback", "fallback"]
    assert [r.body["model"] for r in srv.requests] == ["m"] * 4


def test_exit_does_not_hang_with_a_client_stuck_on_a_hang_reply() -> None:
    outcome: list[BaseException] = []
    srv = ScriptedAnthropicServer()
    with srv:
        srv.script(hang(60))

        def call() -> None:
            try:
                _ant(srv, api_key="k", timeout=30).messages.create(model="m", max_tokens=5, messages=USER)
            except Exception as exc:
                outcome.append(exc)

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        deadline = time.monotonic() + 5
        while not srv.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.requests
        started = time.monotonic()
    assert time.monotonic() - started < 2
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert outcome and isinstance(outcome[0], anthropic.APIConnectionError)  # the connection was dropped


def test_servers_use_free_ports_and_base_urls() -> None:
    srv = ScriptedOpenAIServer()
    with pytest.raises(RuntimeError):
        _ = srv.base_url
    with srv, ScriptedOpenAIServer() as other, ScriptedAnthropicServer() as ant:
        assert srv.port != other.port and srv.port > 0
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert ant.base_url == f"http://127.0.0.1:{ant.port}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
