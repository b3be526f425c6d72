"""Runs in the validation sandbox: the adapter against a mocked HTTP API (no network)."""

import asyncio
import unittest

import httpx
from nexus_sdk import ModuleError

from .adapter import ServiceAdapter


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/search":
        query = request.url.params["q"]
        if query == "missing":
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, json={"items": [{"name": f"{query} one", "id": 1}]})
    return httpx.Response(404)


def adapter() -> ServiceAdapter:
    return ServiceAdapter({}, {}, transport=httpx.MockTransport(handler))


class ServiceAdapterTest(unittest.TestCase):
    def test_lookup(self) -> None:
        result = asyncio.run(adapter().call("lookup", {"query": "tea"}))
        self.assertEqual(result, [{"name": "tea one", "id": 1}])

    def test_not_found_is_a_module_error(self) -> None:
        with self.assertRaises(ModuleError):
            asyncio.run(adapter().call("lookup", {"query": "missing"}))

    def test_limit_is_checked(self) -> None:
        with self.assertRaises(ValueError):
            asyncio.run(adapter().call("lookup", {"query": "tea", "limit": 0}))
