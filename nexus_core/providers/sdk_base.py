"""What the two SDK-backed providers (openai, anthropic) share: settings, error translation, model
listing, closing. Both SDKs have the same client shape (``client.models.list()``, ``client.close()``)."""

from __future__ import annotations

import asyncio
from typing import Any

from nexus_core.providers.base import ModelInfo
from nexus_core.providers.errors import ProviderError
from nexus_core.providers.http_errors import translate


class SdkProvider:
    kind = ""
    default_base_url = ""  # shown in messages when the provider uses the SDK's own default

    def __init__(self, name: str, base_url: str, *, api_key: str | None, key_hint: str, timeout_s: float,
                 connect_timeout_s: float) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.key_hint = key_hint or f"the API key of provider {name!r}"
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._client: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def _sdk(self) -> Any:
        """The SDK client, created on first use (SDK imports are deferred so the window appears first)."""
        raise NotImplementedError

    def _model_info(self, model: Any) -> ModelInfo:
        return ModelInfo(id=model.id, provider=self.name, owned_by=getattr(model, "owned_by", "") or "")

    def _error(self, exc: BaseException, model: str, started: bool) -> ProviderError:
        return translate(exc, provider=self.name, model=model, key_hint=self.key_hint,
                         base_url=self.base_url or self.default_base_url, started_answer=started)

    async def list_models(self) -> list[ModelInfo]:
        try:
            page = await self._sdk().models.list()
            items = [m async for m in page]
        except (asyncio.CancelledError, ProviderError):
            raise
        except Exception as exc:
            raise self._error(exc, "", False) from exc
        return sorted((self._model_info(m) for m in items), key=lambda m: m.id.lower())

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


async def close_quietly(stream: Any) -> None:
    """Close an SDK stream after a failure or cancellation without masking what happened."""
    try:
        await asyncio.shield(stream.aclose() if hasattr(stream, "aclose") else stream.close())
    except BaseException:  # closing after a failure must not mask it
        pass
