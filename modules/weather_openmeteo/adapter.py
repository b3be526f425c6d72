"""Open-Meteo weather: current conditions and a daily forecast for a place name, no API key needed."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from nexus_sdk import BaseAdapter, ModuleError, operation, register_adapter
from pydantic import BaseModel, Field

from .codes import describe_code


class OpenMeteoConfig(BaseModel):
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"


CURRENT = "temperature_2m,relative_humidity_2m,apparent_temperature,precipitation,weather_code,wind_speed_10m"
DAILY = "weather_code,temperature_2m_max,temperature_2m_min,precipitation_sum"
_COORDS = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
IMPERIAL = {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "precipitation_unit": "inch"}


@register_adapter
class OpenMeteo(BaseAdapter[OpenMeteoConfig]):
    async def _json(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.get_json(url, params, service="Open-Meteo")

    async def _place(self, location: str) -> dict[str, Any]:
        match = _COORDS.match(location)
        if match:
            lat, lon = float(match.group(1)), float(match.group(2))
            return {"name": f"{lat:g}, {lon:g}", "latitude": lat, "longitude": lon}
        name, _, country = (part.strip() for part in location.partition(","))
        if not name:
            raise ModuleError("the location is empty; give a place name such as 'Berlin'")
        data = await self._json(self.config.geocoding_url, {"name": name, "count": 10, "language": "en"})
        results = data.get("results") or []
        if country:
            results = [r for r in results if country.casefold() in
                       (str(r.get("country", "")).casefold(), str(r.get("country_code", "")).casefold())] or results
        if not results:
            raise ModuleError(f"no place called {name!r} was found")
        return results[0]

    @operation
    async def current_weather(self, location: str,
                              units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
        """Current weather at a place.

        Args:
            location: a place name ("Paris", "Paris, France") or "latitude,longitude"
            units: metric (°C, km/h) or imperial (°F, mph)
        """
        place = await self._place(location)
        params = {"latitude": place["latitude"], "longitude": place["longitude"], "current": CURRENT,
                  "timezone": "auto", **(IMPERIAL if units == "imperial" else {})}
        data = await self._json(self.config.forecast_url, params)
        now = data.get("current") or {}
        return {"place": place.get("name"), "country": place.get("country"), "time": now.get("time"),
                "temperature": now.get("temperature_2m"), "feels_like": now.get("apparent_temperature"),
                "humidity_percent": now.get("relative_humidity_2m"), "wind_speed": now.get("wind_speed_10m"),
                "precipitation": now.get("precipitation"), "conditions": describe_code(now.get("weather_code")),
                "units": data.get("current_units", {})}

    @operation
    async def forecast(self, location: str, days: Annotated[int, Field(ge=1, le=16)] = 3,
                       units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
        """Daily forecast (high, low, precipitation, conditions) for a place.

        Args:
            location: a place name ("Paris", "Paris, France") or "latitude,longitude"
            days: number of days, today included (1-16)
            units: metric or imperial
        """
        place = await self._place(location)
        params = {"latitude": place["latitude"], "longitude": place["longitude"], "daily": DAILY,
                  "forecast_days": days, "timezone": "auto", **(IMPERIAL if units == "imperial" else {})}
        daily = (await self._json(self.config.forecast_url, params)).get("daily") or {}
        rows = zip(daily.get("time", []), daily.get("temperature_2m_max", []), daily.get("temperature_2m_min", []),
                   daily.get("precipitation_sum", []), daily.get("weather_code", []), strict=False)
        return {"place": place.get("name"), "days": [
            {"date": d, "high": hi, "low": lo, "precipitation": p, "conditions": describe_code(c)}
            for d, hi, lo, p, c in rows]}

    async def health_check(self) -> bool:
        data = await self._json(self.config.geocoding_url, {"name": "Berlin", "count": 1})
        return bool(data.get("results"))
