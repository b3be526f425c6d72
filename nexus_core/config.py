"""Application settings: a pydantic model persisted as JSON in the data folder.

A damaged settings file never stops the app: invalid values fall back to their defaults one field at
a time, the damaged file is kept beside the new one, and every problem is reported with the file,
line or field, and what to do.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus_core.atomic import atomic_write_json, stamped_sibling

log = logging.getLogger(__name__)

SETTINGS_SCHEMA_VERSION = 1
ThemeName = Literal["system", "light", "dark"]


class Settings(BaseModel):
    """Every option the app has. Each field's description is shown to the user in the settings UI."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int = Field(SETTINGS_SCHEMA_VERSION, description="Settings file format version.")
    theme: ThemeName = Field("system", description="Colour theme: follow the system, or force light/dark.")
    monitor_interval_s: float = Field(1.0, ge=0.25, le=5.0,
                                      description="How often the GPU/CPU monitor samples, in seconds.")
    monitor_window_s: float = Field(600.0, ge=30.0, le=3600.0,
                                    description="How much monitor history is kept in memory, in seconds.")
    max_thread_jobs: int = Field(4, ge=1, le=64, description="Background jobs run at once in threads.")
    max_process_jobs: int = Field(2, ge=1, le=16, description="Background jobs run at once in processes.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Detail written to the log file.")
    workspace_dir: Path | None = Field(None, description="Folder the agent's file tools may use.")
    model_folders: list[Path] = Field(default_factory=list, description="Folders the Models panel scans for "
                                      "local models (the Hugging Face cache too, unless switched off below).")
    scan_hf_cache: bool = Field(True, description="Also list the models in the Hugging Face cache.")
    web_fetch_allow_private: bool = Field(False, description="Let the web-fetch tool read addresses on this "
                                          "computer and the local network (off: a web page cannot steer the model "
                                          "into your router or local services).")
    chat_system_prompt: str = Field("You are Nexus, a helpful assistant running in Nexus Studio. Answer clearly; "
                                    "use Markdown, and fenced code blocks for code.",
                                    max_length=20000, description="The system prompt every chat starts with.")
    evolve_enabled: bool = Field(False, description="Let the co-evolution loop practise building modules in the "
                                 "background (challenges against local mock services; it uses model calls).")
    evolve_daily_calls: int = Field(30, ge=1, le=10000, description="Model calls the co-evolution loop may make "
                                    "per day (curriculum and builds together).")
    evolve_interval_min: float = Field(30.0, ge=1.0, le=1440.0, description="Minutes between background "
                                       "co-evolution rounds while it is on.")
    metrics_port: int | None = Field(None, ge=0, le=65535, description="Serve Prometheus metrics on this port "
                                     "(off when empty; 9464 is the usual one).")
    metrics_address: str = Field("127.0.0.1", description="Address the metrics endpoint listens on: loopback "
                                 "unless you want other machines to scrape it.")
    otlp_endpoint: str | None = Field(None, description="Send each LLM call as an OpenTelemetry span to this OTLP/HTTP "
                                      "collector (e.g. http://127.0.0.1:4318); off when empty.")
    otlp_header_names: list[str] = Field(default_factory=list, description="Headers sent with the OTLP spans (e.g. "
                                         "Authorization); their values live in the credential store (nexus metrics "
                                         "otlp-header NAME), never here.")
    server_enabled: bool = Field(False, description="Start the local OpenAI-compatible server with the app.")
    server_host: str = Field("127.0.0.1", description="Address the local server listens on: loopback unless other "
                             "machines must reach it (they still need its token).")
    server_port: int = Field(6398, ge=0, le=65535, description="Port of the local server (0 picks a free one).")
    server_cors_origins: list[str] = Field(default_factory=list, description="Web origins (e.g. http://localhost:3000) "
                                           "whose pages may call the local server from a browser; '*' allows any. "
                                           "Empty: cross-origin requests are refused.")
    server_agent_risky_tools: bool = Field(False, description="Let nexus/agent requests run installed modules' "
                                           "risky tools without asking (no one is there to approve them).")
    calls_retention_days: float = Field(90.0, ge=1.0, le=3650.0, description="Days LLM call records are kept one "
                                        "by one; older ones are rolled up into daily totals at start-up.")
    image_model: Path | None = Field(None, description="The diffusers folder the image tool and the Media panel "
                                     "draw with (default: the first text-to-image pipeline the Models panel found).")
    voice: str | None = Field(None, description="The voice that reads chat answers aloud (default: espeak-ng "
                              "en-us).")
    sandbox_code_time_s: float = Field(30.0, ge=1.0, le=600.0, description="How long the code interpreter may run "
                                       "a model-written program, in seconds (CPU time and wall clock).")
    sandbox_code_memory_mb: int = Field(256, ge=32, le=16384, description="Memory the code interpreter's sandbox "
                                        "may use, in MB.")
    sandbox_require_bubblewrap: bool = Field(False, description="Run model-written code only inside bubblewrap; "
                                             "without it the code interpreter refuses instead of falling back to the "
                                             "weaker sandbox (limits and import checks only).")
    first_run_done: bool = Field(False, description="The first-run wizard has been finished or skipped in this data "
                                 "folder (Help → Set-up wizard runs it again).")

    def unknown_fields(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())


