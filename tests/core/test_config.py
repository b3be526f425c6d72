"""nexus_core.config: damaged settings never stop the app; each problem is repaired and reported."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_core.config import SETTINGS_SCHEMA_VERSION, LoadedSettings, Settings, load_settings, save_settings

DEFAULTS = Settings()


def _damaged_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.damaged-*"))


def test_missing_file_gives_defaults_without_problems(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path / "settings.json")
    assert loaded.settings == DEFAULTS
    assert loaded.problems == []
    assert loaded.backup is None
    assert DEFAULTS.monitor_interval_s == 1.0 and DEFAULTS.theme == "system"
    assert not (tmp_path / "settings.json").exists()


def test_invalid_json_falls_back_and_keeps_the_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    original = b'{\n  "theme": "dark",\n  "monitor_interval_s": 2.0,,\n}\n'
    path.write_bytes(original)
    loaded = load_settings(path)
    assert loaded.settings == DEFAULTS
    assert len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert str(path) in problem
    assert "line 3, column 29" in problem
    assert "not valid JSON" in problem
    assert loaded.backup is not None and loaded.backup.exists()
    assert loaded.backup.name.startswith("settings.json.damaged-")
    assert str(loaded.backup) in problem
    assert loaded.backup.read_bytes() == original
    assert path.read_bytes() == original  # loading alone does not rewrite the user's file


def test_one_invalid_field_falls_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"theme": "dark", "monitor_interval_s": 99, "max_thread_jobs": 8,
                                "log_level": "DEBUG"}), encoding="utf-8")
    loaded = load_settings(path)
    s = loaded.settings
    assert s.monitor_interval_s == DEFAULTS.monitor_interval_s
    assert (s.theme, s.max_thread_jobs, s.log_level) == ("dark", 8, "DEBUG")
    assert len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert "'monitor_interval_s'" in problem and "99" in problem and str(path) in problem
    assert f"default {DEFAULTS.monitor_interval_s!r}" in problem
    assert loaded.backup is not None and json.loads(loaded.backup.read_text())["monitor_interval_s"] == 99


def test_several_invalid_fields_are_each_reported(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"theme": "purple", "max_process_jobs": 0, "monitor_window_s": 60,
                                "log_level": "LOUD"}), encoding="utf-8")
    loaded = load_settings(path)
    s = loaded.settings
    assert (s.theme, s.max_process_jobs, s.log_level) == ("system", 2, "INFO")
    assert s.monitor_window_s == 60
    reported = {name for name in ("theme", "max_process_jobs", "log_level", "monitor_window_s")
                if any(f"'{name}'" in p for p in loaded.problems)}
    assert reported == {"theme", "max_process_jobs", "log_level"}


def test_unknown_keys_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"theme": "light", "future_option": {"a": [1, 2]}}), encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.settings.theme == "light"
    assert loaded.settings.unknown_fields() == ["future_option"]
    assert any("unknown setting 'future_option'" in p for p in loaded.problems)
    assert loaded.backup is None  # nothing was damaged
    save_settings(path, loaded.settings)
    assert json.loads(path.read_text())["future_option"] == {"a": [1, 2]}


def test_newer_settings_format_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": SETTINGS_SCHEMA_VERSION + 1}), encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.settings.schema_version == SETTINGS_SCHEMA_VERSION + 1
    assert any("newer" in p for p in loaded.problems)


@pytest.mark.parametrize(("text", "found"), [("[1, 2]", "list"), ('"dark"', "str"), ("42", "int"),
                                             ("null", "NoneType")])
def test_top_level_non_object_is_reported(tmp_path: Path, text: str, found: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.settings == DEFAULTS
    assert len(loaded.problems) == 1
    assert "expected a JSON object" in loaded.problems[0] and found in loaded.problems[0]
    assert str(path) in loaded.problems[0]
    assert loaded.backup is not None and loaded.backup.read_text() == text


def test_unreadable_bytes_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b'{"theme": "\xff\xfe"}')
    loaded = load_settings(path)
    assert loaded.settings == DEFAULTS
    assert "could not be read" in loaded.problems[0]
    assert loaded.backup is not None and loaded.backup.read_bytes() == b'{"theme": "\xff\xfe"}'


def test_save_load_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "settings.json"
    original = Settings(theme="dark", monitor_interval_s=0.25, monitor_window_s=3600, max_thread_jobs=64,
                        max_process_jobs=1, log_level="WARNING", workspace_dir=tmp_path / "my work")
    save_settings(path, original)
    loaded = load_settings(path)
    assert loaded.problems == []
    assert loaded.settings == original
    assert loaded.settings.workspace_dir == tmp_path / "my work"


def test_validate_assignment_rejects_bad_values() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="monitor_interval_s"):
        s.monitor_interval_s = 0.1
    assert s.monitor_interval_s == 1.0


def test_deeply_nested_json_does_not_raise(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.settings == DEFAULTS and loaded.problems


def test_huge_integer_does_not_raise(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"max_thread_jobs": ' + "1" * 5000 + "}", encoding="utf-8")
    loaded = load_settings(path)
    assert loaded.settings.max_thread_jobs == DEFAULTS.max_thread_jobs and loaded.problems


# -- property: whatever is in the file, load_settings returns valid Settings -----------------

_FIELD_NAMES = sorted(Settings.model_fields)
_json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20)
                 | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
                 | st.sampled_from(["dark", "light", "system", "DEBUG", "ERROR", "0.5", "/tmp/x"]))
_json_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_settings_objects = st.dictionaries(st.sampled_from(_FIELD_NAMES) | st.text(max_size=10), _json_values,
                                    max_size=10)


def _check_valid(loaded: LoadedSettings, path: Path) -> None:
    assert isinstance(loaded, LoadedSettings)
    s = loaded.settings
    assert isinstance(s, Settings)
    Settings.model_validate(s.model_dump())  # every value still satisfies the model's constraints
    assert 0.25 <= s.monitor_interval_s <= 5.0 and not math.isnan(s.monitor_interval_s)
    assert 30.0 <= s.monitor_window_s <= 3600.0
    assert 1 <= s.max_thread_jobs <= 64 and 1 <= s.max_process_jobs <= 16
    assert s.theme in ("system", "light", "dark")
    assert all(isinstance(p, str) and str(path) in p for p in loaded.problems)
    # whatever was repaired can be saved and read back cleanly
    save_settings(path, s)
    again = load_settings(path)
    assert again.settings.model_dump(include=set(_FIELD_NAMES)) == s.model_dump(include=set(_FIELD_NAMES))
    assert again.settings.unknown_fields() == s.unknown_fields()  # unknown keys survive a save
    assert all("unknown setting" in p or "newer" in p for p in again.problems)


_hyp = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_hyp
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _check_valid(load_settings(path), path)


@_hyp
@given(value=_json_values | _settings_objects)
def test_arbitrary_json_never_raises(value: object) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_text(json.dumps(value), encoding="utf-8")
        loaded = load_settings(path)
        _check_valid(loaded, path)
        if isinstance(value, dict):
            for name in _FIELD_NAMES:  # a rejected value is reported and replaced by the default
                reported = any(f"setting '{name}' =" in p for p in loaded.problems)
                assert reported <= (name in value)
                if reported:
                    assert getattr(loaded.settings, name) == getattr(DEFAULTS, name)
