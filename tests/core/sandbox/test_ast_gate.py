"""The AST gate: findings name the line, allowed code passes, and refused code never runs."""

from __future__ import annotations

import pytest

from nexus_core.sandbox import Sandbox, SandboxMode, check_code, policy_for
from tests.core.sandbox.conftest import FAST

CODE = policy_for(SandboxMode.CODE)
VALIDATE = policy_for(SandboxMode.VALIDATE)


def lines(code: str, policy=CODE) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {f.line: f.message for f in check_code(code, policy)}


def test_plain_code_passes() -> None:
    code = ("import math, json\nfrom collections import Counter\n"
            "class P:\n    def __init__(self):\n        self.x = 1\n"
            "if __name__ == '__main__':\n    print(json.dumps(Counter('aab')), math.pi, open('data.txt').read())\n")
    assert check_code(code, CODE) == []


@pytest.mark.parametrize(("code", "line", "words"), [
    ("x = 1\nimport os\n", 2, "import of 'os'"),
    ("x = 1\ny = 2\nfrom subprocess import run\n", 3, "import of 'subprocess'"),
    ("print(().__class__.__base__.__subclasses__())\n", 1, "__subclasses__"),
    ("def f():\n    return f.__globals__\n", 2, "__globals__"),
    ("b = __builtins__\n", 1, "__builtins__"),
    ("\n\nm = __import__('os')\n", 3, "__import__"),
    ("eval('1+1')\n", 1, "eval()"),
    ("exec('x = 1')\n", 1, "exec()"),
    ("compile('1', 'f', 'eval')\n", 1, "compile()"),
    ("print(open('/etc/passwd').read())\n", 1, "/etc/passwd"),
    ("open('../outside.txt', 'w')\n", 1, "outside the workspace"),
    ("import random\nrandom._os\n", 2, "private attribute '_os'"),
    ("import dataclasses\ndataclasses.sys.modules\n", 2, "'sys' reaches"),
    ("getattr(object, 'x' + 'y')\n", 1, "computed attribute name"),
    ("'{0.__class__}'.format(1)\n", 1, "__class__"),
    ("from .sibling import x\n", 1, "relative imports"),
    ("import importlib\n", 1, "import of 'importlib'"),
])
def test_findings_name_the_line(code: str, line: int, words: str) -> None:
    found = lines(code)
    assert line in found, found
    assert words in found[line]


def test_validate_mode_allows_more() -> None:
    code = "import os, sys, httpx, pydantic, unittest\nprint(os.environ.get('KEY'), sys.argv)\n"
    assert check_code(code, VALIDATE) == []
    assert check_code("from .sibling import x\n", VALIDATE) == []  # a module's own package
    assert check_code(code, CODE) != []
    assert lines("eval('1')\n", VALIDATE)[1].startswith("calling eval()")


def test_extra_imports_and_workspace_modules_are_allowed() -> None:
    code = "import numpy\nimport helper\n"
    assert {f.line for f in check_code(code, CODE)} == {1, 2}
    assert check_code(code, CODE, extra_imports=["numpy"], local_modules=["helper"]) == []


def test_syntax_errors_are_left_to_python() -> None:
    assert check_code("def (:", CODE) == []


def test_refused_code_is_not_run() -> None:
    result = Sandbox(limits=FAST).run_code("print('should not run')\nimport os\n")
    assert not result.ran and not result.ok
    assert result.stdout == "" and result.exit_code is None
    assert result.blocked == ["line 2: import of 'os' is not allowed in code mode"]


def test_workspace_module_imports_pass_gate_and_guard() -> None:
    result = Sandbox(limits=FAST).run_code("import helper\nprint(helper.VALUE)\n", files={"helper.py": "VALUE = 7\n"})
    assert result.ok, result.stderr
    assert result.stdout == "7\n"
