"""After approval: install the built module, then one real call (sandbox mode 3, the module's own worker)
before it counts as live. A module whose real call fails is disabled again, with the reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.evolve.builder import BuildResult
from nexus_core.evolve.records import BuildRecords


@dataclass
class IntegrationOutcome:
    status: str  # live | needs_credentials | failed
    module: str
    detail: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "module": self.module, "detail": self.detail,
                "value": json.loads(json.dumps(self.value, default=str)) if self.value is not None else None}


def approval_facts(result: BuildResult, modules: Any) -> dict[str, Any]:
    """What the approver must see before saying yes: identity, reach, isolation, evidence, the code."""
    if result.status != "ready" or result.manifest is None or result.folder is None or result.report is None:
        raise NexusError("Only a build that passed validation can be installed.",
                         hint="Build it again, or fix the module by hand and validate it.")
    manifest = result.manifest
    tests = next((c.detail for c in result.report.checks if c.name == "tests"), "")
    code = {p.relative_to(result.folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(result.folder.rglob("*.py")) if "__pycache__" not in p.parts}
    return {"name": manifest.name, "display_name": manifest.display_name, "version": manifest.version,
            "description": manifest.description, "platform": manifest.platform,
            "hosts": list(manifest.network_hosts), "credentials": [c.label + ("" if c.required else " (optional)")
                                                                   for c in manifest.credentials],
            "files": "none: modules run without file-system access",
            "sandbox": result.report.sandbox or ("bubblewrap" if getattr(modules, "use_bubblewrap", None)
                                                 else "guard only"),
            "tests": tests, "checks": [(c.name, c.passed, c.detail) for c in result.report.checks],
            "operations": [op.get("name") for op in result.report.operations], "code": code,
            "fix_rounds": result.fix_rounds, "model": result.model, "folder": str(result.folder)}


def install_build(modules: Any, result: BuildResult, *, approved_by: str = "user",
                  records: BuildRecords | None = None) -> Any:
    """Install an approved build (validated again on the way in); returns the module's status."""
    approval_facts(result, modules)  # refuses builds that did not pass
    assert result.folder is not None
    status = modules.install(result.folder, approved_by=approved_by)
    if records is not None and result.build_id is not None:
        records.set_status(result.build_id, "installed")
    return status


def reject_build(result: BuildResult, records: BuildRecords | None = None) -> None:
    if records is not None and result.build_id is not None:
        records.set_status(result.build_id, "rejected")


def integration_test(modules: Any, result: BuildResult, records: BuildRecords | None = None) -> IntegrationOutcome:
    """The build's own integration check, for real: credentials first; a failure disables the module."""
    assert result.manifest is not None
    name = result.manifest.name
    missing = modules.missing_credentials(modules.registry.record(name))
    if missing:
        return IntegrationOutcome("needs_credentials", name, f"set {', '.join(missing)} for {name}, then run the "
                                                             "integration test")
    check = result.integration_check
    if check is None:
        return IntegrationOutcome("failed", name, "the build has no integration check")
    operation, arguments = check
    try:
        value = modules.call(name, operation, arguments)
    except NexusError as exc:
        modules.disable(name)
        if records is not None and result.build_id is not None:
            records.set_status(result.build_id, "installed", "protocol")
        return IntegrationOutcome("failed", name, f"{operation} failed for real: {exc.what} (the module was "
                                                  "disabled; fix the service settings or rebuild it)")
    return IntegrationOutcome("live", name, f"{operation} answered; {name} is live as a chat tool", value)
