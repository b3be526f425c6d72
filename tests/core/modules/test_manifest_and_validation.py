"""Manifests and validation on real module folders: the built-ins, and every kind of broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_core.modules.manifest import ManifestError, load_manifest
from nexus_core.modules.registry import BUILTIN_DIR
from nexus_core.modules.validate import validate_module
from nexus_core.sandbox import Limits
from tests.support.module_factory import make_module

BUILTINS = sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "manifest.json").is_file())


def edit_manifest(folder: Path, **changes: object) -> None:
    data = json.loads((folder / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (folder / "manifest.json").write_text(json.dumps(data))


def check(report, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.checks if c.name == name)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_module_validates(name: str) -> None:
    report = validate_module(BUILTIN_DIR / name)
    assert report.passed, report.to_dict()
    assert report.operations and all(op["parameters"]["type"] == "object" for op in report.operations)


def test_the_four_builtins_are_there() -> None:
    assert {"weather_openmeteo", "weather_openweather", "exchange_rates", "wikipedia"} <= set(BUILTINS)
    assert [c.name for c in load_manifest(BUILTIN_DIR / "weather_openweather").credentials] == ["API_KEY"]


@pytest.mark.parametrize(("changes", "words"), [
    ({"colour": "blue"}, "colour: unknown field"),
    ({"version": None}, "version: required field is missing"),
    ({"version": "1.0"}, "version: must be a semantic version"),
    ({"category": "toys"}, "category: must be one of"),
    ({"python_dependencies": ["requests"]}, "'requests' is not allowed"),
    ({"entry_point": "../evil.py"}, "entry_point: must be a .py file inside"),
    ({"network_hosts": ["http://x.com/path"]}, "is not a host name"),
    ({"name": "other"}, "but its folder is 'lab'"),
    ({"schema_version": 9}, "schema_version 9"),
])
def test_manifest_problems_name_the_field(tmp_path: Path, changes: dict[str, object], words: str) -> None:
    folder = make_module(tmp_path)
    edit_manifest(folder, **changes)
    with pytest.raises(ManifestError) as caught:
        load_manifest(folder)
    assert words in caught.value.user_message()
    report = validate_module(folder)
    assert not report.passed and not check(report, "manifest").passed and words in check(report, "manifest").detail


def test_manifest_json_syntax_names_the_line(tmp_path: Path) -> None:
    folder = make_module(tmp_path)
    (folder / "manifest.json").write_text('{\n  "name": "lab",\n  oops\n}')
    with pytest.raises(ManifestError, match="line 3"):
        load_manifest(folder)


def test_a_syntax_error_and_a_forbidden_import_name_file_and_line(tmp_path: Path) -> None:
    folder = make_module(tmp_path, extra_files={"helpers.py": "import json\n\ndef f(:\n    pass\n",
                                                "tools.py": "import json\nimport subprocess\n"})
    report = validate_module(folder)
    assert "helpers.py line 3" in check(report, "compile").detail
    assert "tools.py line 2: import of 'subprocess'" in check(report, "ast_gate").detail
    assert not check(report, "tests").passed and "not run" in check(report, "tests").detail


def test_edited_files_no_longer_match_their_hashes(tmp_path: Path) -> None:
    folder = make_module(tmp_path)
    (folder / "adapter.py").write_text((folder / "adapter.py").read_text() + "\n# changed\n")
    report = validate_module(folder)
    assert "changed since the manifest was written: adapter.py" in check(report, "files").detail


def test_failing_and_hanging_tests_and_an_import_error(tmp_path: Path) -> None:
    failing = make_module(tmp_path / "a", tests="""
        import unittest

        class T(unittest.TestCase):
            def test_wrong(self) -> None:
                self.assertEqual(1, 2)
    """)
    report = validate_module(failing)
    assert check(report, "adapter").passed
    assert "test_wrong" in check(report, "tests").detail and "1 != 2" in check(report, "tests").detail

    hanging = make_module(tmp_path / "b", tests="""
        import time
        import unittest

        class T(unittest.TestCase):
            def test_forever(self) -> None:
                while True:
                    time.sleep(0.1)
    """)
    report = validate_module(hanging, limits=Limits(wall_s=4.0, cpu_s=4))
    assert not report.passed and "wall" in check(report, "tests").detail

    broken = make_module(tmp_path / "c", adapter="raise RuntimeError('boom at import')\n")
    report = validate_module(broken)
    assert not check(report, "adapter").passed and "boom at import" in check(report, "adapter").detail


def test_a_test_that_eats_memory_is_stopped(tmp_path: Path) -> None:
    folder = make_module(tmp_path, tests="""
        import unittest

        class T(unittest.TestCase):
            def test_hog(self) -> None:
                blocks = []
                while True:
                    blocks.append(bytearray(50_000_000))
    """)
    report = validate_module(folder, limits=Limits(wall_s=20.0, cpu_s=20, memory_mb=400))
    assert not report.passed and "memory" in check(report, "tests").detail.lower()


def test_an_unregistered_class_and_missing_files(tmp_path: Path) -> None:
    folder = make_module(tmp_path, class_name="Missing")
    report = validate_module(folder)
    assert "no adapter class Missing" in check(report, "adapter").detail
    other = make_module(tmp_path / "x")
    (other / "test_adapter.py").unlink()
    report = validate_module(other)
    assert "test_file: test_adapter.py does not exist" in check(report, "files").detail
