"""Runs in the validation sandbox: the adapter against a mocked Frankfurter API."""

import asyncio
import unittest

import httpx
from nexus_sdk import ModuleError

from .adapter import ExchangeRates


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/currencies":
        return httpx.Response(200, json={"EUR": "Euro", "USD": "United States Dollar"})
    params = request.url.params
    if params["to"] == "XXX":
        return httpx.Response(404, json={"message": "not found"})
    amount = float(params["amount"])
    day = "2020-01-02" if request.url.path == "/2020-01-02" else "2026-11-20"
    return httpx.Response(200, json={"amount": amount, "base": params["from"], "date": day,
                                     "rates": {params["to"]: round(amount * 0.9, 4)}})


def adapter() -> ExchangeRates:
    return ExchangeRates({}, {}, transport=httpx.MockTransport(handler))


class ExchangeRatesTest(unittest.TestCase):
    def test_convert_latest(self) -> None:
        result = asyncio.run(adapter().call("convert", {"amount": 100, "from_currency": "usd", "to_currency": "EUR"}))
        self.assertEqual((result["result"], result["from"], result["date"]), (90.0, "USD", "2026-11-20"))
        self.assertAlmostEqual(result["rate"], 0.9)

    def test_convert_on_a_date(self) -> None:
        result = asyncio.run(adapter().call("convert", {"amount": 1, "from_currency": "USD", "to_currency": "EUR",
                                                        "on_date": "2020-01-02"}))
        self.assertEqual(result["date"], "2020-01-02")

    def test_bad_codes(self) -> None:
        with self.assertRaisesRegex(ModuleError, "three-letter"):
            asyncio.run(adapter().call("convert", {"amount": 1, "from_currency": "dollars", "to_currency": "EUR"}))
        with self.assertRaises(ModuleError):
            asyncio.run(adapter().call("convert", {"amount": 1, "from_currency": "USD", "to_currency": "XXX"}))

    def test_amount_must_be_positive(self) -> None:
        with self.assertRaises(ValueError):
            asyncio.run(adapter().call("convert", {"amount": -5, "from_currency": "USD", "to_currency": "EUR"}))

    def test_currencies(self) -> None:
        self.assertIn("USD", asyncio.run(adapter().call("currencies", {})))
