"""The weather tool: current conditions and a daily forecast from Open-Meteo (free, no API key).

A place name is geocoded first, then the forecast is asked for at those coordinates. The service URLs are
module constants, overridable per context (``ctx.services["weather_urls"]``) so tests use a loopback stand-in.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field

from nexus_core.tools.base import ToolContext, ToolFailure, tool
from nexus_core.tools.builtin._http import USER_AGENT, failure_for

GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
TIMEOUT = httpx.Timeout(15.0, connect=8.0)
CURRENT_FIELDS = "temperature_2m,relative_humidity_2m,apparent_temperature,precipitation,weather_code,wind_speed_10m"
DAILY_FIELDS = "weather_code,temperature_2m_max,temperature_2m_min,precipitation_sum"
SERVICE = "the Open-Meteo weather service"

WMO_CODES = {
    0: "Clear sky", 1: "Mainly clear", 2: "Partly cloudy", 3: "Overcast", 45: "Fog", 48: "Depositing rime fog",
    51: "Light drizzle", 53: "Moderate drizzle", 55: "Dense drizzle", 56: "Light freezing drizzle",
    57: "Dense freezing drizzle", 61: "Slight rain", 63: "Moderate rain", 65: "Heavy rain",
    66: "Light freezing rain", 67: "Heavy freezing rain", 71: "Slight snowfall", 73: "Moderate snowfall",
    75: "Heavy snowfall", 77: "Snow grains", 80: "Slight rain showers", 81: "Moderate rain showers",
    82: "Violent rain showers", 85: "Slight snow showers", 86: "Heavy snow showers", 95: "Thunderstorm",
    96: "Thunderstorm with slight hail", 99: "Thunderstorm with heavy hail",
}
_COORDINATES = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


@tool(risk="safe", timeout_s=45.0)
async def weather(ctx: ToolContext, location: str, days: Annotated[int, Field(ge=1, le=16)] = 3,
                  units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
    """Get the current weather and a daily forecast for a place (from Open-Meteo).

    Args:
        location: a place name, optionally with its country or region ("Paris", "Paris, France",
            "Springfield, Illinois"), or "latitude,longitude".
        days: how many forecast days, today included (1-16).
        units: "metric" (°C, km/h, mm) or "imperial" (°F, mph, inch).
    """
    urls = ctx.services.get("weather_urls") or {}
    geocoding_url = urls.get("geocoding", GEOCODING_URL)
    forecast_url = urls.get("forecast", FORECAST_URL)
    async with httpx.AsyncClient(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}) as client:
        place = await _locate(client, geocoding_url, location)
        params: dict[str, Any] = {
            "latitude": place["latitude"], "longitude": place["longitude"], "current": CURRENT_FIELDS,
            "daily": DAILY_FIELDS, "timezone": "auto", "forecast_days": days,
        }
        if units == "imperial":
            params |= {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "precipitation_unit": "inch"}
        data = await _get_json(client, forecast_url, params)
    return _summarise(place, data)


async def _locate(client: httpx.AsyncClient, url: str, location: str) -> dict[str, Any]:
    text = location.strip()
    if not text:
        raise ToolFailure("the location is empty; give a place name such as \"Berlin\"", kind="invalid_arguments")
    coordinates = _COORDINATES.match(text)
    if coordinates:
        lat, lon = float(coordinates.group(1)), float(coordinates.group(2))
        if abs(lat) > 90 or abs(lon) > 180:
            raise ToolFailure(f"{text!r} are not valid coordinates (latitude ±90, longitude ±180)",
                              kind="invalid_arguments")
        return {"name": f"{lat:g}, {lon:g}", "latitude": lat, "longitude": lon}
    name, _, qualifier = (part.strip() for part in text.partition(","))
    data = await _get_json(client, url, {"name": name, "count": 10 if qualifier else 1, "language": "en",
                                         "format": "json"})
    results = data.get("results") or []
    if not results:
        raise ToolFailure(f"no place called {name!r} was found; check the spelling or try a nearby larger town "
                          "(give the place name alone, optionally followed by ', country')", kind="not_found")
    if qualifier:
        wanted = qualifier.casefold()
        for result in results:
            fields = (result.get(k) for k in ("country", "country_code", "admin1", "admin2", "admin3"))
            if any(isinstance(f, str) and f.casefold().startswith(wanted) for f in fields):
                return result
    return results[0]


async def _get_json(client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise failure_for(exc, SERVICE) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        reason = data.get("reason") if isinstance(data, dict) else None
        detail = f": {reason}" if reason else ""
        raise ToolFailure(f"{SERVICE} answered HTTP {response.status_code} {response.reason_phrase}{detail}",
                          kind="http_error")
    if not isinstance(data, dict):
        raise ToolFailure(f"{SERVICE} sent an answer that is not JSON", kind="bad_response")
    return data


def _summarise(place: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    try:
        current, cu = data["current"], data["current_units"]
        daily, du = data["daily"], data["daily_units"]
        forecast = []
        for i, day in enumerate(daily["time"]):
            forecast.append({
                "date": day,
                "weekday": date.fromisoformat(day).strftime("%A"),
                "condition": _condition(daily["weather_code"][i]),
                "low": _with_unit(daily["temperature_2m_min"][i], du["temperature_2m_min"]),
                "high": _with_unit(daily["temperature_2m_max"][i], du["temperature_2m_max"]),
                "precipitation": _with_unit(daily["precipitation_sum"][i], du["precipitation_sum"]),
            })
        now = {
            "time": current["time"],
            "condition": _condition(current["weather_code"]),
            "temperature": _with_unit(current["temperature_2m"], cu["temperature_2m"]),
            "feels_like": _with_unit(current["apparent_temperature"], cu["apparent_temperature"]),
            "humidity": _with_unit(current["relative_humidity_2m"], cu["relative_humidity_2m"]),
            "precipitation": _with_unit(current["precipitation"], cu["precipitation"]),
            "wind": _with_unit(current["wind_speed_10m"], cu["wind_speed_10m"]),
        }
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ToolFailure(f"{SERVICE} sent an answer in an unexpected shape (missing {exc})",
                          kind="bad_response") from None
    label = ", ".join(dict.fromkeys(str(place[k]) for k in ("name", "admin1", "country") if place.get(k)))
    return {
        "location": label,
        "coordinates": f"{place['latitude']:.4g}, {place['longitude']:.4g}",
        "timezone": data.get("timezone", ""),
        "current": now,
        "forecast": forecast,
        "source": "Open-Meteo (open-meteo.com)",
    }


def _condition(code: Any) -> str:
    if code is None:
        return "unknown"
    return WMO_CODES.get(int(code), f"weather code {code}")


def _with_unit(value: Any, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value}{unit}" if unit == "%" else f"{value} {unit}"
