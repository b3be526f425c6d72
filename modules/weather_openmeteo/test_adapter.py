"""Runs in the validation sandbox: the adapter against a mocked Open-Meteo (no network)."""

import asyncio
import unittest

import httpx

from .adapter import OpenMeteo

GEO = {"results": [{"name": "Paris", "country": "France", "country_code": "FR", "latitude": 48.85, "longitude": 2.35},
                   {"name": "Paris", "country": "United States", "country_code": "US", "latitude": 33.66,
                    "longitude": -95.55}]}


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/search"):
        if request.url.params["name"] == "Nowhere":
            return httpx.Response(200, json={})
        return httpx.Response(200, json=GEO)
    params = request.url.params
    if "current" in params:
        return httpx.Response(200, json={"current": {"time": "2026-01-01T12:00", "temperature_2m": 21.5,
                                                     "apparent_temperature": 20.0, "relative_humidity_2m": 40,
                                                     "wind_speed_10m": 12.0, "precipitation": 0.0,
                                                     "weather_code": 2, "latitude": params["latitude"]},
                                         "current_units": {"temperature_2m": "°C"}})
    days = int(params["forecast_days"])
    return httpx.Response(200, json={"daily": {"time": [f"2026-01-0{i + 1}" for i in range(days)],
                                               "temperature_2m_max": [10.0] * days,
                                               "temperature_2m_min": [2.0] * days,
                                               "precipitation_sum": [0.5] * days, "weather_code": [61] * days}})


def adapter() -> OpenMeteo:
    return OpenMeteo({}, {}, transport=httpx.MockTransport(handler))


class OpenMeteoTest(unittest.TestCase):
    def test_current_weather_in_words(self) -> None:
        result = asyncio.run(adapter().call("current_weather", {"location": "Paris"}))
        self.assertEqual(result["place"], "Paris")
        self.assertEqual(result["temperature"], 21.5)
        self.assertEqual(result["conditions"], "partly cloudy")

    def test_country_picks_the_right_place(self) -> None:
        result = asyncio.run(adapter().call("current_weather", {"location": "Paris, US"}))
        self.assertEqual(result["country"], "United States")

    def test_forecast_days(self) -> None:
        result = asyncio.run(adapter().call("forecast", {"location": "48.8,2.3", "days": 2}))
        self.assertEqual(len(result["days"]), 2)
        self.assertEqual(result["days"][0]["conditions"], "light rain")

    def test_unknown_place_is_a_clear_error(self) -> None:
        with self.assertRaisesRegex(Exception, "no place called 'Nowhere'"):
            asyncio.run(adapter().call("current_weather", {"location": "Nowhere"}))

    def test_bad_days_are_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "days"):
            asyncio.run(adapter().call("forecast", {"location": "Paris", "days": 40}))
