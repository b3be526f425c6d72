"""Any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama, LM Studio, llama.cpp, vLLM)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from nexus_core.providers.attachments import AttachmentRefused, openai_content
from nexus_core.providers.base import ModelInfo
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.http_errors import final_event
from nexus_core.providers.sdk_base import SdkProvider, close_quietly
from nexus_core.providers.types import ChatMessage, ChatRequest, StreamEvent, TextDelta, ToolCallDelta, Usage

NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
           "content_filter": "content_filter", "end_turn": "stop", "eos": "stop"}


def to_openai_messages(messages: list[ChatMessage], provider: str = "this provider") -> list[dict[str, Any]]:
    """Raises AttachmentRefused for an attachment the endpoint cannot take."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append({"role": "assistant", "content": m.content or None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                for c in m.tool_calls]})
        elif m.attachments:
            out.append({"role": m.role, "content": openai_content(m.content, m.attachments, provider)})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


class OpenAICompatProvider(SdkProvider):
    kind = "openai"

    def __init__(self, name: str, base_url: str, *, api_key: str | None = None, key_hint: str = "",
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0,
                 extra_headers: dict[str, str] | None = None) -> None:
        super().__init__(name, base_url, api_key=api_key or NO_KEY, key_hint=key_hint, timeout_s=timeout_s,
                         connect_timeout_s=connect_timeout_s)
        self._extra_headers = dict(extra_headers or {})

    def _sdk(self) -> Any:
        if self._client is None:
            import openai

            timeout = openai.Timeout(self.timeout_s, connect=self.connect_timeout_s)
            self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=timeout,
                                              max_retries=0, default_headers=self._extra_headers or None)
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        try:
            messages = to_openai_messages(request.messages, self.name)
        except AttachmentRefused as exc:
            raise ProviderError(FailureKind.BAD_REQUEST, f"An attachment cannot be sent: {exc}.", provider=self.name,
                                model=request.model, hint=exc.hint) from None
        params: dict[str, Any] = {"model": request.model, "messages": messages,
                                  "stream": True, "stream_options": {"include_usage": True}}
        if request.tools:
            params["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}} for t in request.tools]
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.stop:
            params["stop"] = request.stop
        started = False
        finish: str | None = None
        response_model: str | None = None
        try:
            # Posted through the SDK's client (its auth, headers, timeouts and status errors) as a raw response, and
            # the SSE lines parsed here: the SDK's walk of the request parameters and its per-chunk pydantic objects
            # cost more CPU than the rest of a streamed answer (the local server streams dozens at once).
            response = await self._sdk().post("/chat/completions", cast_to=_raw_response_type(), body=params,
                                              stream=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._error(exc, request.model, False) from exc
        try:
            async for data in _sse_data(response.aiter_lines()):
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    raise json.JSONDecodeError("a chunk is not a JSON object", data, 0)
                if chunk.get("error"):
                    raise _stream_error(chunk["error"], response.request)
                response_model = chunk.get("model") or response_model
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta")
                    if delta:
                        if delta.get("content"):
                            started = True
                            yield TextDelta(delta["content"])
                        for call in delta.get("tool_calls") or ():
                            started = True
                            fn = call.get("function") or {}
                            index = call.get("index")
                            yield ToolCallDelta(index=index if index is not None else 0, id=call.get("id"),
                                                name=fn.get("name"), arguments=fn.get("arguments") or "")
                    if choice.get("finish_reason"):
                        finish = _FINISH.get(choice["finish_reason"], choice["finish_reason"])
        except (asyncio.CancelledError, GeneratorExit):  # task cancelled, or the consumer closed us early
            await close_quietly(response)
            raise
        except Exception as exc:
            await close_quietly(response)
            raise self._error(exc, request.model, started) from exc
        await close_quietly(response)
        yield final_event(finish, response_model, started=started, provider=self.name, model=request.model)

    def _model_info(self, model: Any) -> ModelInfo:
        return ModelInfo(id=model.id, provider=self.name, context_length=_context_length(model),
                         owned_by=getattr(model, "owned_by", "") or "")


def _raw_response_type() -> type:
    """The response class of the HTTP library the installed SDK uses (httpx2 from openai 3 on, httpx before)."""
    try:
        import httpx2
    except ImportError:
        import httpx as httpx2
    return httpx2.Response


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each server-sent event up to ``[DONE]`` (comments and other fields skipped; an ``error``
    event's data is passed on, where its ``error`` object fails the stream)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                joined, data = "\n".join(data), []
                if joined.startswith("[DONE]"):
                    return
                yield joined
            continue
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
    if data and not data[0].startswith("[DONE]"):
        yield "\n".join(data)


def _stream_error(error: Any, request: Any) -> Exception:
    """An error sent inside a 200 stream, raised as the SDK raises it (so it is translated the same way)."""
    import openai

    message = error.get("message") if isinstance(error, dict) else str(error)
    return openai.APIError(str(message or "An error occurred during streaming"), request, body=error)


def _context_length(model: Any) -> int | None:
    extra = getattr(model, "model_extra", None) or {}
    for key in ("context_length", "max_model_len", "context_window"):
        value = extra.get(key)
        if isinstance(value, int):
            return value
    return None
