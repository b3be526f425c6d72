"""current_time / convert_time: real IANA zones (DST included), the local default, and helpful refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus_core.tools import ToolFailure
from nexus_core.tools.builtin.clock import convert_time, current_time
from tests.core.tools.helpers import call, param_descriptions


def test_current_time_in_a_zone_has_weekday_and_offset() -> None:
    result = call(current_time, {"timezone": "Asia/Kolkata"})
    now = datetime.now(ZoneInfo("Asia/Kolkata"))
    assert result["timezone"] == "Asia/Kolkata"
    assert result["utc_offset"] == "+05:30"
    moment = datetime.fromisoformat(result["datetime"])
    assert abs(moment - now) < timedelta(seconds=5)
    assert result["weekday"] == moment.strftime("%A")
    assert result["date"] == moment.date().isoformat()
    assert result["abbreviation"] == "IST" and result["dst"] is False


def test_current_time_defaults_to_the_local_zone() -> None:
    result = call(current_time, {})
    moment = datetime.fromisoformat(result["datetime"])
    assert moment.tzinfo is not None
    assert abs(moment - datetime.now().astimezone()) < timedelta(seconds=5)
    assert moment.utcoffset() == datetime.now().astimezone().utcoffset()
    assert result["timezone"]


def test_zone_names_are_matched_case_insensitively() -> None:
    assert call(current_time, {"timezone": "america/new_york"})["timezone"] == "America/New_York"


@pytest.mark.parametrize(("when", "paris", "tokyo"), [
    ("2025-01-15 09:00", "+01:00", "2025-01-15T17:00:00+09:00"),  # winter: CET
    ("2025-07-15T09:00:00", "+02:00", "2025-07-15T16:00:00+09:00"),  # summer: CEST
])
def test_convert_time_follows_daylight_saving(when: str, paris: str, tokyo: str) -> None:
    result = call(convert_time, {"time": when, "from_timezone": "Europe/Paris", "to_timezone": "Asia/Tokyo"})
    assert result["from"]["utc_offset"] == paris
    assert result["to"]["datetime"] == tokyo
    assert result["to"]["timezone"] == "Asia/Tokyo"


def test_convert_time_crosses_midnight_and_reports_the_weekday() -> None:
    result = call(convert_time, {"time": "2025-03-14 22:30", "from_timezone": "America/Los_Angeles",
                                 "to_timezone": "Europe/London"})
    assert result["to"]["datetime"] == "2025-03-15T05:30:00+00:00"
    assert result["from"]["weekday"] == "Friday" and result["to"]["weekday"] == "Saturday"
    assert result["time_difference"].startswith("+07:00")


def test_an_offset_in_the_text_wins_over_from_timezone() -> None:
    result = call(convert_time, {"time": "2025-06-01T12:00:00+00:00", "from_timezone": "Asia/Tokyo",
                                 "to_timezone": "America/New_York"})
    assert result["to"]["datetime"] == "2025-06-01T08:00:00-04:00"


def test_a_time_alone_means_today() -> None:
    result = call(convert_time, {"time": "09:15", "from_timezone": "UTC", "to_timezone": "UTC"})
    assert result["to"]["time"] == "09:15:00"
    assert result["to"]["date"] == datetime.now(ZoneInfo("UTC")).date().isoformat()


def test_unknown_zone_suggests_the_format_and_a_match() -> None:
    with pytest.raises(ToolFailure) as info:
        call(current_time, {"timezone": "Paris"})
    message = str(info.value)
    assert "Europe/Paris" in message and "IANA" in message and "did you mean 'Europe/Paris'" in message
    assert info.value.kind == "unknown_timezone"
    with pytest.raises(ToolFailure, match="unknown time zone 'Mars/Olympus_Mons'"):
        call(convert_time, {"time": "10:00", "from_timezone": "UTC", "to_timezone": "Mars/Olympus_Mons"})
    with pytest.raises(ToolFailure, match="unknown time zone"):
        call(current_time, {"timezone": "../../etc/passwd"})


def test_an_unreadable_time_is_refused_with_an_example() -> None:
    with pytest.raises(ToolFailure, match="2025-03-14 09:30"):
        call(convert_time, {"time": "next tuesday", "to_timezone": "UTC"})


def test_schemas() -> None:
    assert current_time.parameters.get("required") is None
    assert convert_time.parameters["required"] == ["time", "to_timezone"]
    assert all(param_descriptions(convert_time).values())
