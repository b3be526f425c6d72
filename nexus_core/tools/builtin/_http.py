"""HTTP helpers for the web tools: one place that turns httpx failures into messages a model can act on."""

from __future__ import annotations

import httpx

from nexus_core.tools.base import ToolFailure

USER_AGENT = "Mozilla/5.0 (compatible; NexusStudio/1.0; +https://github.com/nexus-studio) httpx"


def failure_for(exc: httpx.HTTPError, what: str) -> ToolFailure:
    """A ToolFailure describing why the request for ``what`` (e.g. "the weather service") did not work."""
    if isinstance(exc, httpx.TimeoutException):
        return ToolFailure(f"{what} did not answer in time ({type(exc).__name__}); try again later",
                           kind="timeout")
    if isinstance(exc, httpx.TooManyRedirects):
        return ToolFailure(f"{what} redirected too many times", kind="too_many_redirects")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ToolFailure(f"{what} redirected to an unsupported address ({exc}); only http and https are allowed",
                           kind="invalid_url")
    if isinstance(exc, httpx.ConnectError):
        return ToolFailure(f"could not connect to {what}: {exc or 'connection refused'}", kind="network")
    return ToolFailure(f"the request to {what} failed: {type(exc).__name__}: {exc}", kind="network")
