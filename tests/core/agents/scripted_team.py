"""A scripted model team for workflow tests and the benchmark: answers each agent by its persona (read from the
system prompt) and by what it has been told, so parallel steps get the right replies in any order. The backend's
first version has a bug the review catches; its revision fixes it."""

from __future__ import annotations

import threading
from collections import Counter

from tests.support.llm_servers import Reply, text, tool_calls

BACKEND_V1 = "def add(a, b):\n    return a - b\n"
BACKEND_V2 = "def add(a, b):\n    return a + b\n"
TESTS = ("import unittest\n\nfrom backend import calc\n\n\nclass CalcTest(unittest.TestCase):\n"
         "    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n")


class ScriptedTeam:
    """``responder`` for a ScriptedOpenAIServer; ``calls`` counts the answers per persona; ``delay`` slows every
    streamed answer (seconds between its chunks) to stand for model time."""

    def __init__(self, *, delay: float = 0.0, fail_first: dict[str, int] | None = None) -> None:
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.fail_first = dict(fail_first or {})  # persona → how many of its calls get an empty answer
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> Reply:
        messages = body.get("messages") or []
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        brief = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
        persona = next((p for p in ("planning", "backend", "frontend", "tester", "reviewer")
                        if system.startswith(f"You are the {p}")), "other")
        answered_tool = messages[-1].get("role") == "tool"
        with self._lock:
            self.calls[persona] += 1
            if self.fail_first.get(persona, 0) > 0:
                self.fail_first[persona] -= 1
                return text([""], delay=self.delay)
        if persona == "planning":
            if not answered_tool:
                return tool_calls([("p1", "write_file", {"path": "PLAN.md", "content": "# Plan\n- backend/calc.py: "
                                                                                      "add(a, b)\n"})])
            return self._say("The plan: a calculator with add(a, b) in backend/calc.py, a page in frontend/.")
        if persona == "backend":
            if not answered_tool:
                code = BACKEND_V2 if "This is revision" in brief else BACKEND_V1
                return tool_calls([("b1", "write_file", {"path": "backend/__init__.py", "content": ""}),
                                   ("b2", "write_file", {"path": "backend/calc.py", "content": code})])
            return self._say("Wrote backend/calc.py with add(a, b).")
        if persona == "frontend":
            if not answered_tool:
                return tool_calls([("f1", "write_file", {"path": "frontend/index.html",
                                                         "content": "<input id=a><input id=b><output id=sum>\n"})])
            return self._say("Wrote frontend/index.html.")
        if persona == "tester":
            if not answered_tool:
                return tool_calls([("t1", "write_file", {"path": "tests/__init__.py", "content": ""}),
                                   ("t2", "write_file", {"path": "tests/test_calc.py", "content": TESTS})])
            return self._say("Wrote tests/test_calc.py: add(2, 3) must be 5.")
        if persona == "reviewer":
            if "[backend #2" in brief:
                return self._say("add() is right now and the page is fine.\nVERDICT: APPROVED")
            return self._say("add() subtracts.\nVERDICT: CHANGES\n1. add(a, b) must return a + b.")
        return self._say("ok")

    def _say(self, words: str) -> Reply:
        return text([*[w + " " for w in words.split(" ")][:-1], words.split(" ")[-1]], delay=self.delay)
