"""AnthropicProvider against a scripted server speaking the real Messages API wire format."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nexus_core.providers.anthropic_provider import DEFAULT_MAX_TOKENS, AnthropicProvider
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Finish,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
)
from tests.support.llm_servers import Reply, ScriptedAnthropicServer, cut, error, hang, malformed, text, tool_calls

KEY = "sk-ant-test"
HINT = "the key in $TEST_ANTHROPIC_KEY"
USER = [ChatMessage("user", "hi")]
WEATHER = ToolSpec("get_weather", "Weather for a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@pytest.fixture
def srv() -> Iterator[ScriptedAnthropicServer]:
    with ScriptedAnthropicServer(api_key=KEY, models=["claude-z", "Claude-A", "claude-b"]) as server:
        yield server
    assert server.errors == []


def _provider(srv: ScriptedAnthropicServer, **kwargs: Any) -> AnthropicProvider:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("key_hint", HINT)
    kwargs.setdefault("timeout_s", 5.0)
    return AnthropicProvider("ant", base_url=srv.base_url, **kwargs)


async def collect(provider: AnthropicProvider, request: ChatRequest) -> tuple[list[StreamEvent], ChatResult]:
    events: list[StreamEvent] = []
    result = ChatResult()
    async for event in provider.stream(request):
        events.append(event)
        result.add(event)
    return events, result


async def collect_error(provider: AnthropicProvider, request: ChatRequest) -> tuple[list[StreamEvent], ProviderError]:
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream(request):
            events.append(event)
    return events, info.value


def run_one(srv: ScriptedAnthropicServer, request: ChatRequest,
            **kwargs: Any) -> tuple[list[StreamEvent], ChatResult]:
    async def go() -> tuple[list[StreamEvent], ChatResult]:
        provider = _provider(srv, **kwargs)
        try:
            return await collect(provider, request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def run_error(provider_factory: Any, request: ChatRequest) -> tuple[list[StreamEvent], ProviderError]:
    async def go() -> tuple[list[StreamEvent], ProviderError]:
        provider = provider_factory()
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


def test_text_stream_deltas_in_order_one_finish_last_and_usage(srv: ScriptedAnthropicServer) -> None:
    srv.script(text(["Hel", "lo", " world"], model="claude-served-2", usage=(17, 6)))
    events, result = run_one(srv, ChatRequest(model="claude-x", messages=USER))

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo", " world"]
    assert [e for e in events if isinstance(e, Finish)] == [events[-1]]
    assert events[-1] == Finish("stop", "claude-served-2")
    assert (result.text, result.input_tokens, result.output_tokens) == ("Hello world", 17, 6)
    assert result.finish_reason == "stop"
    assert result.response_model == "claude-served-2"


@pytest.mark.parametrize(("server_finish", "expected"), [("length", "length"), ("stop_sequence", "stop")])
def test_stop_reason_is_normalised(srv: ScriptedAnthropicServer, server_finish: str, expected: str) -> None:
    srv.script(text(["a"], finish=server_finish))
    events, _ = run_one(srv, ChatRequest(model="m", messages=USER))
    assert events[-1] == Finish(expected, "m")


def test_tool_use_deltas_reassemble_into_valid_json(srv: ScriptedAnthropicServer) -> None:
    args_a = {"city": "Zürich", "days": [1, 2, 3], "nested": {"x": None}}
    args_b = {"query": "a \"quoted\" {brace}"}
    srv.script(tool_calls([("toolu_a", "get_weather", args_a), ("toolu_b", "search", args_b)], split=4,
                          text_before="Checking.", usage=(30, 12)))
    events, result = run_one(srv, ChatRequest(model="m", messages=USER, tools=[WEATHER]))

    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len([d for d in deltas if d.index == 0]) > 2
    assert len([d for d in deltas if d.index == 1]) > 2
    assert {d.index for d in deltas} == {0, 1}  # tool calls are numbered on their own, not by content block
    assert result.text == "Checking."
    assert [(c.id, c.name) for c in result.tool_calls] == [("toolu_a", "get_weather"), ("toolu_b", "search")]
    assert json.loads(result.tool_calls[0].arguments) == args_a
    assert result.tool_calls[1].parsed_arguments() == args_b
    assert result.finish_reason == "tool_calls"
    assert [e for e in events if isinstance(e, Finish)] == [events[-1]]
    assert (result.input_tokens, result.output_tokens) == (30, 12)


def test_request_body_system_prompt_tools_options_and_key_header(srv: ScriptedAnthropicServer) -> None:
    request = ChatRequest(model="claude-x", messages=[ChatMessage("system", "Be brief."),
                                                      ChatMessage("system", "Use metric units."),
                                                      ChatMessage("user", "hi")],
                          tools=[WEATHER], max_tokens=321, stop=["END"])
    run_one(srv, request)

    [req] = srv.requests
    assert req.path == "/v1/messages"
    # The Messages API's own header is x-api-key; anthropic SDK 2.x sends the key as a bearer token instead.
    assert req.headers.get("x-api-key") == KEY or req.headers.get("authorization") == f"Bearer {KEY}"
    assert req.headers.get("anthropic-version")
    body = req.body
    assert body["model"] == "claude-x"
    assert body["system"] == "Be brief.\n\nUse metric units."
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["stream"] is True
    assert body["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": WEATHER.parameters}]
    assert body["max_tokens"] == 321
    assert body["stop_sequences"] == ["END"]
    assert "stop" not in body


def test_temperature_reaches_the_server(srv: ScriptedAnthropicServer) -> None:
    async def go() -> ChatResult | ProviderError:
        provider = _provider(srv)
        try:
            return (await collect(provider, ChatRequest(model="m", messages=USER, temperature=0.4)))[1]
        except ProviderError as exc:
            return exc
        finally:
            await provider.aclose()

    outcome = asyncio.run(go())
    assert isinstance(outcome, ChatResult), f"request with temperature failed: {outcome!r}"
    assert srv.requests[0].body["temperature"] == 0.4


def test_defaults_max_tokens_and_omits_unset_options(srv: ScriptedAnthropicServer) -> None:
    run_one(srv, ChatRequest(model="m", messages=USER))
    body = srv.requests[0].body
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    for absent in ("system", "tools", "temperature", "stop_sequences"):
        assert absent not in body


def test_tool_use_and_results_round_trip_into_the_next_request(srv: ScriptedAnthropicServer) -> None:
    srv.script(tool_calls([("toolu_1", "get_weather", {"city": "Oslo"}), ("toolu_2", "get_weather", {"city": "Rome"})],
                          text_before="Two lookups."), text(["Cold and warm."]))

    async def go() -> ChatResult:
        provider = _provider(srv)
        try:
            _, first = await collect(provider, ChatRequest(model="m", messages=USER, tools=[WEATHER]))
            follow_up = [ChatMessage("system", "sys"), *USER, first.message(),
                         ChatMessage("tool", '{"temp": -3}', tool_call_id="toolu_1", name="get_weather"),
                         ChatMessage("tool", '{"temp": 24}', tool_call_id="toolu_2", name="get_weather")]
            return (await collect(provider, ChatRequest(model="m", messages=follow_up, tools=[WEATHER])))[1]
        finally:
            await provider.aclose()

    assert asyncio.run(go()).text == "Cold and warm."
    body = srv.requests[1].body
    assert body["system"] == "sys"
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Two lookups."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]},
        # both results in one user turn, as the API requires
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp": -3}'},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": '{"temp": 24}'}]},
    ]


def test_tool_call_with_bad_json_arguments_is_still_sent(srv: ScriptedAnthropicServer) -> None:
    messages = [*USER, ChatMessage("assistant", "", tool_calls=[ToolCall("toolu_9", "get_weather", "{not json")]),
                ChatMessage("tool", "error: bad arguments", tool_call_id="toolu_9")]
    run_one(srv, ChatRequest(model="m", messages=messages))
    assistant = srv.requests[0].body["messages"][1]
    assert assistant["role"] == "assistant"
    [block] = assistant["content"]
    assert block["type"] == "tool_use"
    assert isinstance(block["input"], dict)  # the API insists on an object


# ---- errors ------------------------------------------------------------------------------------------------------


def test_no_key_is_auth_before_any_network_call(srv: ScriptedAnthropicServer) -> None:
    _, exc = run_error(lambda: _provider(srv, api_key=None), ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.AUTH
    assert HINT in str(exc)
    assert srv.requests == []

    # and against a closed port: still AUTH, not CONNECTION, so nothing was dialled
    unreachable = f"http://127.0.0.1:{closed_port()}"
    _, exc = run_error(lambda: AnthropicProvider("ant", api_key="", base_url=unreachable, key_hint=HINT),
                       ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.AUTH

    async def models() -> ProviderError:
        provider = AnthropicProvider("ant", api_key=None, base_url=unreachable)
        try:
            with pytest.raises(ProviderError) as info:
                await provider.list_models()
            return info.value
        finally:
            await provider.aclose()

    assert asyncio.run(models()).kind is FailureKind.AUTH


def test_401_is_auth_and_names_the_key(srv: ScriptedAnthropicServer) -> None:
    _, exc = run_error(lambda: _provider(srv, api_key="sk-ant-wrong"), ChatRequest(model="claude-x", messages=USER))
    assert exc.kind is FailureKind.AUTH
    assert exc.status == 401
    assert HINT in exc.hint
    assert HINT in str(exc)
    assert "401" in exc.what
    assert not exc.retryable


def test_403_is_permission(srv: ScriptedAnthropicServer) -> None:
    srv.script(error(403, "no access to this model"))
    _, exc = run_error(lambda: _provider(srv), ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.PERMISSION
    assert "no access to this model" in exc.what


def test_404_is_not_found_and_names_the_model(srv: ScriptedAnthropicServer) -> None:
    srv.script(error(404, "model: claude-nope"))
    _, exc = run_error(lambda: _provider(srv), ChatRequest(model="claude-nope", messages=USER))
    assert exc.kind is FailureKind.NOT_FOUND
    assert "'claude-nope'" in exc.what


def test_429_is_rate_limit_with_retry_after(srv: ScriptedAnthropicServer) -> None:
    srv.script(error(429, "rate limited", retry_after=12))
    _, exc = run_error(lambda: _provider(srv), ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.RATE_LIMIT
    assert exc.retry_after == pytest.approx(12.0)
    assert exc.retryable
    assert exc.error_type == "429"


@pytest.mark.parametrize("status", [500, 503, 529])
def test_5xx_is_server(srv: ScriptedAnthropicServer, status: int) -> None:
    srv.script(error(status, "overloaded"))
    _, exc = run_error(lambda: _provider(srv), ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.SERVER
    assert exc.status == status
    assert exc.retryable


def test_hang_times_out_quickly(srv: ScriptedAnthropicServer) -> None:
    srv.script(hang(10))
    start = time.monotonic()
    events, exc = run_error(lambda: _provider(srv, timeout_s=0.5), ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.TIMEOUT
    assert events == []
    assert time.monotonic() - start < 3.0


def test_connection_refused_names_the_base_url() -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    _, exc = run_error(lambda: AnthropicProvider("ant", api_key=KEY, base_url=base_url, connect_timeout_s=1.0),
                       ChatRequest(model="m", messages=USER))
    assert exc.kind is FailureKind.CONNECTION
    assert base_url in exc.what


def test_cut_mid_stream_is_stream_cut_after_the_first_deltas(srv: ScriptedAnthropicServer) -> None:
    srv.script(cut(["one ", "two ", "three"], after=2))
    events, exc = run_error(lambda: _provider(srv), ChatRequest(model="m", messages=USER))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one ", "two "]
    assert not any(isinstance(e, Finish) for e in events)
    assert exc.kind is FailureKind.STREAM_CUT
    assert "middle of the answer" in exc.what


def test_malformed_event_is_malformed_with_clear_message(srv: ScriptedAnthropicServer) -> None:
    srv.script(malformed(["good ", "never"], after=1))
    events, exc = run_error(lambda: _provider(srv), ChatRequest(model="m", messages=USER))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["good "]
    assert not any(isinstance(e, Finish) for e in events)
    assert exc.kind is FailureKind.MALFORMED
    assert "malformed" in exc.what


class _MidStreamErrorServer(ScriptedAnthropicServer):
    """Starts an answer, then sends the Messages API's in-stream `error` event (e.g. overloaded_error)."""

    def _serve_stream(self, handler: Any, body: dict, reply: Reply) -> None:
        def event(name: str, payload: dict) -> None:
            handler.send_chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())

        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}
        event("message_start", {"type": "message_start", "message": message})
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})
        event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": "Hi"}})
        event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        handler.end_stream()


