"""The core stays Qt-free and light: importing it never pulls in Qt, the app, or torch."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CORE = REPO_ROOT / "nexus_core"
FORBIDDEN = ("PySide6", "shiboken6", "qasync", "pyqtgraph", "app", "torch")
CORE_MODULES = ("nexus_core.core", "nexus_core.cli", "nexus_core.jobs", "nexus_core.telemetry",
                "nexus_core.store")


def _forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN


def test_importing_the_core_loads_no_qt_app_or_torch() -> None:
    script = (
        "import json, sys\n"
        f"import {', '.join(CORE_MODULES)}\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(CORE_MODULES) <= set(loaded)
    leaked = sorted(name for name in loaded if _forbidden(name))
    assert leaked == [], f"importing the core loaded {leaked}"


QT_AND_APP = ("PySide6", "shiboken6", "qasync", "pyqtgraph", "app")
HEAVY = ("torch",)  # allowed only inside a function (imported lazily by the feature that needs it)


def _imports(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, module, inside_a_function) for every absolute import, import_module("x") and __import__("x")."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, in_function))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
              in ("import_module", "__import__")):
            found.append((node.lineno, node.args[0].value, in_function))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _violations(tree: ast.AST) -> list[tuple[int, str]]:
    bad = []
    for line, module, in_function in _imports(tree):
        top = module.split(".")[0]
        if top in QT_AND_APP or (top in HEAVY and not in_function):
            bad.append((line, module))
    return bad


def test_no_core_source_file_imports_qt_or_the_app_and_torch_only_lazily() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    violations = [f"{path.relative_to(REPO_ROOT)}:{line}: imports {module}"
                  for path in files
                  for line, module in _violations(ast.parse(path.read_text(encoding="utf-8"), str(path)))]
    assert violations == [], "\n".join(violations)


def test_the_static_check_catches_forbidden_imports() -> None:
    source = ("import os\n"
              "from PySide6.QtCore import QObject\n"
              "import torch.nn\n"
              "def f():\n"
              "    import torch.cuda\n"
              "    from app import main\n"
              "    return importlib.import_module('pyqtgraph')\n")
    assert _violations(ast.parse(source)) == [(2, "PySide6.QtCore"), (3, "torch.nn"), (6, "app"),
                                              (7, "pyqtgraph")]
