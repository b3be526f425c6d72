"""Validate a module folder: schema, files, compile, AST gate, the adapter itself, its tests in the sandbox.

Every check is reported (pass or fail, with reasons that name the file and line); validation passes only
when all pass. Nothing here imports the module's code into the app: the adapter and the tests run in the
validation sandbox.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.modules.code_review import adapter_operations, review_hosts, review_tests
from nexus_core.modules.manifest import Manifest, ManifestError, file_hashes, load_manifest
from nexus_core.modules.worker import SDK_DIR, module_files
from nexus_core.sandbox import Limits, Sandbox, SandboxMode, check_code, policy_for

REPORT_MARKER = "NEXUS_VALIDATION_REPORT "
TEST_LIMITS = Limits(wall_s=60.0, cpu_s=60, memory_mb=768)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class ValidationReport:
    folder: Path
    manifest: Manifest | None
    checks: list[Check] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    sandbox: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "module": self.manifest.name if self.manifest else None,
                "version": self.manifest.version if self.manifest else None, "passed": self.passed,
                "checks": [asdict(c) for c in self.checks], "operations": self.operations,
                "duration_s": round(self.duration_s, 3), "sandbox": self.sandbox}

    def record(self) -> dict[str, Any]:
        """The manifest's ``validation`` section."""
        return {"validated_at": datetime.now(UTC).isoformat(), "passed": self.passed,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail[:2000]} for c in self.checks]}


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(relative: str) -> str:
    return Path(relative).with_suffix("").as_posix().replace("/", ".")


def validate_module(folder: Path | str, *, use_bubblewrap: bool | None = None,
                    limits: Limits = TEST_LIMITS) -> ValidationReport:
    """Run every check; later checks are skipped (and fail) when an earlier one makes them meaningless."""
    started = time.monotonic()
    folder = Path(folder)
    report = ValidationReport(folder, None)
    try:
        report.manifest = load_manifest(folder)
        report.checks.append(Check("manifest", True, f"{report.manifest.name} {report.manifest.version}"))
    except ManifestError as exc:
        report.checks.append(Check("manifest", False, exc.user_message()))
    except NexusError as exc:
        report.checks.append(Check("manifest", False, exc.user_message()))
    manifest = report.manifest
    if manifest is not None:
        report.checks.append(_check_files(folder, manifest))
    compiled = _check_compile(folder)
    report.checks.append(compiled)
    report.checks.append(_check_ast(folder, manifest))
    runnable = all(c.passed for c in report.checks)  # the static reviews below do not stop the test run
    if manifest is not None:
        report.checks += [_check_test_quality(folder, manifest), _check_hosts(folder, manifest)]
    if manifest is not None and runnable:
        adapter, tests, operations, sandbox = _run_tests(folder, manifest, use_bubblewrap, limits)
        report.checks += [adapter, tests]
        report.operations = operations
        report.sandbox = sandbox
    else:
        report.checks.append(Check("tests", False, "not run: fix the failures above first"))
    report.duration_s = time.monotonic() - started
    return report


def _check_files(folder: Path, manifest: Manifest) -> Check:
    problems = []
    for label, rel in (("entry_point", manifest.entry_point), ("test_file", manifest.test_file)):
        if not (folder / rel).is_file():
            problems.append(f"{label}: {rel} does not exist in the module folder")
        elif not all(part.isidentifier() for part in Path(rel).with_suffix("").parts):
            problems.append(f"{label}: {rel} is not importable (use letters, digits and '_')")
    declared = manifest.provenance.files
    if declared:
        actual = file_hashes(folder)
        changed = sorted(n for n in declared if n in actual and actual[n] != declared[n])
        missing = sorted(n for n in declared if n not in actual)
        extra = sorted(n for n in actual if n not in declared)
        if changed:
            problems.append("changed since the manifest was written: " + ", ".join(changed))
        if missing:
            problems.append("listed in the manifest but missing: " + ", ".join(missing))
        if extra:
            problems.append("not listed in the manifest's provenance: " + ", ".join(extra))
    return Check("files", not problems, "; ".join(problems) or "entry point, tests and file hashes match")


def _check_compile(folder: Path) -> Check:
    problems = []
    files = _python_files(folder)
    for path in files:
        rel = path.relative_to(folder).as_posix()
        try:
            compile(path.read_text(encoding="utf-8"), rel, "exec")
        except SyntaxError as exc:
            problems.append(f"{rel} line {exc.lineno}: {exc.msg}")
        except (UnicodeDecodeError, ValueError) as exc:
            problems.append(f"{rel}: {exc}")
    if not files:
        problems.append("the module has no Python files")
    return Check("compile", not problems, "; ".join(problems) or f"{len(files)} Python file(s) compile")


