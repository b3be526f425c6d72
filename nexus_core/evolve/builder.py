"""The module builder: a request in words → the code-generation model writes a module from the current
template → the module system validates it (sandbox mode 2) → failures go back to the model, at most three
fix rounds → a module folder ready for the user's approval, or a clear report of why it stopped.

Nothing here installs anything: ``install_build`` does that only when the caller has the user's approval.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nexus_core.errors import NexusError
from nexus_core.evolve.output import BuildOutput, BuildOutputError, parse_build
from nexus_core.evolve.records import BuildRecords
from nexus_core.evolve.templates import Template, TemplateStore
from nexus_core.modules.manifest import CATEGORIES, Manifest, file_hashes
from nexus_core.modules.validate import Check, ValidationReport
from nexus_core.providers.types import ChatMessage
from nexus_core.routing.classify import TaskType
from nexus_core.routing.router import RouteDecision

log = logging.getLogger(__name__)

MAX_FIX_ROUNDS = 3
MAX_FORMAT_REPAIRS = 2
MODEL_TIMEOUT_S = 600.0
CATEGORY_OF_CHECK = {"format": "syntax", "manifest": "syntax", "compile": "syntax", "files": "syntax",
                     "ast_gate": "security", "hosts": "security", "test_quality": "test", "adapter": "test",
                     "tests": "test", "integration_check": "test"}


class BuildError(NexusError):
    """A build cannot start (no model assigned, no template)."""


@dataclass
class BuildRound:
    number: int  # 0: the first attempt; 1-3: fix rounds
    problems: list[str]
    model_s: float
    check_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.number, "problems": self.problems, "model_s": round(self.model_s, 3),
                "check_s": round(self.check_s, 3)}


@dataclass
class BuildEvent:
    """Progress for the chat, the CLI and the panels: what the builder is doing now."""

    stage: str  # writing | validating | fixing | ready | failed
    message: str
    round: int = 0


@dataclass
class BuildResult:
    description: str
    status: str = "failed"  # ready | failed | cancelled
    folder: Path | None = None
    output: BuildOutput | None = None
    manifest: Manifest | None = None
    report: ValidationReport | None = None
    rounds: list[BuildRound] = field(default_factory=list)
    category: str | None = None
    model: str | None = None
    template_version: int | None = None
    seconds: float = 0.0
    model_seconds: float = 0.0
    message: str = ""
    build_id: int | None = None
    model_calls: int = 0

    @property
    def fix_rounds(self) -> int:
        return max(0, len(self.rounds) - 1)

    @property
    def cycle_seconds(self) -> float:
        """The builder's own time: everything except waiting for the model."""
        return self.seconds - self.model_seconds

    @property
    def integration_check(self) -> tuple[str, dict[str, Any]] | None:
        check = self.output.spec.integration_check if self.output else None
        return (check.operation, check.arguments) if check else None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "description": self.description, "message": self.message,
                "module": self.manifest.name if self.manifest else None,
                "folder": str(self.folder) if self.folder else None, "category": self.category,
                "fix_rounds": self.fix_rounds, "model": self.model, "template_version": self.template_version,
                "seconds": round(self.seconds, 3), "model_seconds": round(self.model_seconds, 3),
                "rounds": [r.to_dict() for r in self.rounds], "model_calls": self.model_calls,
                "integration_check": self.output.spec.integration_check.model_dump()
                if self.output and self.output.spec.integration_check else None,
                "validation": self.report.to_dict() if self.report else None, "build_id": self.build_id}


def categorise(problems: list[Check]) -> str:
    """The failure category of a round from its first failing check (timeouts win: they hide the rest)."""
    if any("limit" in c.detail and "stopped" in c.detail for c in problems):
        return "timeout"
    for check in problems:
        if check.name in CATEGORY_OF_CHECK:
            return CATEGORY_OF_CHECK[check.name]
    return "test"


