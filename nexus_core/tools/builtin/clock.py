"""Time tools: the current date and time in a time zone, and converting a time between zones.

Models do not know what time it is, and they get DST offsets wrong; zoneinfo (the IANA database) does not.
"""

from __future__ import annotations

import difflib
import os
from datetime import datetime, time, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from nexus_core.tools.base import ToolFailure, tool

FORMAT_HINT = 'use an IANA time zone name such as "Europe/Paris", "America/New_York", "Asia/Tokyo" or "UTC"'


@tool(risk="safe", timeout_s=10.0)
def current_time(timezone: str | None = None) -> dict[str, object]:
    """Get the current date, time, weekday and UTC offset, here or in a given time zone.

    Args:
        timezone: IANA time zone name, e.g. "Europe/Paris" or "America/New_York"; leave out for the user's local
            time zone.
    """
    zone, name = _zone(timezone) if timezone else _local_zone()
    return _describe(datetime.now(zone), name)


@tool(risk="safe", timeout_s=10.0)
def convert_time(time: str, to_timezone: str, from_timezone: str | None = None) -> dict[str, object]:
    """Convert a date and time from one time zone to another (handles daylight saving time).

    Args:
        time: ISO-style date and time, e.g. "2025-03-14 09:30" or "2025-03-14T09:30:00"; a time alone
            ("09:30") means today in from_timezone. A UTC offset in the text ("09:30+02:00") wins over
            from_timezone.
        to_timezone: IANA time zone to convert to, e.g. "Asia/Tokyo".
        from_timezone: IANA time zone the time is in, e.g. "Europe/Paris"; leave out for the user's local zone.
    """
    target, target_name = _zone(to_timezone)
    source, source_name = _zone(from_timezone) if from_timezone else _local_zone()
    moment = _parse(time, source)
    if moment.tzinfo is not source:
        offset = moment.utcoffset()
        source_name = f"UTC{_offset_text(offset.total_seconds())}" if offset else "UTC"
    converted = moment.astimezone(target)
    return {"from": _describe(moment, source_name), "to": _describe(converted, target_name),
            "time_difference": f"{_offset_text(_seconds(converted) - _seconds(moment))} ({target_name} relative to "
                               f"{source_name})"}


def _seconds(moment: datetime) -> float:
    offset = moment.utcoffset()
    return offset.total_seconds() if offset else 0.0


def _parse(text: str, zone: tzinfo) -> datetime:
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        try:
            clock = time.fromisoformat(raw)
        except ValueError:
            raise ToolFailure(f"could not read the time {text!r}; write it like \"2025-03-14 09:30\" or \"09:30\"",
                              kind="invalid_arguments") from None
        today = datetime.now(zone).date()
        moment = datetime.combine(today, clock.replace(tzinfo=None))
        if clock.tzinfo is not None:
            return moment.replace(tzinfo=clock.tzinfo)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment


def _describe(moment: datetime, zone_name: str) -> dict[str, object]:
    return {
        "timezone": zone_name,
        "datetime": moment.isoformat(timespec="seconds"),
        "date": moment.date().isoformat(),
        "time": moment.strftime("%H:%M:%S"),
        "weekday": moment.strftime("%A"),
        "utc_offset": _offset_text(_seconds(moment)),
        "abbreviation": moment.tzname() or "",
        "dst": bool(moment.dst()),
    }


def _offset_text(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = int(abs(seconds)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _zone(name: str) -> tuple[tzinfo, str]:
    text = name.strip()
    try:
        return ZoneInfo(text), text
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    known = _zone_names()
    folded = {z.casefold(): z for z in known}
    exact = folded.get(text.casefold().replace(" ", "_"))
    if exact:
        return ZoneInfo(exact), exact
    raise ToolFailure(f"unknown time zone {name!r}: {FORMAT_HINT}{_suggest(text, known)}", kind="unknown_timezone")


def _suggest(text: str, known: frozenset[str]) -> str:
    key = text.casefold().replace(" ", "_")
    by_city = sorted(z for z in known if z.rsplit("/", 1)[-1].casefold() == key)
    guesses = by_city or difflib.get_close_matches(text, sorted(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(g) for g in guesses[:3])}?)" if guesses else ""


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _local_zone() -> tuple[tzinfo, str]:
    """The machine's zone with its IANA name where one can be found ($TZ, /etc/localtime), else its offset."""
    env = os.environ.get("TZ", "").lstrip(":")
    candidates = [env] if env else []
    link = Path("/etc/localtime")
    try:
        if link.is_symlink():
            target = str(link.resolve())
            if "zoneinfo/" in target:
                candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    timezone_file = Path("/etc/timezone")
    try:
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    except OSError:
        pass
    for candidate in candidates:
        try:
            return ZoneInfo(candidate), candidate
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local, datetime.now(local).tzname() or "local"

