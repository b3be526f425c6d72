"""Any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama, LM Studio, llama.cpp, vLLM)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from nexus_core.providers.base import ModelInfo
from nexus_core.providers.http_errors import final_event
from nexus_core.providers.sdk_base import SdkProvider, close_quietly
from nexus_core.providers.types import ChatMessage, ChatRequest, StreamEvent, TextDelta, ToolCallDelta, Usage

NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
           "content_filter": "content_filter", "end_turn": "stop", "eos": "stop"}


def to_openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append({"role": "assistant", "content": m.content or None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                for c in m.tool_calls]})
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
        params: dict[str, Any] = {"model": request.model, "messages": to_openai_messages(request.messages),
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
            stream = await self._sdk().chat.completions.create(**params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._error(exc, request.model, False) from exc
        try:
            async for chunk in stream:
                response_model = getattr(chunk, "model", None) or response_model
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    yield Usage(getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            started = True
                            yield TextDelta(delta.content)
                        for call in delta.tool_calls or ():
                            started = True
                            fn = call.function
                            yield ToolCallDelta(index=call.index if call.index is not None else 0, id=call.id,
                                                name=fn.name if fn else None,
                                                arguments=(fn.arguments or "") if fn else "")
                    if choice.finish_reason:
                        finish = _FINISH.get(choice.finish_reason, choice.finish_reason)
        except (asyncio.CancelledError, GeneratorExit):  # task cancelled, or the consumer closed us early
            await close_quietly(stream)
            raise
        except Exception as exc:
            await close_quietly(stream)
            raise self._error(exc, request.model, started) from exc
        yield final_event(finish, response_model, started=started, provider=self.name, model=request.model)

    def _model_info(self, model: Any) -> ModelInfo:
        return ModelInfo(id=model.id, provider=self.name, context_length=_context_length(model),
                         owned_by=getattr(model, "owned_by", "") or "")


def _context_length(model: Any) -> int | None:
    extra = getattr(model, "model_extra", None) or {}
    for key in ("context_length", "max_model_len", "context_window"):
        value = extra.get(key)
        if isinstance(value, int):
            return value
    return None