@dataclass
class LoadedSettings:
    settings: Settings
    problems: list[str] = field(default_factory=list)
    backup: Path | None = None


def load_settings(path: Path) -> LoadedSettings:
    """Read settings, repairing what is damaged and reporting each problem; never raises on bad input."""
    if not path.exists():
        return LoadedSettings(Settings())
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return _defaults_instead(path, f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})")
    except (OSError, UnicodeDecodeError) as exc:
        return _defaults_instead(path, f"could not be read ({exc})")
    except (ValueError, RecursionError) as exc:  # absurdly long numbers, absurdly deep nesting
        return _defaults_instead(path, f"cannot be read as settings ({type(exc).__name__}: {str(exc)[:120]})")
    if not isinstance(raw, dict):
        return _defaults_instead(path, f"expected a JSON object of settings, found {type(raw).__name__}")
    return _validate_per_field(path, raw)


def _defaults_instead(path: Path, reason: str) -> LoadedSettings:
    backup = _keep_damaged(path)
    return LoadedSettings(Settings(), [
        f"{path}, {reason}. Defaults are in use; the damaged file was kept as {backup} so you can copy "
        "values back."], backup)


def _validate_per_field(path: Path, raw: dict[str, Any]) -> LoadedSettings:
    problems: list[str] = []
    data = dict(raw)
    settings: Settings | None = None
    for _ in range(len(Settings.model_fields) + 1):
        try:
            settings = Settings.model_validate(data)
            break
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "?"
                if name in data:
                    problems.append(
                        f"{path}: setting '{name}' = {data[name]!r} is invalid ({error['msg']}); "
                        f"using the default {Settings.model_fields[name].default!r}. "
                        f"Fix it in the settings dialog or in the file.")
                    data.pop(name)
    if settings is None:  # pragma: no cover - every invalid field has been dropped above
        settings = Settings()
    backup = _keep_damaged(path) if problems else None
    for name in settings.unknown_fields():
        problems.append(f"{path}: unknown setting '{name}' is ignored (kept in the file for newer versions).")
    if settings.schema_version > SETTINGS_SCHEMA_VERSION:
        problems.append(f"{path}: written by a newer Nexus Studio (settings format {settings.schema_version}); "
                        f"settings this version does not know are kept unchanged.")
    return LoadedSettings(settings, problems, backup)


def first_run_pending(path: Path) -> bool:
    """Whether the first-run wizard should open: no settings file yet, or one not marked done. A damaged file is
    not a reason (opening the data folder reports and repairs it)."""
    if not path.exists():
        return True
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(raw, dict) and raw.get("first_run_done") is not True


def save_settings(path: Path, settings: Settings) -> None:
    atomic_write_json(path, settings.model_dump(mode="json"))


def _keep_damaged(path: Path) -> Path:
    backup = stamped_sibling(path, "damaged")
    try:
        shutil.copy2(path, backup)
    except OSError:
        log.warning("could not back up damaged settings file %s", path)
    log.warning("settings file %s was damaged; a copy is at %s", path, backup)
    return backup