class ModuleBuilder:
    def __init__(self, router: Any, aio: Any, modules: Any, templates: TemplateStore, builds_dir: Path,
                 records: BuildRecords | None = None, *, max_fix_rounds: int = MAX_FIX_ROUNDS) -> None:
        self.router = router
        self.aio = aio
        self.modules = modules
        self.templates = templates
        self.builds_dir = builds_dir
        self.records = records
        self.max_fix_rounds = max_fix_rounds
        self._results: dict[int, BuildResult] = {}  # this session's builds, by id, for the approval step

    def result(self, build_id: int) -> BuildResult | None:
        """A build of this session (the chat's approval dialog installs from it)."""
        return self._results.get(build_id)

    # ---- the model ---------------------------------------------------------------------------------

    def _route(self, model: str | None) -> RouteDecision:
        from nexus_core.routing.classify import Tier

        if model:
            return RouteDecision(TaskType.CODE_GENERATION, Tier.HEAVY.value, [model], "chosen for this build",
                                 "override")
        candidates = self.router.candidates(TaskType.CODE_GENERATION, Tier.HEAVY)
        return RouteDecision(TaskType.CODE_GENERATION, Tier.HEAVY.value, candidates,
                             "module builds use the code-generation model", "rules")

    def _ask(self, route: RouteDecision, messages: list[ChatMessage]) -> tuple[str, str | None]:
        return self.aio.run(self.router.complete(route, messages, module_context="evolve.builder", temperature=0.2),
                            timeout=MODEL_TIMEOUT_S)

    @staticmethod
    def prompt(template: Template, description: str) -> list[ChatMessage]:
        examples = template.examples_for(description)
        shown = "".join(f"\n\n### Example that passed: {pattern}\n```python\n{source.rstrip()}\n```"
                        for pattern, source in examples.items())
        system = (f"{template.read('guide.md').rstrip()}\n\n## Template (version {template.version})\n\n"
                  f"### adapter.py\n```python\n{template.read('adapter.py').rstrip()}\n```\n\n"
                  f"### test_adapter.py\n```python\n{template.read('test_adapter.py').rstrip()}\n```{shown}")
        return [ChatMessage("system", system),
                ChatMessage("user", f"Build a module for this request:\n\n{description.strip()}")]

    # ---- one build ---------------------------------------------------------------------------------

    def build(self, description: str, *, origin: str = "user", model: str | None = None,
              progress: Callable[[BuildEvent], None] | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> BuildResult:
        """Write, validate and fix until the module passes or the fix rounds run out."""
        started, wall = time.time(), time.perf_counter()
        result = BuildResult(description)
        tell = progress or (lambda _event: None)
        try:
            template = self.templates.current()
        except FileNotFoundError as exc:
            raise BuildError(str(exc), hint="Reinstall Nexus Studio: its module template is missing.") from None
        result.template_version = template.version
        route = self._route(model)  # raises NOT_CONFIGURED (with where to fix it) before any work
        messages = self.prompt(template, description)
        answer = ""
        for number in range(self.max_fix_rounds + 1):
            if should_stop():
                result.status, result.message = "cancelled", "stopped before the build finished"
                break
            tell(BuildEvent("writing" if number == 0 else "fixing",
                            "The model is writing the module…" if number == 0 else
                            f"The model is fixing the module (round {number} of {self.max_fix_rounds})…", number))
            answer, output, model_s, format_problems = self._answer(route, messages, result)
            round_ = BuildRound(number, [], model_s, 0.0)
            result.rounds.append(round_)
            if output is None:
                round_.problems = format_problems
                failing = [Check("format", False, format_problems[-1])]
            else:
                tell(BuildEvent("validating", "Validating in the sandbox (schema, compile, code gate, tests)…",
                                number))
                checked = time.perf_counter()
                failing = self._write_and_validate(output, result)
                round_.check_s = time.perf_counter() - checked
                round_.problems = [f"{c.name}: {c.detail}" for c in failing]
            if not failing:
                result.status, result.category = "ready", None  # earlier rounds' problems stay in ``rounds``
                result.message = (f"{result.manifest.display_name if result.manifest else 'The module'} passed "
                                  f"validation after {result.fix_rounds} fix round(s); it waits for your approval.")
                break
            result.category = categorise(failing)
            messages = [*messages[:2], ChatMessage("assistant", answer), ChatMessage("user", _feedback(failing))]
        else:
            result.message = (f"The build stopped after {self.max_fix_rounds} fix rounds; the last problems: "
                              + "; ".join(result.rounds[-1].problems)[:1500])
        if result.status != "ready" and result.status != "cancelled":
            result.status = "failed"
        result.seconds = time.perf_counter() - wall
        tell(BuildEvent(result.status if result.status != "cancelled" else "failed", result.message,
                        result.fix_rounds))
        self._record(result, origin, started)
        return result

    def _answer(self, route: RouteDecision, messages: list[ChatMessage], result: BuildResult
                ) -> tuple[str, BuildOutput | None, float, list[str]]:
        """One answer in the agreed shape; a malformed one is sent back (at most twice) before it counts as a
        failed round."""
        problems: list[str] = []
        answer = ""
        model_s = 0.0
        asked = list(messages)
        for _repair in range(MAX_FORMAT_REPAIRS + 1):
            began = time.perf_counter()
            answer, used = self._ask(route, asked)
            result.model_calls += 1
            model_s += time.perf_counter() - began
            result.model_seconds += time.perf_counter() - began
            result.model = used or result.model
            try:
                return answer, parse_build(answer), model_s, problems
            except BuildOutputError as exc:
                problems.append(f"format: {exc}")
                asked = [*messages, ChatMessage("assistant", answer[:4000]),
                         ChatMessage("user", f"That answer cannot be used: {exc}. Answer again with exactly the "
                                             "### module.json, ### adapter.py and ### test_adapter.py sections.")]
        return answer, None, model_s, problems

    def _write_and_validate(self, output: BuildOutput, result: BuildResult) -> list[Check]:
        spec = output.spec
        folder = self.builds_dir / (spec.name or "module")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for rel, source in output.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(source, encoding="utf-8")
        result.folder, result.output = folder, output
        try:
            manifest = Manifest.model_validate({
                "name": spec.name, "version": self._next_version(spec.name), "category":
                    spec.category if spec.category in CATEGORIES else "other", "platform": spec.platform,
                "display_name": spec.display_name, "description": spec.description, "entry_point": "adapter.py",
                "class_name": spec.class_name, "python_dependencies": ["httpx", "pydantic"],
                "test_file": "test_adapter.py", "credentials": [c.model_dump() for c in spec.credentials],
                "network_hosts": spec.network_hosts, "config": spec.config,
                "provenance": {"built_by": "agent", "model": result.model, "created_at": datetime.now(UTC),
                               "files": file_hashes(folder)}})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:6])
            result.manifest, result.report = None, None
            return [Check("manifest", False, f"module.json does not make a valid manifest: {problems}")]
        manifest.write(folder)
        result.manifest = manifest
        report = self.modules.validate(folder)
        result.report = report
        failing = report.failures()
        check = spec.integration_check
        names = {op.get("name") for op in report.operations}
        if check is None:
            failing.append(Check("integration_check", False, "module.json has no integration_check (one harmless "
                                                             "real call to make after installing)"))
        elif report.operations and check.operation not in names:
            failing.append(Check("integration_check", False, f"integration_check names {check.operation!r}, which "
                                                             f"is not an operation ({', '.join(sorted(names))})"))
        return failing

    def _next_version(self, name: str) -> str:
        """1.0.0 for a new module; one minor version above the newest installed one otherwise."""
        try:
            installed = [v for v, _at in self.modules.registry.versions(name)]
        except (NexusError, KeyError, AttributeError):
            installed = []
        if not installed:
            return "1.0.0"
        major, minor = max(tuple(int(x) for x in v.split(".")[:2]) for v in installed)
        return f"{major}.{minor + 1}.0"

    def _record(self, result: BuildResult, origin: str, started: float) -> None:
        if self.records is None:
            return
        result.build_id = self.records.add(
            origin=origin, description=result.description, started_at=started,
            name=result.manifest.name if result.manifest else (result.output.spec.name if result.output else None),
            status=result.status, category=None if result.status == "ready" else result.category,
            fix_rounds=result.fix_rounds, model=result.model, template_version=result.template_version,
            folder=str(result.folder) if result.folder else None, seconds=result.seconds,
            model_seconds=result.model_seconds, report=result.to_dict())
        self._results[result.build_id] = result


def _feedback(failing: list[Check]) -> str:
    lines = "\n".join(f"- {c.name}: {c.detail}" for c in failing)
    return (f"The module did not pass validation:\n{lines}\n\nFix every problem above and answer again with all "
            "three sections (### module.json, ### adapter.py, ### test_adapter.py).")
