"""Anthropic's Messages API through the ``anthropic`` SDK, translated to the common stream events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from nexus_core.providers.attachments import AttachmentRefused, anthropic_content
from nexus_core.providers.base import ModelInfo
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.http_errors import final_event
from nexus_core.providers.sdk_base import SdkProvider, close_quietly
from nexus_core.providers.types import ChatMessage, ChatRequest, StreamEvent, TextDelta, ToolCallDelta, Usage

DEFAULT_MAX_TOKENS = 4096  # the Messages API requires a limit
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "pause_turn": "stop", "refusal": "content_filter"}


def to_anthropic(messages: list[ChatMessage], provider: str = "this provider") -> tuple[str, list[dict[str, Any]]]:
    """Split out the system prompt and convert the rest; tool results become user ``tool_result`` blocks, pictures
    ``image`` blocks (AttachmentRefused for anything else)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
            for c in m.tool_calls:
                try:
                    args = c.parsed_arguments()
                except ValueError:
                    args = {"_raw": c.arguments}
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": args})
            out.append({"role": "assistant", "content": blocks})
        elif m.attachments:
            out.append({"role": m.role, "content": anthropic_content(m.content, m.attachments, provider)})
        else:
            out.append({"role": m.role, "content": m.content})
    return system, out


class AnthropicProvider(SdkProvider):
    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, name: str, *, api_key: str | None, base_url: str = "", key_hint: str = "",
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0) -> None:
        super().__init__(name, base_url, api_key=api_key, key_hint=key_hint, timeout_s=timeout_s,
                         connect_timeout_s=connect_timeout_s)

    def _sdk(self) -> Any:
        if not self._api_key:
            raise ProviderError(FailureKind.AUTH, f"Provider {self.name!r} (Anthropic) has no API key.",
                                provider=self.name, hint=f"Set {self.key_hint} in Providers, or pass --api-key-env.")
        if self._client is None:
            import anthropic  # deferred so the window appears first

            timeout = anthropic.Timeout(self.timeout_s, connect=self.connect_timeout_s)
            self._client = anthropic.AsyncAnthropic(api_key=self._api_key, base_url=self.base_url or None,
                                                    timeout=timeout, max_retries=0)
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        try:
            system, messages = to_anthropic(request.messages, self.name)
        except AttachmentRefused as exc:
            raise ProviderError(FailureKind.BAD_REQUEST, f"An attachment cannot be sent: {exc}.", provider=self.name,
                                model=request.model, hint=exc.hint) from None
        params: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True,
                                  "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            params["system"] = system
        if request.tools:
            params["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                               for t in request.tools]
        if request.temperature is not None:
            # This SDK no longer has a ``temperature`` argument; the API still reads it from the body.
            params["extra_body"] = {"temperature": request.temperature}
        if request.stop:
            params["stop_sequences"] = request.stop
        started = False
        finish: str | None = None
        response_model: str | None = None
        tool_index: dict[int, int] = {}  # content block index → tool call index
        try:
            stream = await self._sdk().messages.create(**params)
        except (asyncio.CancelledError, ProviderError):
            raise
        except Exception as exc:
            raise self._error(exc, request.model, False) from exc
        try:
            async for event in stream:
                kind = event.type
                if kind == "message_start":
                    message = event.message
                    response_model = message.model
                    usage = message.usage
                    yield Usage(input_tokens=_total_input(usage), output_tokens=None)
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        started = True
                        tool_index[event.index] = len(tool_index)
                        yield ToolCallDelta(index=tool_index[event.index], id=block.id, name=block.name)
                    elif block.type == "text" and block.text:
                        started = True
                        yield TextDelta(block.text)
                elif kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        started = True
                        yield TextDelta(delta.text)
                    elif delta.type == "input_json_delta" and event.index in tool_index:
                        yield ToolCallDelta(index=tool_index[event.index], arguments=delta.partial_json)
                elif kind == "message_delta":
                    if event.delta.stop_reason:
                        finish = _FINISH.get(event.delta.stop_reason, event.delta.stop_reason)
                    if event.usage is not None:
                        yield Usage(output_tokens=event.usage.output_tokens)
                elif kind == "message_stop":
                    break
                elif kind == "error":
                    error = getattr(event, "error", None)
                    raise ProviderError(FailureKind.SERVER, f"{self.name} ({request.model}) reported an error "
                                        f"mid-answer: {getattr(error, 'message', error)}", provider=self.name,
                                        model=request.model, hint="Regenerate to try again.")
        except (asyncio.CancelledError, GeneratorExit, ProviderError):
            await close_quietly(stream)
            raise
        except Exception as exc:
            await close_quietly(stream)
            raise self._error(exc, request.model, started) from exc
        yield final_event(finish, response_model, started=started, provider=self.name, model=request.model)

    def _model_info(self, model: Any) -> ModelInfo:
        return ModelInfo(id=model.id, provider=self.name, owned_by="anthropic")


def _total_input(usage: Any) -> int | None:
    if usage is None:
        return None
    total = getattr(usage, "input_tokens", None)
    if total is None:
        return None
    for extra in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        total += getattr(usage, extra, None) or 0
    return total