def test_in_stream_error_event_is_a_retryable_server_error() -> None:
    with _MidStreamErrorServer() as server:
        events, exc = run_error(lambda: AnthropicProvider("ant", api_key=KEY, base_url=server.base_url),
                                ChatRequest(model="m", messages=USER))
    assert TextDelta("Hi") in events
    assert "Overloaded" in exc.what
    assert exc.kind is FailureKind.SERVER
    assert exc.retryable
    assert "HTTP 200" not in exc.what


# ---- cancellation ------------------------------------------------------------------------------------------------


def test_cancel_mid_stream_ends_promptly_and_provider_still_works(srv: ScriptedAnthropicServer) -> None:
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


# ---- models ------------------------------------------------------------------------------------------------------


def test_list_models_returns_server_ids_sorted(srv: ScriptedAnthropicServer) -> None:
    async def go() -> list[str]:
        provider = _provider(srv)
        try:
            return [m.id for m in await provider.list_models()]
        finally:
            await provider.aclose()

    assert asyncio.run(go()) == ["Claude-A", "claude-b", "claude-z"]


def test_list_models_with_wrong_key_is_auth(srv: ScriptedAnthropicServer) -> None:
    async def go() -> ProviderError:
        provider = _provider(srv, api_key="sk-ant-wrong")
        try:
            with pytest.raises(ProviderError) as info:
                await provider.list_models()
            return info.value
        finally:
            await provider.aclose()

    exc = asyncio.run(go())
    assert exc.kind is FailureKind.AUTH
    assert HINT in str(exc)
