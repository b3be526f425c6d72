"""Static review of a module's code beyond the sandbox's AST gate: do its tests test anything, and does it talk
to the hosts its manifest declares — no more, no fewer.

Generated modules are the audience: a model under pressure to make tests pass writes tests without
assertions, asserts constants, or mocks the adapter it should be testing; and it may call a host it did not
declare (the sandbox would block the call) or declare hosts it never uses (a wider grant than needed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

URL_RE = re.compile(r"\bhttps?://([^/\s\"'?#]+)")
MOCK_FACTORIES = {"Mock", "MagicMock", "AsyncMock", "NonCallableMock", "create_autospec"}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.message}"


# ---- tests -------------------------------------------------------------------------------------------


def _local_names(function: ast.AST) -> set[str]:
    """Parameters and names bound inside ``function``: values a test computed, unlike module-level names."""
    names: set[str] = set()
    if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        names |= {a.arg for a in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names - {"self", "cls"}


def _computed(node: ast.AST, local_names: set[str]) -> bool:
    """Whether an assertion argument depends on something the test ran (a call or a local value)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call | ast.Await):
            return True
        if isinstance(inner, ast.Name) and inner.id in local_names:
            return True
    return False


def _assertion_kind(node: ast.AST, local_names: set[str]) -> str | None:
    """'real' for an assertion about something the test computed, 'constant' for one about literals or
    module-level names only (it can never fail), else None (not an assertion)."""
    if isinstance(node, ast.Assert):
        return "real" if _computed(node.test, local_names) else "constant"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        name = node.func.attr
        if name.startswith("assertRaises") or name == "fail":
            return "real"
        if name.startswith("assert"):
            args = list(node.args) + [k.value for k in node.keywords]
            return "real" if any(_computed(a, local_names) for a in args) else "constant"
    return None


def _called_names(function: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def _functions(tree: ast.AST) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _asserting_functions(functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]) -> set[str]:
    """Functions that assert something real, directly or through helpers they call (to a fixed point)."""
    asserting = {name for name, fn in functions.items()
                 if any(_assertion_kind(n, _local_names(fn)) == "real" for n in ast.walk(fn))}
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            if name not in asserting and _called_names(fn) & asserting:
                asserting.add(name)
                changed = True
    return asserting


def _target_text(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # unparse of odd nodes
        return ""


def review_tests(source: str, *, file: str, class_name: str, operations: set[str]) -> list[Finding]:
    """Tests that cannot fail, or that replace the adapter they are meant to test."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the compile check reports it
    findings: list[Finding] = []
    functions = _functions(tree)
    asserting = _asserting_functions(functions)
    tests = {name: fn for name, fn in functions.items() if name.startswith("test")}
    if not tests:
        findings.append(Finding(file, 1, "defines no test functions (test_…)"))
    for name, fn in sorted(tests.items(), key=lambda item: item[1].lineno):
        if name in asserting:
            continue
        kinds = {_assertion_kind(n, _local_names(fn)) for n in ast.walk(fn)} - {None}
        why = "asserts only constants (it can never fail)" if "constant" in kinds else "has no assertion"
        findings.append(Finding(file, fn.lineno, f"{name} {why}"))
    if not re.search(rf"\b{re.escape(class_name)}\b", source):
        findings.append(Finding(file, 1, f"never uses the adapter class {class_name}"))
    replaced = operations | {"call", class_name}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = _target_text(node.func)
            if func.endswith("patch.object") and node.args and _target_text(node.args[0]).split(".")[-1] in (
                    {class_name} | {"self", "adapter", "instance"}):
                findings.append(Finding(file, node.lineno, f"patches the adapter itself ({_target_text(node)[:80]}); "
                                                           "mock the HTTP layer (httpx.MockTransport) instead"))
            elif func.endswith("patch") and node.args and isinstance(node.args[0], ast.Constant) and \
                    isinstance(node.args[0].value, str) and class_name in node.args[0].value.split("."):
                findings.append(Finding(file, node.lineno, f"patches the adapter itself ({node.args[0].value}); "
                                                           "mock the HTTP layer instead"))
            elif func.split(".")[-1] in MOCK_FACTORIES and any(
                    class_name in _target_text(arg).split(".")
                    for arg in [*node.args, *(k.value for k in node.keywords)]):
                findings.append(Finding(file, node.lineno, f"builds a mock of {class_name} instead of testing it"))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in replaced and \
                        not _target_text(target).startswith(("self.assert", "cls.")):
                    findings.append(Finding(file, node.lineno, f"replaces the adapter's {target.attr!r} in the test; "
                                                               "test the real operation against mocked HTTP"))
    return findings


def adapter_operations(source: str) -> set[str]:
    """Names of the methods decorated with @operation."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if _target_text(target).split(".")[-1] == "operation":
                    names.add(node.name)
    return names


# ---- hosts -------------------------------------------------------------------------------------------


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants, with f-strings joined and their holes written as '{}'."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                           for v in node.values)
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def _normalise(host: str) -> str:
    """'{lang}.wikipedia.org' → '*.wikipedia.org'; ports and user info dropped; lower case."""
    host = host.rsplit("@", 1)[-1].lower()
    host = re.sub(r"\{[^}]*\}", "*", host)
    return host.split(":", 1)[0] if not host.startswith("[") else host


def _covers(declared: str, used: str) -> bool:
    declared, used = declared.lower(), used.lower()
    if declared == used:
        return True
    if declared.startswith("*."):
        suffix = declared[1:]
        return used.endswith(suffix) and used != suffix[1:]
    return False


def used_hosts(files: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Host → (file, line) of its first URL literal in the given sources."""
    hosts: dict[str, tuple[str, int]] = {}
    for name, source in sorted(files.items()):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for line, text in _strings(tree):
            for match in URL_RE.finditer(text):
                host = _normalise(match.group(1))
                if not host or ("*" in host and not (host.startswith("*.") and "*" not in host[2:])):
                    continue  # built entirely at run time (from config): the sandbox still enforces the list
                hosts.setdefault(host, (name, line))
    return hosts


def review_hosts(folder: Path, declared: list[str], *, test_file: str) -> list[Finding]:
    """Hosts the code's URLs name but the manifest does not declare, and declared hosts no URL names."""
    sources = {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8", errors="replace")
               for p in sorted(folder.rglob("*.py")) if "__pycache__" not in p.parts}
    code = {name: text for name, text in sources.items() if name != test_file and not Path(name).name.startswith(
        "test")}
    used = used_hosts(code)
    findings = []
    for host, (file, line) in sorted(used.items()):
        if not any(_covers(_normalise(d), host) for d in declared):
            findings.append(Finding(file, line, f"calls {host}, which network_hosts does not declare"))
    for host in declared:
        if not any(_covers(_normalise(host), u) or _normalise(host) == u for u in used):
            findings.append(Finding("manifest.json", 1, f"declares {host} but no URL in the code uses it"))
    return findings
