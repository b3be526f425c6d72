"""Turn SDK and HTTP failures into :class:`ProviderError` with messages a user can act on.

Both SDKs (openai, anthropic) share one exception design (``APIStatusError`` with ``status_code`` and
``response``, ``APITimeoutError``, ``APIConnectionError``), so one translator serves both.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.types import Finish

MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), if present."""
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        value = headers.get("retry-after")
    except (AttributeError, TypeError):
        return None
    if millis is not None:
        try:
            return _clamp(float(millis) / 1000.0)
        except ValueError:
            pass  # fall back to Retry-After
    if value is None:
        return None
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _clamp(when.timestamp() - time.time())


def _clamp(seconds: float) -> float:
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    message = getattr(exc, "message", None) or str(exc)
    return str(message)[:500]


def from_status(status: int, server_message: str, *, provider: str, model: str, key_hint: str,
                headers: Any = None) -> ProviderError:
    """Build the error for an HTTP status answer from ``provider``."""
    where = f"{provider} ({model})" if model else provider
    detail = f" The server said: {server_message}" if server_message else ""
    if status == 401:
        return ProviderError(FailureKind.AUTH, f"{where} refused the API key (HTTP 401).{detail}",
                             provider=provider, model=model, status=status,
                             hint=f"Check {key_hint}: it is missing, mistyped or revoked.")
    if status == 403:
        return ProviderError(FailureKind.PERMISSION, f"{where} denied access (HTTP 403).{detail}",
                             provider=provider, model=model, status=status,
                             hint=f"{key_hint} is valid but may not use this model; check its permissions or plan.")
    if status == 404:
        return ProviderError(FailureKind.NOT_FOUND, f"{where}: model {model!r} was not found (HTTP 404).{detail}",
                             provider=provider, model=model, status=status,
                             hint="Pick a model the server lists (Model assignment → Refresh), or check the base URL.")
    if status == 429:
        retry_after = parse_retry_after(headers)
        wait = f" It asked to wait {retry_after:g} s." if retry_after else ""
        return ProviderError(FailureKind.RATE_LIMIT, f"{where} is rate limiting requests (HTTP 429).{wait}{detail}",
                             provider=provider, model=model, status=status, retry_after=retry_after,
                             hint="Wait and retry, lower the request rate, or assign a fallback model.")
    if status in (400, 413, 422):
        return ProviderError(FailureKind.BAD_REQUEST, f"{where} rejected the request (HTTP {status}).{detail}",
                             provider=provider, model=model, status=status,
                             hint="The conversation may be too long for this model, or an option is unsupported.")
    if status >= 500:
        return ProviderError(FailureKind.SERVER, f"{where} had a server error (HTTP {status}).{detail}",
                             provider=provider, model=model, status=status, retry_after=parse_retry_after(headers),
                             hint="This is on the server's side; retry later or use a fallback model.")
    return ProviderError(FailureKind.BAD_REQUEST, f"{where} answered HTTP {status}.{detail}",
                         provider=provider, model=model, status=status, hint="Check the provider settings.")


def translate(exc: BaseException, *, provider: str, model: str, key_hint: str, base_url: str,
              started_answer: bool) -> ProviderError:
    """Map an exception raised by an SDK call (or while reading its stream) to a ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status < 400:
        # An error event inside a 200 stream (Anthropic "overloaded_error", OpenRouter/vLLM error chunks).
        return _in_stream_error(exc, provider=provider, model=model, started_answer=started_answer)
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        return from_status(status, _server_message(exc), provider=provider, model=model, key_hint=key_hint,
                           headers=getattr(response, "headers", None))
    where = f"{provider} ({model})" if model else provider
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError) or "Decode" in name:
        return ProviderError(FailureKind.MALFORMED,
                             f"{where} sent a malformed streaming chunk, so the answer stopped.",
                             provider=provider, model=model,
                             hint="The server does not speak the OpenAI/Anthropic streaming format correctly; "
                                  "update the server or try without streaming.")
    if "Timeout" in name:
        return ProviderError(FailureKind.TIMEOUT, f"{where} did not answer in time.", provider=provider, model=model,
                             hint="The model may still be loading or the server is overloaded; retry, or raise "
                                  "the provider's timeout.")
    if started_answer:
        return ProviderError(FailureKind.STREAM_CUT, f"The connection to {where} ended in the middle of the answer "
                             f"({_short(exc)}).", provider=provider, model=model,
                             hint="The partial answer is kept. Regenerate to try again.")
    if "Connection" in name or "Protocol" in name or isinstance(exc, OSError):
        return ProviderError(FailureKind.CONNECTION, f"Could not connect to {where} at {base_url} ({_short(exc)}).",
                             provider=provider, model=model,
                             hint="Is the server running and the base URL right? Local servers: start Ollama, "
                                  "LM Studio, llama.cpp or vLLM, then Providers → Detect.")
    return ProviderError(FailureKind.INTERNAL, f"Talking to {where} failed unexpectedly: {type(exc).__name__}: "
                         f"{_short(exc)}", provider=provider, model=model,
                         hint="This looks like a bug in Nexus Studio or an incompatible SDK version; the log file "
                              "has the details.")


_STREAM_ERROR_KINDS = {"rate_limit_error": FailureKind.RATE_LIMIT, "overloaded_error": FailureKind.SERVER,
                       "api_error": FailureKind.SERVER, "server_error": FailureKind.SERVER,
                       "authentication_error": FailureKind.AUTH, "permission_error": FailureKind.PERMISSION,
                       "not_found_error": FailureKind.NOT_FOUND, "invalid_request_error": FailureKind.BAD_REQUEST}


def _in_stream_error(exc: BaseException, *, provider: str, model: str, started_answer: bool) -> ProviderError:
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    err_type = inner.get("type") if isinstance(inner, dict) else None
    kind = _STREAM_ERROR_KINDS.get(str(err_type), FailureKind.SERVER)
    where = f"{provider} ({model})" if model else provider
    stage = "in the middle of the answer" if started_answer else "before answering"
    return ProviderError(kind, f"{where} reported an error {stage}: {_server_message(exc)}", provider=provider,
                         model=model, hint="The partial answer is kept. Regenerate to try again." if started_answer
                         else "Retry later, or assign a fallback model.")


def _short(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text.rstrip('.')}: {cause}"
    return text[:300]


def final_event(finish: str | None, response_model: str | None, *, started: bool, provider: str,
                model: str) -> Finish:
    """The closing ``Finish``; a stream that ended without a finish reason after some text was cut short."""
    if finish is None:
        if started:
            raise ProviderError(FailureKind.STREAM_CUT, f"{provider} ({model}) ended the stream without finishing "
                                "the answer.", provider=provider, model=model,
                                hint="The partial answer is kept. Regenerate to try again.")
        finish = "stop"
    return Finish(finish, response_model)
