"""The provider protocol: one async stream of events per request, cancellable by cancelling the task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from nexus_core.providers.types import ChatRequest, StreamEvent


@dataclass(frozen=True)
class ModelInfo:
    id: str
    provider: str
    context_length: int | None = None
    owned_by: str = ""


@runtime_checkable
class Provider(Protocol):
    """What every provider kind implements.

    ``stream`` yields :mod:`nexus_core.providers.types` events and ends with exactly one ``Finish``;
    failures raise :class:`~nexus_core.providers.errors.ProviderError`. Cancelling the consuming task
    (``asyncio.CancelledError``) must stop the underlying request promptly and release its connection.
    """

    name: str
    kind: str  # "openai", "anthropic", "local"

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def aclose(self) -> None: ...
