"""Diagnostics for bug reports: versions, system, GPU and driver, the data folder, settings, providers, routing,
modules, jobs and the log's last problems — with no secret in it. Keys are reported only as "stored" or "not
stored"; every known secret (the credential store's, registered as they are read) is masked again at the end, and
URL credentials and token-like words are cut."""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path
from typing import Any

from nexus_core import __version__
from nexus_core.logs import redact

_URL_CREDENTIALS = re.compile(r"(https?://)[^/@\s]+@")
_SETTINGS_SKIPPED = {"chat_system_prompt"}  # long and personal, not diagnostic
LOG_LINES = 40


def collect(core: Any) -> str:
    """The report as plain text (Markdown-friendly), ready to paste into an issue."""
    from nexus_core.runtime import heavy_modules_loaded, installed_versions

    lines = [f"# Nexus Studio {__version__} diagnostics", "",
             f"- system: {platform.platform()} ({platform.machine()}), Python {platform.python_version()}",
             f"- data folder: {core.paths.root}", f"- store schema: {core.store.schema_version}"]
    status = core.telemetry.open()
    gpu = ", ".join(status.device_names) if status.available else f"none ({status.reason})"
    lines.append(f"- GPU: {gpu}" + (f", driver {status.driver_version}" if status.driver_version else ""))
    if "torch" in sys.modules:  # only when already imported: importing it here would take seconds
        torch = sys.modules["torch"]
        lines.append(f"- torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    lines.append(f"- heavy libraries loaded: {', '.join(heavy_modules_loaded()) or 'none'}")
    lines += ["", "## Libraries", *(f"- {name}: {version or 'not installed'}"
                                    for name, version in installed_versions().items())]
    lines += ["", "## Settings"]
    for name, value in sorted(core.settings.model_dump(mode="json").items()):
        if name not in _SETTINGS_SKIPPED:
            lines.append(f"- {name}: {value}")
    lines += ["", "## Providers"]
    for config in core.providers.configs():
        key = "key stored" if _has_key(core, config.name) else "no key stored"
        where = config.base_url or config.folder or "(default URL)"
        lines.append(f"- {config.name}: {config.kind}, {where}, {'enabled' if config.enabled else 'disabled'}, "
                     f"{key}, models: {', '.join(config.models[:10]) or 'none listed'}")
    table = core.routing.table
    lines += ["", "## Routing"]
    for tier, assignment in sorted(table.tiers.items()):
        lines.append(f"- tier {tier}: {assignment.model} (fallbacks: {', '.join(assignment.fallbacks) or 'none'})")
    for task, assignment in sorted(table.tasks.items()):
        lines.append(f"- task {task}: {assignment.model} (fallbacks: {', '.join(assignment.fallbacks) or 'none'})")
    lines += ["", "## Modules"]
    lines += [f"- {s.name} {s.version}: {s.state}, health {s.health}" for s in core.modules.statuses()] or ["- none"]
    lines += ["", "## Recent jobs"]
    lines += [f"- {j.name}: {j.state.value}" + (f" — {(j.error or '').splitlines()[0]}" if j.error else "")
              for j in core.runner.jobs()[-15:]] or ["- none"]
    lines += ["", "## Last warnings and errors in the log", *_log_problems(core.paths.log_file)]
    return clean("\n".join(lines)) + "\n"


def clean(text: str) -> str:
    """Mask known secrets and credentials in URLs (the last guard before text leaves the app)."""
    return _URL_CREDENTIALS.sub(r"\1***@", redact(text))


def _has_key(core: Any, name: str) -> bool:
    try:
        return bool(core.providers.has_stored_key(name))
    except Exception:  # a locked or damaged credential store must not stop the report
        return False


def _log_problems(log_file: Path) -> list[str]:
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ["- (no log file)"]
    problems = [line for line in lines if " WARNING " in line or " ERROR " in line]
    return [f"    {line[:300]}" for line in problems[-LOG_LINES:]] or ["- none"]
