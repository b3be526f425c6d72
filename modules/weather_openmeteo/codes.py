"""WMO weather interpretation codes as words (Open-Meteo's ``weather_code``)."""

WMO = {0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "fog", 48: "rime fog",
       51: "light drizzle", 53: "drizzle", 55: "dense drizzle", 61: "light rain", 63: "rain", 65: "heavy rain",
       66: "freezing rain", 67: "heavy freezing rain", 71: "light snow", 73: "snow", 75: "heavy snow",
       77: "snow grains", 80: "rain showers", 81: "heavy rain showers", 82: "violent rain showers",
       85: "snow showers", 86: "heavy snow showers", 95: "thunderstorm", 96: "thunderstorm with hail",
       99: "thunderstorm with heavy hail"}


def describe_code(code: object) -> str | None:
    return WMO.get(code, f"code {code}") if isinstance(code, int) else None
