"""<Service>: <what the module does, in one line> (<free / needs an API key>)."""

from __future__ import annotations

from typing import Annotated, Any

from nexus_sdk import BaseAdapter, ModuleError, operation, register_adapter
from pydantic import BaseModel, Field


class ServiceConfig(BaseModel):
    base_url: str = "https://api.example.com"


@register_adapter
class ServiceAdapter(BaseAdapter[ServiceConfig]):
    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.get_json(f"{self.config.base_url}{path}", params, service="Example",
                                   errors={404: ModuleError("Example has no such item")})

    @operation
    async def lookup(self, query: str, limit: Annotated[int, Field(ge=1, le=50)] = 10) -> list[dict[str, Any]]:
        """Find items by words.

        Args:
            query: what to look for
            limit: how many results (1-50)
        """
        data = await self._get("/search", {"q": query, "limit": limit})
        return [{"name": item.get("name"), "id": item.get("id")} for item in data.get("items", [])]
