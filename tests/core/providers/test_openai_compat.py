"""OpenAICompatProvider against a scripted server speaking the real Chat Completions wire format."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.http_errors import MAX_RETRY_AFTER_S, parse_retry_after
from nexus_core.providers.openai_compat import OpenAICompatProvider
from nexus_core.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from tests.support.llm_servers import Reply, ScriptedOpenAIServer, cut, error, hang, malformed, text, tool_calls

KEY = "sk-test-openai"
HINT = "the key in $TEST_OPENAI_KEY"
USER = [ChatMessage("user", "hi")]
WEATHER = ToolSpec("get_weather", "Weather for a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@pytest.fixture
def srv() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(api_key=KEY, models=["zeta", "Alpha", "beta"]) as server:
        yield server
    assert server.errors == []


def _provider(srv: ScriptedOpenAIServer, **kwargs: object) -> OpenAICompatProvider:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("key_hint", HINT)
    kwargs.setdefault("timeout_s", 5.0)
    return OpenAICompatProvider("oai", srv.base_url, **kwargs)  # type: ignore[arg-type]


async def collect(provider: OpenAICompatProvider, request: ChatRequest) -> tuple[list[StreamEvent], ChatResult]:
    events: list[StreamEvent] = []
    result = ChatResult()
    async for event in provider.stream(request):
        events.append(event)
        result.add(event)
    return events, result


async def collect_error(provider: OpenAICompatProvider,
                        request: ChatRequest) -> tuple[list[StreamEvent], ProviderError]:
    """The events received before the stream failed, and the error (the test fails if it did not fail)."""
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream(request):
            events.append(event)
    return events, info.value


def run_one(srv: ScriptedOpenAIServer, request: ChatRequest, **kwargs: object) -> tuple[list[StreamEvent], ChatResult]:
    async def go() -> tuple[list[StreamEvent], ChatResult]:
        provider = _provider(srv, **kwargs)
        try:
            return await collect(provider, request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def run_error(srv: ScriptedOpenAIServer | None, request: ChatRequest, *, base_url: str = "",
              **kwargs: object) -> tuple[list[StreamEvent], ProviderError]:
    async def go() -> tuple[list[StreamEvent], ProviderError]:
        provider = (_provider(srv, **kwargs) if srv is not None
                    else OpenAICompatProvider("oai", base_url, key_hint=HINT, **kwargs))  # type: ignore[arg-type]
        try:
            return await collect_error(provider, request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- streaming ---------------------------------------------------------------------------------------------------


def test_text_stream_deltas_in_order_one_finish_last_and_usage(srv: ScriptedOpenAIServer) -> None:
    srv.script(text(["Hel", "lo", " world"], model="served-model-v2", usage=(13, 4)))
    events, result = run_one(srv, ChatRequest(model="gpt-x", messages=USER))

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo", " world"]
    assert [e for e in events if isinstance(e, Finish)] == [events[-1]]
    assert events[-1] == Finish("stop", "served-model-v2")
    usage = [e for e in events if isinstance(e, Usage)]
    assert usage == [Usage(13, 4)]
    assert (result.text, result.input_tokens, result.output_tokens) == ("Hello world", 13, 4)
    assert result.finish_reason == "stop"
    assert result.response_model == "served-model-v2"
    assert result.tool_calls == []


@pytest.mark.parametrize(("server_finish", "expected"), [("length", "length"), ("content_filter", "content_filter")])
def test_finish_reason_is_normalised(srv: ScriptedOpenAIServer, server_finish: str, expected: str) -> None:
    srv.script(text(["a"], finish=server_finish))
    events, _ = run_one(srv, ChatRequest(model="m", messages=USER))
    assert isinstance(events[-1], Finish)
    assert events[-1].reason == expected


def test_tool_call_deltas_reassemble_into_valid_json(srv: ScriptedOpenAIServer) -> None:
    args_a = {"city": "Zürich", "units": "metric", "days": [1, 2, 3]}
    args_b = {"query": "a \"quoted\" {brace}"}
    srv.script(tool_calls([("call_a", "get_weather", args_a), ("call_b", "search", args_b)], split=4,
                          text_before="Let me check.", usage=(21, 8)))
    events, result = run_one(srv, ChatRequest(model="m", messages=USER, tools=[WEATHER]))

    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    # split across several chunks: more than one delta per call, and only the first carries id and name
    assert len([d for d in deltas if d.index == 0]) > 2
    assert len([d for d in deltas if d.index == 1]) > 2
    assert [d.id for d in deltas if d.id] == ["call_a", "call_b"]
    assert result.text == "Let me check."
    assert [(c.id, c.name) for c in result.tool_calls] == [("call_a", "get_weather"), ("call_b", "search")]
    assert json.loads(result.tool_calls[0].arguments) == args_a
    assert result.tool_calls[0].parsed_arguments() == args_a
    assert result.tool_calls[1].parsed_arguments() == args_b
    assert result.finish_reason == "tool_calls"
    assert isinstance(events[-1], Finish)
    assert (result.input_tokens, result.output_tokens) == (21, 8)


def test_request_body_and_key_header(srv: ScriptedOpenAIServer) -> None:
    request = ChatRequest(model="gpt-x", messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "hi")],
                          tools=[WEATHER], temperature=0.3, max_tokens=77, stop=["END", "\n\n"])
    run_one(srv, request)

    [req] = srv.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    body = req.body
    assert body["model"] == "gpt-x"
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER.parameters}}]
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 77
    assert body["stop"] == ["END", "\n\n"]


def test_unset_options_are_not_sent(srv: ScriptedOpenAIServer) -> None:
    run_one(srv, ChatRequest(model="m", messages=USER))
    body = srv.requests[0].body
    for absent in ("tools", "temperature", "max_tokens", "stop"):
        assert absent not in body


def test_tool_calls_and_results_round_trip_into_the_next_request(srv: ScriptedOpenAIServer) -> None:
    srv.script(tool_calls([("call_1", "get_weather", {"city": "Oslo"})]), text(["It is cold."]))

    async def go() -> tuple[ChatResult, ChatResult]:
        provider = _provider(srv)
        try:
            _, first = await collect(provider, ChatRequest(model="m", messages=USER, tools=[WEATHER]))
            follow_up = [*USER, first.message(),
                         ChatMessage("tool", '{"temp": -3}', tool_call_id="call_1", name="get_weather")]
            _, second = await collect(provider, ChatRequest(model="m", messages=follow_up, tools=[WEATHER]))
            return first, second
        finally:
            await provider.aclose()

    _, second = asyncio.run(go())
    assert second.text == "It is cold."
    assert srv.requests[1].body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": -3}'},
    ]


def test_no_key_still_sends_a_placeholder_bearer() -> None:
    with ScriptedOpenAIServer() as server:
        run_one(server, ChatRequest(model="m", messages=USER), api_key=None)
        assert server.requests[0].headers["authorization"].startswith("Bearer ")
        assert server.requests[0].headers["authorization"] != "Bearer "


# ---- errors ------------------------------------------------------------------------------------------------------


def test_401_is_auth_and_names_the_key(srv: ScriptedOpenAIServer) -> None:
    srv.script(error(401, "Incorrect API key provided"))
    events, exc = run_error(srv, ChatRequest(model="gpt-x", messages=USER))
    assert events == []
    assert exc.kind is FailureKind.AUTH
    assert exc.status == 401
    assert exc.error_type == "401"
    assert not exc.retryable
    assert HINT in exc.hint
    assert HINT in str(exc)  # the user-facing message carries the hint
    assert "401" in exc.what
    assert "Incorrect API key provided" in exc.what
    assert exc.provider == "oai"
    assert exc.model == "gpt-x"


def test_wrong_key_is_auth(srv: ScriptedOpenAIServer) -> None:
    _, exc = run_error(srv, ChatRequest(model="m", messages=USER), api_key="sk-wrong")
    assert exc.kind is FailureKind.AUTH
    assert HINT in str(exc)


def test_403_is_permission(srv: ScriptedOpenAIServer) -> None:
    srv.script(error(403, "not allowed"))
    _, exc = run_error(srv, ChatRequest(model="gpt-x", messages=USER))
    assert exc.kind is FailureKind.PERMISSION
    assert exc.status == 403
    assert HINT in exc.hint
    assert not exc.retryable


def test_404_is_not_found_and_names_the_model(srv: ScriptedOpenAIServer) -> None:
    srv.script(error(404, "The model does not exist"))
    _, exc = run_error(srv, ChatRequest(model="gpt-nonexistent", messages=USER))
    assert exc.kind is FailureKind.NOT_FOUND
    assert "gpt-nonexistent" in exc.what
    assert "404" in exc.what


def test_429_is_rate_limit_with_retry_after(srv: ScriptedOpenAIServer) -> None:
    srv.script(error(429, "slow down", retry_after=7))
    _, exc = run_error(srv, ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.RATE_LIMIT
    assert exc.retry_after == pytest.approx(7.0)
    assert exc.retryable
    assert "7 s" in exc.what


def test_429_without_retry_after(srv: ScriptedOpenAIServer) -> None:
    srv.script(error(429))
    _, exc = run_error(srv, ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.RATE_LIMIT
    assert exc.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_server_and_retryable(srv: ScriptedOpenAIServer, status: int) -> None:
    srv.script(error(status, "upstream broke"))
    _, exc = run_error(srv, ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.SERVER
    assert exc.status == status
    assert exc.retryable
    assert str(status) in exc.what
    assert "upstream broke" in exc.what


@pytest.mark.parametrize("status", [400, 422])
def test_400_and_422_are_bad_request(srv: ScriptedOpenAIServer, status: int) -> None:
    srv.script(error(status, "context too long"))
    _, exc = run_error(srv, ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.BAD_REQUEST
    assert not exc.retryable


def test_hang_times_out_quickly(srv: ScriptedOpenAIServer) -> None:
    srv.script(hang(10))
    start = time.monotonic()
    events, exc = run_error(srv, ChatRequest(model="m", messages=USER), timeout_s=0.5)
    elapsed = time.monotonic() - start
    assert exc.kind is FailureKind.TIMEOUT
    assert exc.retryable
    assert events == []
    assert elapsed < 3.0
    assert "time" in exc.what


def test_connection_refused_names_the_base_url() -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    start = time.monotonic()
    _, exc = run_error(None, ChatRequest(model="m", messages=USER), base_url=base_url, connect_timeout_s=1.0)
    assert exc.kind is FailureKind.CONNECTION
    assert exc.retryable
    assert base_url in exc.what
    assert time.monotonic() - start < 3.0


def test_cut_mid_stream_is_stream_cut_after_the_first_deltas(srv: ScriptedOpenAIServer) -> None:
    srv.script(cut(["one ", "two ", "three"], after=2))
    events, exc = run_error(srv, ChatRequest(model="m", messages=USER))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one ", "two "]
    assert not any(isinstance(e, Finish) for e in events)
    assert exc.kind is FailureKind.STREAM_CUT
    assert "middle of the answer" in exc.what
    assert "partial answer is kept" in exc.hint


def test_malformed_chunk_is_malformed_with_clear_message(srv: ScriptedOpenAIServer) -> None:
    srv.script(malformed(["good ", "never"], after=1))
    events, exc = run_error(srv, ChatRequest(model="m", messages=USER))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["good "]
    assert not any(isinstance(e, Finish) for e in events)
    assert exc.kind is FailureKind.MALFORMED
    assert "malformed" in exc.what
    assert "oai" in exc.what


class _MidStreamErrorServer(ScriptedOpenAIServer):
    """Sends one text chunk, then an in-band `{"error": ...}` event (as OpenRouter and vLLM do), then ends."""

    def _serve_stream(self, handler: Any, body: dict, reply: Reply) -> None:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        handler.send_chunk(b"data: " + json.dumps(
            {**base, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}).encode() + b"\n\n")
        handler.send_chunk(b"data: " + json.dumps({"error": {"message": "Upstream overloaded", "code": 502}}).encode()
                           + b"\n\n")
        handler.end_stream()


def test_in_band_error_event_fails_the_stream_with_the_server_message() -> None:
    with _MidStreamErrorServer() as server:
        events, exc = run_error(server, ChatRequest(model="m", messages=USER))
    assert events == [TextDelta("Hi")]
    assert exc.kind in (FailureKind.STREAM_CUT, FailureKind.SERVER)
    assert "Upstream overloaded" in exc.what


def test_errors_do_not_poison_the_provider(srv: ScriptedOpenAIServer) -> None:
    srv.script(error(503), cut(["x", "y"], after=1), text(["fine"]))

    async def go() -> ChatResult:
        provider = _provider(srv)
        try:
            await collect_error(provider, ChatRequest(model="m", messages=USER))
            await collect_error(provider, ChatRequest(model="m", messages=USER))
            return (await collect(provider, ChatRequest(model="m", messages=USER)))[1]
        finally:
            await provider.aclose()

    assert asyncio.run(go()).text == "fine"


# ---- cancellation ------------------------------------------------------------------------------------------------


def test_cancel_mid_stream_ends_promptly_and_provider_still_works(srv: ScriptedOpenAIServer) -> None:
    srv.script(text([f"w{i} " for i in range(12)], delay=0.2), text(["after"]))

    async def go() -> tuple[list[StreamEvent], float, ChatResult]:
        provider = _provider(srv)
        received: list[StreamEvent] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for event in provider.stream(ChatRequest(model="m", messages=USER)):
                received.append(event)
                if isinstance(event, TextDelta):
                    first.set()

        try:
            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), 5)
            start = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            elapsed = time.monotonic() - start
            _, after = await asyncio.wait_for(collect(provider, ChatRequest(model="m", messages=USER)), 5)
            return received, elapsed, after
        finally:
            await provider.aclose()

    received, elapsed, after = asyncio.run(go())
    assert elapsed < 1.0
    assert not any(isinstance(e, Finish) for e in received)
    assert len([e for e in received if isinstance(e, TextDelta)]) < 12
    assert after.text == "after"
    assert after.finish_reason == "stop"
    assert len(srv.requests) == 2


# ---- models ------------------------------------------------------------------------------------------------------


def test_list_models_returns_server_ids_sorted(srv: ScriptedOpenAIServer) -> None:
    async def go() -> list[str]:
        provider = _provider(srv)
        try:
            return [m.id for m in await provider.list_models()]
        finally:
            await provider.aclose()

    assert asyncio.run(go()) == ["Alpha", "beta", "zeta"]


def test_list_models_with_wrong_key_is_auth(srv: ScriptedOpenAIServer) -> None:
    async def go() -> ProviderError:
        provider = _provider(srv, api_key="sk-wrong")
        try:
            with pytest.raises(ProviderError) as info:
                await provider.list_models()
            return info.value
        finally:
            await provider.aclose()

    exc = asyncio.run(go())
    assert exc.kind is FailureKind.AUTH
    assert HINT in str(exc)


def test_list_models_connection_refused() -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/v1"

    async def go() -> ProviderError:
        provider = OpenAICompatProvider("oai", base_url, connect_timeout_s=1.0)
        try:
            with pytest.raises(ProviderError) as info:
                await provider.list_models()
            return info.value
        finally:
            await provider.aclose()

    exc = asyncio.run(go())
    assert exc.kind is FailureKind.CONNECTION
    assert base_url in exc.what


# ---- Retry-After parsing -----------------------------------------------------------------------------------------


def _http_date(offset_s: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + offset_s))


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "5"}, 5.0),
    ({"Retry-After": "1.5"}, 1.5),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # the precise one wins
    ({"Retry-After": "-4"}, 0.0),
    ({"Retry-After": "99999999"}, MAX_RETRY_AFTER_S),
    ({"Retry-After": "soon, maybe"}, None),
    ({"Retry-After": ""}, None),
    ({}, None),
])
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    value = parse_retry_after(httpx.Headers(headers))
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": _http_date(30)})) == pytest.approx(30, abs=2)
    assert parse_retry_after(httpx.Headers({"Retry-After": _http_date(-600)})) == 0.0


def test_parse_retry_after_without_headers() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after(object()) is None
