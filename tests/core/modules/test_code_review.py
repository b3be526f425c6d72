"""The static review of module code: tests that cannot fail or that mock the adapter, and host declarations."""

from __future__ import annotations

import json
from pathlib import Path

from nexus_core.modules.code_review import adapter_operations, review_hosts, review_tests
from nexus_core.modules.validate import validate_module
from tests.support.module_factory import make_module

GOOD_TESTS = '''
import asyncio
import unittest

import httpx

from .adapter import Lab


def check(result):
    assert result["echo"] == "ab"


class LabTest(unittest.TestCase):
    def test_direct(self):
        self.assertEqual(asyncio.run(Lab({}, {}).call("echo", {"text": "ab"})), {"echo": "ab"})

    def test_through_helper(self):
        check(asyncio.run(Lab({}, {}).call("echo", {"text": "ab"})))

    def test_raises(self):
        with self.assertRaises(ValueError):
            asyncio.run(Lab({}, {}).call("echo", {"text": 3}))
'''


def findings(tests: str, operations: frozenset[str] = frozenset({"echo"})) -> list[str]:
    return [str(f) for f in review_tests(tests, file="test_adapter.py", class_name="Lab", operations=set(operations))]


def test_real_tests_pass_the_review() -> None:
    assert findings(GOOD_TESTS) == []


def test_tests_without_real_assertions_are_named_with_their_line() -> None:
    tests = '''
import unittest
from .adapter import Lab

class LabTest(unittest.TestCase):
    def test_nothing(self):
        Lab({}, {})

    def test_constant(self):
        self.assertTrue(True)
        assert 1 == 1
'''
    found = findings(tests)
    assert found == ["test_adapter.py line 6: test_nothing has no assertion",
                     "test_adapter.py line 9: test_constant asserts only constants (it can never fail)"]


def test_tests_that_never_touch_the_adapter_or_define_no_tests_are_caught() -> None:
    assert "never uses the adapter class Lab" in " ".join(findings("import unittest\n\nclass T(unittest.TestCase):\n"
                                                                   "    def test_x(self):\n"
                                                                   "        self.assertEqual(len('ab'), 2)\n"))
    assert "defines no test functions" in " ".join(findings("from .adapter import Lab\n"))


def test_mocking_the_adapter_itself_is_rejected_in_each_form() -> None:
    base = "import unittest\nfrom unittest import mock\nfrom .adapter import Lab\n\nclass T(unittest.TestCase):\n"
    forms = {
        "patch.object": "    @mock.patch.object(Lab, 'echo', return_value={'echo': 'x'})\n"
                        "    def test_a(self, _m):\n        self.assertEqual(Lab({}, {}).echo('x'), {'echo': 'x'})\n",
        "patch string": "    def test_a(self):\n        with mock.patch('lab.adapter.Lab.echo'):\n"
                        "            self.assertIsNotNone(Lab)\n",
        "mock factory": "    def test_a(self):\n        fake = mock.MagicMock(spec=Lab)\n"
                        "        self.assertIsNotNone(fake.echo())\n",
        "replaced op": "    def test_a(self):\n        lab = Lab({}, {})\n        lab.echo = lambda **k: {'echo': 1}\n"
                       "        self.assertEqual(lab.echo(), {'echo': 1})\n",
    }
    for label, body in forms.items():
        found = " ".join(findings(base + body))
        assert "adapter" in found and ("patches" in found or "mock of Lab" in found or "replaces" in found), label


def test_operations_are_read_from_the_decorators() -> None:
    source = "class A:\n    @operation\n    async def one(self): ...\n    @operation(timeout_s=2)\n" \
             "    def two(self): ...\n    def helper(self): ...\n"
    assert adapter_operations(source) == {"one", "two"}


def test_hosts_must_match_the_code_both_ways(tmp_path: Path) -> None:
    adapter = '''
BASE = "https://api.example.com/v1"
WIKI = "https://{lang}.wikipedia.org/w/api.php"

def url(path, host):
    return f"https://{host}/x" + path
'''
    folder = make_module(tmp_path, adapter=adapter)
    assert review_hosts(folder, ["api.example.com", "*.wikipedia.org"], test_file="test_adapter.py") == []
    found = [str(f) for f in review_hosts(folder, ["api.example.com", "unused.example.org"],
                                          test_file="test_adapter.py")]
    assert found == ["adapter.py line 2: calls *.wikipedia.org, which network_hosts does not declare",
                     "manifest.json line 1: declares unused.example.org but no URL in the code uses it"]


def test_validation_reports_both_reviews(tmp_path: Path) -> None:
    folder = make_module(tmp_path, tests="from .adapter import Lab\nimport unittest\n\n"
                                         "class T(unittest.TestCase):\n    def test_ok(self):\n"
                                         "        self.assertTrue(True)\n",
                         network_hosts=["api.example.com"])
    report = validate_module(folder, use_bubblewrap=False)
    checks = {c.name: c for c in report.checks}
    assert not report.passed
    assert not checks["test_quality"].passed and "asserts only constants" in checks["test_quality"].detail
    assert not checks["hosts"].passed and "declares api.example.com" in checks["hosts"].detail
    assert json.loads(json.dumps(report.to_dict()))["passed"] is False
