"""Runs in the validation sandbox: the adapter against a mocked Wikipedia."""

import asyncio
import unittest

import httpx
from nexus_sdk import ModuleError

from .adapter import Wikipedia

SEEN: list[str] = []


def handler(request: httpx.Request) -> httpx.Response:
    SEEN.append(str(request.url))
    if request.url.path == "/w/api.php":
        return httpx.Response(200, json={"query": {"search": [
            {"title": "Ada Lovelace", "snippet": "English <span class=\"searchmatch\">mathematician</span>",
             "wordcount": 5000}]}})
    if request.url.path.endswith("/No_such_page"):
        return httpx.Response(404, json={"title": "Not found."})
    return httpx.Response(200, json={"title": "Ada Lovelace", "description": "English mathematician",
                                     "extract": "Augusta Ada King...",
                                     "content_urls": {"desktop": {"page": "https://en.wikipedia.org/wiki/Ada"}}})


def adapter() -> Wikipedia:
    return Wikipedia({}, {}, transport=httpx.MockTransport(handler))


class WikipediaTest(unittest.TestCase):
    def test_search_strips_markup(self) -> None:
        hits = asyncio.run(adapter().call("search", {"query": "Ada", "limit": 3}))
        self.assertEqual(hits[0]["snippet"], "English mathematician")

    def test_summary_and_language(self) -> None:
        result = asyncio.run(adapter().call("summary", {"title": "Ada Lovelace", "language": "de"}))
        self.assertEqual(result["title"], "Ada Lovelace")
        self.assertTrue(SEEN[-1].startswith("https://de.wikipedia.org/api/rest_v1/page/summary/Ada_Lovelace"))

    def test_missing_article(self) -> None:
        with self.assertRaisesRegex(ModuleError, "no article"):
            asyncio.run(adapter().call("summary", {"title": "No such page"}))

    def test_bad_language(self) -> None:
        with self.assertRaisesRegex(ModuleError, "language code"):
            asyncio.run(adapter().call("search", {"query": "x", "language": "../evil"}))
