"""The AST gate: a fast pre-check that refuses obvious escape attempts before anything runs.

It is not a boundary (Python is too dynamic for a static check to be complete); the runtime guard and
bubblewrap are. Its job is clear, early findings with line numbers for code that plainly reaches for
things the mode does not allow, so the caller (an agent, a module author) can fix the code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

from nexus_core.sandbox.modes import ModePolicy, SandboxMode

SAFE_DUNDERS = frozenset({
    "__name__", "__doc__", "__init__", "__qualname__", "__version__", "__main__", "__file__", "__debug__",
    "__enter__", "__exit__", "__aenter__", "__aexit__", "__iter__", "__next__", "__len__", "__str__", "__repr__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__post_init__", "__all__",
    "__annotations__", "__contains__", "__getitem__", "__setitem__", "__call__", "__future__",
})
# Attribute names that lead from an allowed module to a forbidden one (``dataclasses.sys.modules["os"]``)
# or into interpreter internals (frames, code). Only checked in code mode, the strict one.
REACH_THROUGH = frozenset({
    "sys", "os", "modules", "builtins", "subprocess", "posix", "system", "popen", "environ", "spawn", "fork",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "gi_frame", "gi_code", "cr_frame", "ag_frame",
    "tb_frame", "co_code", "func_globals", "mro", "importlib", "gc", "ctypes", "socket",
})
STRICT_CALLS = frozenset({"eval", "exec", "compile", "globals", "locals", "vars", "breakpoint", "__import__"})
LENIENT_CALLS = frozenset({"eval", "exec", "compile", "breakpoint", "__import__"})
ATTR_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
OPEN_CALLS = frozenset({"open"})
_DUNDER_IN_TEXT = re.compile(r"__[A-Za-z]\w*?__")


@dataclass(frozen=True)
class Finding:
    """One refused construct and where it is."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def check_code(code: str, policy: ModePolicy, *, extra_imports: Iterable[str] = (),
               local_modules: Iterable[str] = ()) -> list[Finding]:
    """Findings for ``code`` under ``policy``; empty means it may run (syntax errors are left to Python)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []  # it cannot execute; Python will report the error with its own line number
    visitor = _Gate(policy, frozenset(extra_imports) | frozenset(local_modules))
    visitor.visit(tree)
    return sorted(set(visitor.findings), key=lambda f: (f.line, f.message))


class _Gate(ast.NodeVisitor):
    """Walks the tree once and collects findings; never raises."""

    def __init__(self, policy: ModePolicy, extra: frozenset[str]) -> None:
        self.policy = policy
        self.allowed = policy.imports | extra
        self.strict = policy.mode is SandboxMode.CODE
        self.findings: list[Finding] = []

    def _add(self, node: ast.AST, message: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), message))

    def _check_module(self, node: ast.AST, name: str) -> None:
        top = name.partition(".")[0]
        if top not in self.allowed:
            self._add(node, f"import of '{name}' is not allowed in {self.policy.mode.value} mode")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            # A code-mode script is not a package; a module (validate/integration) is one, and its relative
            # imports cannot leave it ("beyond top-level package" is an ImportError).
            if self.strict:
                self._add(node, "relative imports are not allowed in code mode")
        elif node.module:
            self._check_module(node, node.module)
        for alias in node.names:
            if alias.name == "*" and self.strict:
                self._add(node, "'from … import *' is not allowed in code mode")
            else:
                self._check_attr_name(node, alias.name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check_attr_name(node, node.attr)
        self.generic_visit(node)

    def _check_attr_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("__") and name.endswith("__") and name not in SAFE_DUNDERS:
            self._add(node, f"access to the special attribute '{name}' is not allowed")
        elif self.strict and name in REACH_THROUGH:
            self._add(node, f"attribute '{name}' reaches past the allowed modules")
        elif self.strict and name.startswith("_") and not name.startswith("__"):
            self._add(node, f"access to the private attribute '{name}' is not allowed in code mode")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__") and node.id.endswith("__") and node.id not in SAFE_DUNDERS:
            self._add(node, f"use of '{node.id}' is not allowed")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for match in _DUNDER_IN_TEXT.findall(node.value):
                if match not in SAFE_DUNDERS:
                    self._add(node, f"text naming the special attribute '{match}' is not allowed")
                    break

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        banned = STRICT_CALLS if self.strict else LENIENT_CALLS
        if name in banned:
            self._add(node, f"calling {name}() is not allowed in {self.policy.mode.value} mode")
        elif name in ATTR_CALLS:
            self._check_dynamic_attr(node, name)
        elif name in OPEN_CALLS or (isinstance(node.func, ast.Attribute) and node.func.attr == "open"):
            self._check_open(node)
        self.generic_visit(node)

    def _check_dynamic_attr(self, node: ast.Call, name: str) -> None:
        if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            if self.strict:
                self._add(node, f"{name}() with a computed attribute name is not allowed in code mode")
            return
        self._check_attr_name(node, node.args[1].value)

    def _check_open(self, node: ast.Call) -> None:
        if not self.policy.open_allowed:
            self._add(node, f"opening files is not allowed in {self.policy.mode.value} mode")
            return
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
            path = first.value.decode(errors="replace") if isinstance(first.value, bytes) else first.value
            if path.startswith(("/", "~")) or ".." in path.replace("\\", "/").split("/"):
                self._add(node, f"open() of '{path}', outside the workspace, is not allowed")
