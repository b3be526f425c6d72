"""weather: geocoding then forecast against a loopback stand-in that answers with Open-Meteo's real JSON shapes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexus_core.tools import ToolContext, ToolFailure
from nexus_core.tools.builtin import weather as weather_module
from nexus_core.tools.builtin.weather import WMO_CODES, weather
from tests.core.tools.helpers import LoopbackServer, Response, call

BERLIN = {"id": 2950159, "name": "Berlin", "latitude": 52.52437, "longitude": 13.41053, "elevation": 74.0,
          "feature_code": "PPLC", "country_code": "DE", "admin1_id": 2950157, "timezone": "Europe/Berlin",
          "population": 3426354, "country_id": 2921044, "country": "Germany", "admin1": "Land Berlin"}
PARIS_TX = {"id": 4717560, "name": "Paris", "latitude": 33.66094, "longitude": -95.55551, "elevation": 180.0,
            "feature_code": "PPLA2", "country_code": "US", "timezone": "America/Chicago", "population": 24782,
            "country": "United States", "admin1": "Texas", "admin2": "Lamar"}
PARIS_FR = {"id": 2988507, "name": "Paris", "latitude": 48.85341, "longitude": 2.3488, "elevation": 42.0,
            "feature_code": "PPLC", "country_code": "FR", "timezone": "Europe/Paris", "population": 2138551,
            "country": "France", "admin1": "Île-de-France", "admin2": "Paris"}


def forecast_json(query: dict[str, list[str]]) -> dict[str, Any]:
    days = int(query["forecast_days"][0])
    fahrenheit = query.get("temperature_unit") == ["fahrenheit"]
    temp_unit = "°F" if fahrenheit else "°C"
    return {
        "latitude": 52.52, "longitude": 13.419998, "generationtime_ms": 0.0721216201782227,
        "utc_offset_seconds": 3600, "timezone": "Europe/Berlin", "timezone_abbreviation": "GMT+1", "elevation": 38.0,
        "current_units": {"time": "iso8601", "interval": "seconds", "temperature_2m": temp_unit,
                          "relative_humidity_2m": "%", "apparent_temperature": temp_unit,
                          "precipitation": "inch" if fahrenheit else "mm", "weather_code": "wmo code",
                          "wind_speed_10m": "mp/h" if fahrenheit else "km/h"},
        "current": {"time": "2025-01-15T12:00", "interval": 900, "temperature_2m": 2.3, "relative_humidity_2m": 81,
                    "apparent_temperature": -1.2, "precipitation": 0.0, "weather_code": 3, "wind_speed_10m": 12.4},
        "daily_units": {"time": "iso8601", "weather_code": "wmo code", "temperature_2m_max": temp_unit,
                        "temperature_2m_min": temp_unit, "precipitation_sum": "inch" if fahrenheit else "mm"},
        "daily": {"time": [f"2025-01-{15 + i}" for i in range(days)],
                  "weather_code": [[3, 61, 95, 71][i % 4] for i in range(days)],
                  "temperature_2m_max": [3.1 + i for i in range(days)],
                  "temperature_2m_min": [-1.0 + i for i in range(days)],
                  "precipitation_sum": [0.2 * i for i in range(days)]},
    }


def geocode(query: dict[str, list[str]]) -> Response:
    name = query["name"][0].casefold()
    places = {"berlin": [BERLIN], "paris": [PARIS_TX, PARIS_FR]}.get(name)
    if not places:
        return Response(200, {"generationtime_ms": 0.31})  # Open-Meteo's answer when nothing matches
    return Response(200, {"results": places[: int(query["count"][0])], "generationtime_ms": 0.52})


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    routes = {"/v1/search": lambda _p, q: geocode(q), "/v1/forecast": lambda _p, q: Response(200, forecast_json(q))}
    with LoopbackServer(routes) as srv:
        yield srv


@pytest.fixture
def ctx(server: LoopbackServer, tmp_path: Path) -> ToolContext:
    return ToolContext(tmp_path, services={"weather_urls": {"geocoding": server.url("/v1/search"),
                                                            "forecast": server.url("/v1/forecast")}})


def test_current_weather_and_forecast_for_a_place(server: LoopbackServer, ctx: ToolContext) -> None:
    result = call(weather, {"location": "Berlin", "days": 2}, ctx)
    assert result["location"] == "Berlin, Land Berlin, Germany"
    assert result["timezone"] == "Europe/Berlin"
    assert result["current"] == {"time": "2025-01-15T12:00", "condition": "Overcast", "temperature": "2.3 °C",
                                 "feels_like": "-1.2 °C", "humidity": "81%", "precipitation": "0.0 mm",
                                 "wind": "12.4 km/h"}
    assert result["forecast"] == [
        {"date": "2025-01-15", "weekday": "Wednesday", "condition": "Overcast", "low": "-1.0 °C", "high": "3.1 °C",
         "precipitation": "0.0 mm"},
        {"date": "2025-01-16", "weekday": "Thursday", "condition": "Slight rain", "low": "0.0 °C", "high": "4.1 °C",
         "precipitation": "0.2 mm"},
    ]
    geo, forecast = server.requests
    assert geo.path == "/v1/search" and geo.query["name"] == ["Berlin"] and geo.query["count"] == ["1"]
    assert forecast.query["latitude"] == ["52.52437"] and forecast.query["longitude"] == ["13.41053"]
    assert forecast.query["timezone"] == ["auto"] and forecast.query["forecast_days"] == ["2"]
    assert forecast.query["current"] == [weather_module.CURRENT_FIELDS]
    assert forecast.query["daily"] == [weather_module.DAILY_FIELDS]


def test_a_country_after_a_comma_picks_the_right_place(server: LoopbackServer, ctx: ToolContext) -> None:
    result = call(weather, {"location": "Paris, France", "days": 1}, ctx)
    assert result["location"] == "Paris, Île-de-France, France"
    assert server.requests[0].query["name"] == ["Paris"]
    assert server.requests[1].query["latitude"] == ["48.85341"]


def test_imperial_units_are_requested_and_shown(server: LoopbackServer, ctx: ToolContext) -> None:
    result = call(weather, {"location": "Berlin", "units": "imperial"}, ctx)
    query = server.requests[1].query
    assert query["temperature_unit"] == ["fahrenheit"] and query["wind_speed_unit"] == ["mph"]
    assert query["precipitation_unit"] == ["inch"]
    assert result["current"]["temperature"] == "2.3 °F" and len(result["forecast"]) == 3


def test_coordinates_skip_geocoding(server: LoopbackServer, ctx: ToolContext) -> None:
    result = call(weather, {"location": "48.85, 2.35", "days": 1}, ctx)
    assert [r.path for r in server.requests] == ["/v1/forecast"]
    assert result["location"] == "48.85, 2.35"


def test_every_wmo_code_has_a_description() -> None:
    assert {0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77, 80, 81, 82, 85, 86, 95, 96,
            99} == set(WMO_CODES)


def test_an_unknown_place_is_a_tool_failure(ctx: ToolContext) -> None:
    with pytest.raises(ToolFailure) as info:
        call(weather, {"location": "Xyzzyville"}, ctx)
    assert "no place called 'Xyzzyville'" in str(info.value) and info.value.kind == "not_found"


def test_the_service_s_error_reason_is_passed_on(server: LoopbackServer, ctx: ToolContext) -> None:
    server.routes["/v1/forecast"] = Response(400, {"error": True, "reason": "Latitude must be in range of -90 to "
                                                                             "90°. Given: 91.0."})
    with pytest.raises(ToolFailure) as info:
        call(weather, {"location": "Berlin"}, ctx)
    assert "HTTP 400" in str(info.value) and "Latitude must be in range" in str(info.value)


def test_a_server_error_is_a_tool_failure(server: LoopbackServer, ctx: ToolContext) -> None:
    server.routes["/v1/search"] = Response(502, "<html><body>Bad Gateway</body></html>")
    with pytest.raises(ToolFailure, match="HTTP 502"):
        call(weather, {"location": "Berlin"}, ctx)


def test_an_unexpected_answer_is_a_tool_failure(server: LoopbackServer, ctx: ToolContext) -> None:
    server.routes["/v1/forecast"] = Response(200, {"latitude": 1.0})
    with pytest.raises(ToolFailure, match="unexpected shape"):
        call(weather, {"location": "Berlin"}, ctx)


def test_a_slow_service_times_out(server: LoopbackServer, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weather_module, "TIMEOUT", httpx.Timeout(0.3))
    server.routes["/v1/search"] = Response(200, {"results": [BERLIN]}, delay=1.5)
    with pytest.raises(ToolFailure) as info:
        call(weather, {"location": "Berlin"}, ctx)
    assert info.value.kind == "timeout" and "did not answer in time" in str(info.value)


def test_an_unreachable_service_is_a_tool_failure(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = ToolContext(tmp_path, services={"weather_urls": {"geocoding": f"http://127.0.0.1:{port}/v1/search"}})
    with pytest.raises(ToolFailure) as info:
        call(weather, {"location": "Berlin"}, ctx)
    assert info.value.kind == "network" and "could not connect" in str(info.value)


def test_module_constants_are_the_default_urls(server: LoopbackServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert weather_module.GEOCODING_URL == "https://geocoding-api.open-meteo.com/v1/search"
    assert weather_module.FORECAST_URL == "https://api.open-meteo.com/v1/forecast"
    monkeypatch.setattr(weather_module, "GEOCODING_URL", server.url("/v1/search"))
    monkeypatch.setattr(weather_module, "FORECAST_URL", server.url("/v1/forecast"))
    assert call(weather, {"location": "Berlin"}, ToolContext(tmp_path))["location"].startswith("Berlin")


def test_schema_and_argument_checks(ctx: ToolContext) -> None:
    params = weather.parameters
    assert params["required"] == ["location"]
    assert params["properties"]["days"]["maximum"] == 16 and params["properties"]["days"]["minimum"] == 1
    assert params["properties"]["units"]["enum"] == ["metric", "imperial"]
    assert weather.wants_context and weather.risk == "safe"
    with pytest.raises(ToolFailure, match="days"):
        call(weather, {"location": "Berlin", "days": 40}, ctx)
    with pytest.raises(ToolFailure, match="location is empty"):
        call(weather, {"location": "  "}, ctx)
