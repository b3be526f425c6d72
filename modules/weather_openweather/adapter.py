"""OpenWeather: current weather and a 5-day forecast; needs an API key (free tier at openweathermap.org)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from nexus_sdk import BaseAdapter, CredentialsMissing, ModuleError, UpstreamError, operation, register_adapter
from pydantic import BaseModel


class OpenWeatherConfig(BaseModel):
    base_url: str = "https://api.openweathermap.org"


@register_adapter
class OpenWeather(BaseAdapter[OpenWeatherConfig]):
    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        key = self.credential("API_KEY")
        return await self.get_json(f"{self.config.base_url}{path}", {**params, "appid": key}, service="OpenWeather",
                                   errors={
            401: CredentialsMissing("OpenWeather refused the API key (HTTP 401): set a valid API_KEY"),
            404: ModuleError(f"OpenWeather does not know that place: {params.get('q')!r}"),
            429: UpstreamError("OpenWeather's rate limit for this key is used up; try again later")})

    @operation
    async def current_weather(self, city: str, units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
        """Current weather in a city.

        Args:
            city: city name, optionally with a country code ("Paris,FR")
            units: metric (°C, m/s) or imperial (°F, mph)
        """
        data = await self._get("/data/2.5/weather", {"q": city, "units": units})
        main, wind = data.get("main", {}), data.get("wind", {})
        return {"place": data.get("name"), "country": data.get("sys", {}).get("country"),
                "temperature": main.get("temp"), "feels_like": main.get("feels_like"),
                "humidity_percent": main.get("humidity"), "wind_speed": wind.get("speed"),
                "conditions": ", ".join(w.get("description", "") for w in data.get("weather", [])) or None,
                "units": units}

    @operation
    async def forecast(self, city: str, units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
        """Daily high/low and conditions for the next five days (from the 3-hourly forecast).

        Args:
            city: city name, optionally with a country code ("Paris,FR")
            units: metric or imperial
        """
        data = await self._get("/data/2.5/forecast", {"q": city, "units": units})
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for slot in data.get("list", []):
            days[str(slot.get("dt_txt", ""))[:10]].append(slot)
        out = []
        for day, slots in sorted(days.items()):
            temps = [s["main"]["temp"] for s in slots if "main" in s]
            descriptions = [w["description"] for s in slots for w in s.get("weather", [])]
            out.append({"date": day, "high": max(temps) if temps else None, "low": min(temps) if temps else None,
                        "conditions": max(set(descriptions), key=descriptions.count) if descriptions else None})
        return {"place": data.get("city", {}).get("name"), "days": out, "units": units}

    async def health_check(self) -> bool:
        await self._get("/data/2.5/weather", {"q": "London"})
        return True