def _check_ast(folder: Path, manifest: Manifest | None) -> Check:
    policy = policy_for(SandboxMode.INTEGRATION if manifest and manifest.network_hosts else SandboxMode.VALIDATE)
    local = {manifest.name if manifest else folder.name, "nexus_sdk"}
    problems = []
    for path in _python_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            findings = check_code(path.read_text(encoding="utf-8"), policy, local_modules=local)
        except (UnicodeDecodeError, ValueError):
            continue  # the compile check reports it
        problems += [f"{rel} {finding}" for finding in findings]
    return Check("ast_gate", not problems, "; ".join(problems) or "no forbidden imports or constructs")


def _check_test_quality(folder: Path, manifest: Manifest) -> Check:
    test, entry = folder / manifest.test_file, folder / manifest.entry_point
    if not test.is_file() or not entry.is_file():
        return Check("test_quality", False, "not checked: the entry point or test file is missing")
    operations = adapter_operations(entry.read_text(encoding="utf-8", errors="replace"))
    findings = review_tests(test.read_text(encoding="utf-8", errors="replace"), file=manifest.test_file,
                            class_name=manifest.class_name, operations=operations)
    return Check("test_quality", not findings, "; ".join(map(str, findings))
                 or "every test asserts something about the real adapter")


def _check_hosts(folder: Path, manifest: Manifest) -> Check:
    findings = review_hosts(folder, manifest.network_hosts, test_file=manifest.test_file)
    return Check("hosts", not findings, "; ".join(map(str, findings)) or (
        f"the code's URLs use exactly the declared hosts ({', '.join(manifest.network_hosts)})"
        if manifest.network_hosts else "no network access declared or used"))


def _runner_source(manifest: Manifest) -> str:
    """The test runner: import the adapter, list its operations, run the module's tests; a JSON report last."""
    package = manifest.name
    entry = _module_name(manifest.entry_point)
    test = _module_name(manifest.test_file)
    return f'''import json
import sys
import traceback
import unittest

import nexus_sdk

report = {{"adapter": None, "operations": [], "tests": 0, "failures": [], "errors": [], "skipped": 0}}
try:
    import {package}.{entry}
    cls = nexus_sdk.ADAPTERS.get({manifest.class_name!r})
    if cls is None:
        report["adapter"] = "no adapter class {manifest.class_name} is registered (decorate it with @register_adapter)"
    else:
        report["operations"] = [spec.describe() for spec in cls.operations().values()]
except Exception:
    report["adapter"] = traceback.format_exc(limit=-4)
try:
    suite = unittest.defaultTestLoader.loadTestsFromName({f"{package}.{test}"!r})
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(suite)
    report["tests"] = result.testsRun
    report["skipped"] = len(result.skipped)
    report["failures"] = [f"{{case.id()}}: {{text.strip().splitlines()[-1]}}" for case, text in result.failures]
    report["errors"] = [f"{{case.id()}}: {{text.strip().splitlines()[-1]}}" for case, text in result.errors]
except Exception:
    report["errors"].append(traceback.format_exc(limit=-4))
print({REPORT_MARKER!r} + json.dumps(report))
'''


def _run_tests(folder: Path, manifest: Manifest, use_bubblewrap: bool | None, limits: Limits
               ) -> tuple[Check, Check, list[dict[str, Any]], str]:
    files: dict[str, str | bytes] = dict(module_files(folder, manifest.name))
    files.update({f"nexus_sdk/{p.name}": p.read_bytes() for p in sorted(SDK_DIR.glob("*.py"))})
    sandbox = Sandbox(SandboxMode.VALIDATE, limits=limits, use_bubblewrap=use_bubblewrap)
    strength = "bubblewrap" if sandbox.use_bubblewrap else "guard only (no bubblewrap)"
    result = sandbox.run_code(_runner_source(manifest), files=files, script_name="nexus_validate.py")
    line = next((ln for ln in reversed(result.stdout.splitlines()) if ln.startswith(REPORT_MARKER)), None)
    if line is None:
        why = result.limit_hit or (result.blocked[-1] if result.blocked else None)
        tail = result.stderr.strip().splitlines()[-3:]
        detail = (f"the test run was stopped: {why}" if why else "the test run ended without a report") + (
            f" ({' | '.join(tail)})" if tail else "")
        failed = Check("tests", False, detail)
        return Check("adapter", False, "not checked: " + detail), failed, [], strength
    data = json.loads(line[len(REPORT_MARKER):])
    adapter_problem = data.get("adapter")
    adapter = Check("adapter", not adapter_problem,
                    adapter_problem or f"{manifest.class_name} registered with {len(data['operations'])} operation(s): "
                    + ", ".join(op["name"] for op in data["operations"]))
    if adapter.passed and not data["operations"]:
        adapter = Check("adapter", False, f"{manifest.class_name} has no @operation methods")
    problems = data["failures"] + data["errors"]
    if result.blocked:
        problems += [f"the sandbox blocked {b}" for b in result.blocked]
    if data["tests"] == 0 and not problems:
        problems.append(f"{manifest.test_file} ran no tests")
    tests = Check("tests", not problems,
                  "; ".join(problems) or f"{data['tests']} test(s) passed"
                  + (f", {data['skipped']} skipped" if data["skipped"] else "") + f" in {result.duration_s:.1f} s")
    return adapter, tests, data["operations"], strength
