"""Wikipedia: search articles and read an article's summary (the public REST and Action APIs, no key)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from nexus_sdk import BaseAdapter, ModuleError, operation, register_adapter
from pydantic import BaseModel, Field

_LANG = re.compile(r"^[a-z]{2,3}(-[a-z]+)?$")
_TAGS = re.compile(r"<[^>]+>")


class WikipediaConfig(BaseModel):
    base_url: str = "https://{lang}.wikipedia.org"
    language: str = "en"


@register_adapter
class Wikipedia(BaseAdapter[WikipediaConfig]):
    def _site(self, language: str | None) -> str:
        lang = (language or self.config.language).lower()
        if not _LANG.match(lang):
            raise ModuleError(f"{lang!r} is not a Wikipedia language code such as en, de or fr")
        return self.config.base_url.replace("{lang}", lang)

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return await self.get_json(url, params, service="Wikipedia",
                                   errors={404: ModuleError("Wikipedia has no article with that title; search first")})

    @operation
    async def search(self, query: str, limit: Annotated[int, Field(ge=1, le=20)] = 5,
                     language: str | None = None) -> list[dict[str, Any]]:
        """Search Wikipedia articles by words.

        Args:
            query: what to look for
            limit: how many results (1-20)
            language: a Wikipedia language code (en, de, fr…); the configured one when left out
        """
        data = await self._get(f"{self._site(language)}/w/api.php",
                               {"action": "query", "list": "search", "srsearch": query, "srlimit": limit,
                                "format": "json"})
        return [{"title": hit.get("title"), "snippet": _TAGS.sub("", hit.get("snippet", "")),
                 "words": hit.get("wordcount")} for hit in data.get("query", {}).get("search", [])]

    @operation
    async def summary(self, title: str, language: str | None = None) -> dict[str, Any]:
        """The introduction of an article and its link.

        Args:
            title: the article title, as search returns it
            language: a Wikipedia language code; the configured one when left out
        """
        path = quote(title.strip().replace(" ", "_"), safe="")
        data = await self._get(f"{self._site(language)}/api/rest_v1/page/summary/{path}")
        return {"title": data.get("title"), "description": data.get("description"), "extract": data.get("extract"),
                "url": data.get("content_urls", {}).get("desktop", {}).get("page")}

    async def health_check(self) -> bool:
        return bool(await self.search("Python", limit=1))
