"""Runs in the validation sandbox: the adapter against a mocked OpenWeather."""

import asyncio
import unittest

import httpx
from nexus_sdk import CredentialsMissing, ModuleError

from .adapter import OpenWeather


def handler(request: httpx.Request) -> httpx.Response:
    params = request.url.params
    if params.get("appid") != "good-key":
        return httpx.Response(401, json={"cod": 401, "message": "Invalid API key"})
    if params["q"] == "Atlantis":
        return httpx.Response(404, json={"cod": "404", "message": "city not found"})
    if request.url.path.endswith("/weather"):
        return httpx.Response(200, json={"name": "Paris", "sys": {"country": "FR"},
                                         "main": {"temp": 18.2, "feels_like": 17.0, "humidity": 55},
                                         "wind": {"speed": 3.1}, "weather": [{"description": "light rain"}]})
    slots = [{"dt_txt": f"2026-01-0{d} {h:02d}:00:00", "main": {"temp": 5.0 + d + h / 10},
              "weather": [{"description": "clouds"}]} for d in (1, 2) for h in (0, 12)]
    return httpx.Response(200, json={"city": {"name": "Paris"}, "list": slots})


def adapter(key: str | None = "good-key") -> OpenWeather:
    return OpenWeather({}, {"API_KEY": key} if key else {}, transport=httpx.MockTransport(handler))


class OpenWeatherTest(unittest.TestCase):
    def test_current(self) -> None:
        result = asyncio.run(adapter().call("current_weather", {"city": "Paris"}))
        self.assertEqual((result["place"], result["temperature"], result["conditions"]), ("Paris", 18.2, "light rain"))

    def test_forecast_groups_by_day(self) -> None:
        result = asyncio.run(adapter().call("forecast", {"city": "Paris"}))
        self.assertEqual([d["date"] for d in result["days"]], ["2026-01-01", "2026-01-02"])
        self.assertEqual(result["days"][0]["high"], 7.2)

    def test_missing_key_is_a_credentials_problem(self) -> None:
        with self.assertRaises(CredentialsMissing):
            asyncio.run(adapter(None).call("current_weather", {"city": "Paris"}))

    def test_wrong_key_is_a_credentials_problem(self) -> None:
        with self.assertRaises(CredentialsMissing):
            asyncio.run(adapter("bad").call("current_weather", {"city": "Paris"}))

    def test_unknown_city(self) -> None:
        with self.assertRaisesRegex(ModuleError, "Atlantis"):
            asyncio.run(adapter().call("current_weather", {"city": "Atlantis"}))
