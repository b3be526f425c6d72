"""The OpenAI Chat Completions wire format, read and written: requests parsed into the providers' vocabulary
(``ChatMessage``, ``ToolSpec``), answers written back as completions or SSE chunks, failures as OpenAI error
bodies. Bad input is refused with the field at fault named, the way OpenAI's own API names it."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.providers.types import ChatMessage, ToolCall, ToolSpec

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter",
                  "cancelled": "stop"}


class WireError(Exception):
    """A request the server refuses: an HTTP status and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, kind=self.kind, param=self.param, code=self.code)


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class CompletionRequest:
    """What a client asked for, checked."""

    model: str
    messages: list[ChatMessage]
    stream: bool = False
    include_usage: bool = False
    tools: list[ToolSpec] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    user: str | None = None

    @property
    def last_user_text(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise WireError(400, f"The request body is not valid JSON{where}: {exc}. Send a JSON object.") from None
    if not isinstance(body, dict):
        raise WireError(400, f"The request body must be a JSON object, not {type(body).__name__}.")
    return body


def parse_completion(body: dict[str, Any], attachments_dir: Path | None = None) -> CompletionRequest:
    """``attachments_dir``: where pictures and sound sent inline (data: URLs, input_audio) are written; without
    one, such parts are refused."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise WireError(400, "'model' is required: a model id from GET /v1/models, e.g. nexus/auto.", param="model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise WireError(400, "'messages' is required: a non-empty array of {role, content} objects.",
                        param="messages")
    messages = [_message(m, i, attachments_dir) for i, m in enumerate(raw_messages)]
    n = body.get("n", 1)
    if n not in (1, None):
        raise WireError(400, f"'n' is {n!r}: this server returns one choice per request (n = 1).", param="n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise WireError(400, "'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise WireError(400, "'stream_options' must be an object.", param="stream_options")
    tools = _tools(body.get("tools"))
    if body.get("tool_choice") == "none":
        tools = []
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise WireError(400, f"'max_tokens' is {max_tokens!r}: it must be a positive integer.", param="max_tokens")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or isinstance(temperature, bool)
                                    or not 0 <= temperature <= 2):
        raise WireError(400, f"'temperature' is {temperature!r}: it must be a number from 0 to 2.",
                        param="temperature")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise WireError(400, "'stop' must be a string or an array of strings.", param="stop")
    user = body.get("user")
    return CompletionRequest(model.strip(), messages, bool(stream), bool(options.get("include_usage")), tools,
                             None if temperature is None else float(temperature), max_tokens, stop or [],
                             user if isinstance(user, str) and user else None)


def _message(raw: Any, index: int, attachments_dir: Path | None = None) -> ChatMessage:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise WireError(400, f"'{where}' must be an object with a role and content.", param=where)
    role = raw.get("role")
    if role == "developer":  # OpenAI's newer name for the system role
        role = "system"
    if role not in ("system", "user", "assistant", "tool"):
        raise WireError(400, f"'{where}.role' is {role!r}: use system, developer, user, assistant or tool.",
                        param=f"{where}.role")
    content, attachments = _content(raw.get("content"), where, attachments_dir)
    calls = []
    for j, call in enumerate(raw.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise WireError(400, f"'{where}.tool_calls[{j}]' needs a function with a name.",
                            param=f"{where}.tool_calls[{j}]")
        arguments = function.get("arguments", "")
        calls.append(ToolCall(str(call.get("id") or f"call_{j}"), function["name"],
                              arguments if isinstance(arguments, str) else json.dumps(arguments)))
    if role == "tool" and not isinstance(raw.get("tool_call_id"), str):
        raise WireError(400, f"'{where}.tool_call_id' is required for a tool message: the id of the call it "
                             "answers.", param=f"{where}.tool_call_id")
    return ChatMessage(role, content, calls, raw.get("tool_call_id"), raw.get("name"), attachments)


def _content(value: Any, where: str, attachments_dir: Path | None) -> tuple[str, list[str]]:
    """A string, or an array of content parts: text parts joined, pictures (data: URLs) and sound (input_audio)
    written to ``attachments_dir`` and returned as attachments."""
    if value is None or isinstance(value, str):
        return value or "", []
    if not isinstance(value, list):
        raise WireError(400, f"'{where}.content' must be a string or an array of content parts.",
                        param=f"{where}.content")
    texts: list[str] = []
    files: list[str] = []
    for j, part in enumerate(value):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and attachments_dir is not None:
            files.append(_save_image(part.get("image_url"), at, attachments_dir))
        elif kind == "input_audio" and attachments_dir is not None:
            files.append(_save_audio(part.get("input_audio"), at, attachments_dir))
        else:
            raise WireError(400, f"'{at}' is a {kind or 'malformed'} part; this server takes text, image_url (as a "
                                 "data: URL) and input_audio parts.", param=at)
    return "\n".join(texts), files


_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|webp|gif|bmp);base64,(.+)$", re.DOTALL)


def _save_image(image: Any, at: str, folder: Path) -> str:
    url = image.get("url") if isinstance(image, dict) else None
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    if match is None:
        raise WireError(400, f"'{at}.image_url.url' must be a data:image/...;base64 URL (this server does not fetch "
                             "pictures from the web).", param=f"{at}.image_url.url")
    return _write(folder, match.group(1).replace("jpeg", "jpg"), match.group(2), at)


def _save_audio(audio: Any, at: str, folder: Path) -> str:
    fmt = audio.get("format") if isinstance(audio, dict) else None
    if fmt not in ("wav", "mp3") or not isinstance(audio.get("data"), str):
        raise WireError(400, f"'{at}.input_audio' needs base64 'data' and a 'format' of wav or mp3.",
                        param=f"{at}.input_audio")
    return _write(folder, fmt, audio["data"], at)


def _write(folder: Path, suffix: str, data: str, at: str) -> str:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(400, f"'{at}' is not valid base64.", param=at) from None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{suffix}"
    path.write_bytes(raw)
    return str(path)


def _tools(raw: Any) -> list[ToolSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WireError(400, "'tools' must be an array of {type: function, function: {...}} objects.", param="tools")
    specs = []
    for i, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) and item.get("type", "function") == "function" \
            else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise WireError(400, f"'tools[{i}]' must be {{type: function, function: {{name, description, "
                                 "parameters}}}}.", param=f"tools[{i}]")
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise WireError(400, f"'tools[{i}].function.parameters' must be a JSON schema object.",
                            param=f"tools[{i}].function.parameters")
        specs.append(ToolSpec(name, str(function.get("description") or ""), parameters))
    return specs


# ---- answers --------------------------------------------------------------------------------------------------


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_body(input_tokens: int | None, output_tokens: int | None) -> dict[str, int]:
    prompt, completion = input_tokens or 0, output_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def tool_calls_body(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def completion_body(completion_id: str, created: int, model: str, text: str, calls: list[ToolCall],
                    finish_reason: str | None, usage: dict[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = tool_calls_body(calls)
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": FINISH_REASONS.get(finish_reason or "stop", "stop")}],
            "usage": usage}


def chunk(completion_id: str, created: int, model: str, delta: dict[str, Any] | None,
          finish_reason: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    """One SSE event; ``delta`` None writes the usage-only chunk (no choices) that ends a stream with usage."""
    body: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                            "model": model, "choices": []}
    if delta is not None:
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None,
                            "finish_reason": FINISH_REASONS.get(finish_reason, "stop") if finish_reason else None}]
    if usage is not None:
        body["usage"] = usage
    return sse(body)


def sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def model_entry(model_id: str, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": int(time.time()), "owned_by": owned_by}
