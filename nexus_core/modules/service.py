"""The module system's front door: lifecycle, calls, health, credentials, and the agent's module tools.

discover → load (a sandboxed worker) → register (tools) → health-check → serve; disable → unregister →
unload; reload; install (validate, copy a new version in); rollback; remove (archive). Every change
fires ``changed`` with the module's name so views refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.logs import redact, register_secret
from nexus_core.modules.health import BreakerState, CircuitBreaker, RateLimiter
from nexus_core.modules.manifest import Approval, Manifest, Validation
from nexus_core.modules.registry import ModuleRecord, ModuleRegistry
from nexus_core.modules.validate import ValidationReport, validate_module
from nexus_core.modules.worker import ModuleCallError, ModuleWorker, OperationInfo, WorkerPool
from nexus_core.tools.base import Tool, ToolFailure
from nexus_core.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

TOOL_SEPARATOR = "__"
HEALTH_INTERVAL_S = 300.0


class ModuleValidationError(NexusError):
    """Install refused: validation failed; ``report`` has every check."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        failed = "; ".join(f"{c.name}: {c.detail}" for c in report.failures())
        super().__init__(f"Module {report.manifest.name if report.manifest else report.folder} did not pass "
                         f"validation: {failed}", path=report.folder, hint="Fix the failures and try again.")


@dataclass
class ModuleStatus:
    """What the Modules panel and ``nexus modules list`` show for one module."""

    name: str
    display_name: str
    version: str
    source: str
    enabled: bool
    state: str  # running | stopped | disabled | needs_credentials | error
    health: str  # green | yellow | red | grey
    breaker: str
    operations: list[str] = field(default_factory=list)
    missing_credentials: list[str] = field(default_factory=list)
    last_error: str | None = None
    description: str = ""
    category: str = ""
    network_hosts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Args(BaseModel):
    model_config = ConfigDict(extra="allow")


class ModuleTool(Tool):
    """A module operation as an agent tool: its schema is the worker's; the worker checks the arguments."""

    schema: dict[str, Any]

    @property
    def parameters(self) -> dict[str, Any]:
        return self.schema

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(arguments, dict):
            raise ToolFailure("arguments must be a JSON object", kind="invalid_arguments")
        return dict(arguments)


def credential_key(module: str, name: str) -> str:
    return f"module:{module}:{name}"


def _user_hosts(manifest: Manifest, config: dict[str, Any]) -> list[str]:
    """Hosts of service URLs the user set in the module's config (allowed besides the declared ones)."""
    hosts = []
    for key, value in config.items():
        if isinstance(value, str) and value.startswith(("http://", "https://")) and value != manifest.config.get(key):
            parts = urlsplit(value)
            if parts.hostname:
                hosts.append(f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname)
    return hosts


@dataclass
class _Live:
    worker: ModuleWorker | None = None
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    last_error: str | None = None
    needs_credentials: bool = False
    last_health: bool | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModuleService:
    def __init__(self, registry: ModuleRegistry, credentials: Any, tools: ToolRegistry, *,
                 use_bubblewrap: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.credentials = credentials
        self.tools = tools
        self.use_bubblewrap = use_bubblewrap
        self.pool = WorkerPool(use_bubblewrap=use_bubblewrap)
        self._clock = clock
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()
        self.changed: Emitter[str] = Emitter("modules.changed")
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()

    def _state(self, name: str) -> _Live:
        with self._lock:
            live = self._live.get(name)
            if live is None:
                live = self._live[name] = _Live(breaker=CircuitBreaker(clock=self._clock),
                                                limiter=RateLimiter(clock=self._clock))
            return live

    # ---- views -------------------------------------------------------------------------------------

    def statuses(self) -> list[ModuleStatus]:
        return [self._status(record) for record in self.registry.records()]

    def status(self, name: str) -> ModuleStatus:
        return self._status(self.registry.record(name))

    def _status(self, record: ModuleRecord) -> ModuleStatus:
        live = self._state(record.name)
        missing = self.missing_credentials(record)
        running = live.worker is not None and live.worker.alive
        if not record.enabled:
            state = "disabled"
        elif missing or live.needs_credentials:
            state = "needs_credentials"
        elif running:
            state = "running"
        elif live.last_error:
            state = "error"
        else:
            state = "stopped"
        breaker = live.breaker.state
        if state in ("disabled", "stopped"):
            health = "grey"
        elif state == "error" or breaker is BreakerState.OPEN or live.last_health is False:
            health = "red"
        elif state == "needs_credentials" or breaker is BreakerState.HALF_OPEN or live.last_error:
            health = "yellow"
        else:
            health = "green"
        m = record.manifest
        return ModuleStatus(record.name, m.display_name, record.active_version, record.source, record.enabled, state,
                            health, breaker.value, sorted(live.worker.operations) if running and live.worker else [],
                            missing, live.last_error, m.description, m.category, list(m.network_hosts))

    def missing_credentials(self, record: ModuleRecord) -> list[str]:
        needed = [c.name for c in record.manifest.credentials if c.required]
        if not needed:
            return []
        if self.credentials is None or getattr(self.credentials, "locked", False):
            return needed
        return [n for n in needed if not self.credentials.get(credential_key(record.name, n))]

    def log_lines(self, name: str) -> list[str]:
        """The worker's output, with any stored secret masked (a module might print its key)."""
        live = self._state(name)
        return [redact(line) for line in live.worker.log_lines()] if live.worker is not None else []

    # ---- lifecycle ---------------------------------------------------------------------------------

    def load(self, name: str) -> ModuleStatus:
        """Start the module's worker and register its operations as tools (no-op when running)."""
        record = self.registry.record(name)
        live = self._state(name)
        with live.lock:
            if live.worker is not None and live.worker.alive:
                return self._status(record)
            if not record.enabled:
                raise NexusError(f"Module {name} is disabled.", hint=f"Enable it first (nexus modules enable {name}).")
            missing = self.missing_credentials(record)
            if missing:
                live.needs_credentials = True
                self.changed.emit(name)
                raise ModuleCallError(f"Module {name} needs credentials that are not set: {', '.join(missing)}.",
                                      kind="credentials", hint=f"Set them: nexus modules credentials set {name} "
                                                               f"{missing[0]}")
            self._stop_worker(name, live)
            started = time.monotonic()
            try:
                live.worker = ModuleWorker(record.folder, record.manifest, config=record.config,
                                           credentials=self._credentials_for(record),
                                           extra_hosts=_user_hosts(record.manifest, record.config),
                                           process=self.pool.take())
            except (ModuleCallError, NexusError) as exc:
                live.last_error = exc.what
                self.registry.add_health(name, ok=False, kind="load", latency_ms=None, error=exc.what)
                self.changed.emit(name)
                raise
            finally:
                self.pool.refill_later()
            live.last_error = None
            live.needs_credentials = False
            self.registry.add_health(name, ok=True, kind="load", latency_ms=(time.monotonic() - started) * 1000,
                                     error=None)
            self._register_tools(record, live.worker.operations)
        self.changed.emit(name)
        return self._status(record)

    def _credentials_for(self, record: ModuleRecord) -> dict[str, str]:
        if self.credentials is None or getattr(self.credentials, "locked", False):
            return {}
        values = {}
        for spec in record.manifest.credentials:
            value = self.credentials.get(credential_key(record.name, spec.name))
            if value:
                register_secret(value)  # masked wherever the app logs, and in the module's own log below
                values[spec.name] = value
        return values

    def _register_tools(self, record: ModuleRecord, operations: dict[str, OperationInfo]) -> None:
        self._unregister_tools(record.name)
        for op in operations.values():
            name = f"{record.name}{TOOL_SEPARATOR}{op.name}"

            def run(_module: str = record.name, _op: str = op.name, **arguments: Any) -> Any:
                try:
                    return self.call(_module, _op, arguments)
                except ModuleCallError as exc:
                    raise ToolFailure(exc.what, kind=exc.kind) from None
                except NexusError as exc:
                    raise ToolFailure(exc.what, kind="unavailable") from None

            tool = ModuleTool(name, f"[{record.manifest.display_name}] {op.description}", run, _Args,
                              "risky" if op.risk == "risky" else "safe", op.timeout_s + 10.0, False, True)
            tool.schema = op.parameters
            self.tools.register(tool, replace=True)

    def _unregister_tools(self, module: str) -> None:
        for name in self.tools.names():
            if name.startswith(f"{module}{TOOL_SEPARATOR}"):
                self.tools.unregister(name)

    def _stop_worker(self, name: str, live: _Live) -> None:
        worker, live.worker = live.worker, None
        if worker is not None:
            worker.close()

    def unload(self, name: str) -> None:
        live = self._state(name)
        with live.lock:
            self._unregister_tools(name)
            self._stop_worker(name, live)
        self.changed.emit(name)

    def reload(self, name: str) -> ModuleStatus:
        self.unload(name)
        self._state(name).breaker.reset()
        return self.load(name)

    def start_enabled(self) -> list[str]:
        """Load every enabled module that has its credentials; returns the names that failed."""
        failed = []
        for record in self.registry.records():
            if record.enabled and not self.missing_credentials(record):
                try:
                    self.load(record.name)
                except NexusError:
                    failed.append(record.name)
        return failed

    def enable(self, name: str) -> None:
        self.registry.set_enabled(name, True)
        self.changed.emit(name)

    def disable(self, name: str) -> None:
        self.registry.set_enabled(name, False)
        self.unload(name)

    def set_config(self, name: str, config: dict[str, Any]) -> None:
        self.registry.set_config(name, config)
        if self._state(name).worker is not None:
            self.reload(name)
        else:
            self.changed.emit(name)

    # ---- install, versions, remove ---------------------------------------------------------------

    def validate(self, folder: Path) -> ValidationReport:
        return validate_module(folder, use_bubblewrap=self.use_bubblewrap)

    def install(self, folder: Path, *, approved_by: str = "user", load: bool = True) -> ModuleStatus:
        """Validate, then copy in as a new version (with its validation and approval recorded) and load it."""
        report = self.validate(folder)
        if not report.passed or report.manifest is None:
            raise ModuleValidationError(report)
        manifest = report.manifest.model_copy(deep=True)
        manifest.validation = Validation.model_validate(report.record())
        manifest.approval = Approval(approved_by=approved_by, approved_at=datetime.now(UTC), sandbox=report.sandbox)
        was_running = self._state(manifest.name).worker is not None
        record = self.registry.install(folder, manifest)
        self.changed.emit(record.name)
        if load or was_running:
            try:
                return self.reload(record.name)
            except NexusError:
                pass  # installed; the status says why it is not running (credentials, load error)
        return self.status(record.name)

    def rollback(self, name: str, version: str) -> ModuleStatus:
        self.registry.set_active(name, version)
        running = self._state(name).worker is not None
        if running:
            return self.reload(name)
        self.changed.emit(name)
        return self.status(name)

    def remove(self, name: str) -> Path | None:
        record = self.registry.record(name)
        self.unload(name)
        archived = self.registry.remove(name)
        if self.credentials is not None and not getattr(self.credentials, "locked", False):
            for spec in record.manifest.credentials:
                self.credentials.delete(credential_key(name, spec.name))
        with self._lock:
            self._live.pop(name, None)
        self.changed.emit(name)
        return archived

    # ---- credentials -------------------------------------------------------------------------------

    def set_credential(self, name: str, key: str, value: str) -> None:
        record = self.registry.record(name)
        if key not in {c.name for c in record.manifest.credentials}:
            raise NexusError(f"Module {name} declares no credential {key!r}.",
                             hint="Its credentials: " + (", ".join(c.name for c in record.manifest.credentials)
                                                         or "none"))
        if not value:
            raise NexusError("The credential value is empty.", hint="Paste the key, or use forget to remove it.")
        self.credentials.set(credential_key(name, key), value)
        self._state(name).needs_credentials = False
        if self._state(name).worker is not None:
            self.reload(name)
        self.changed.emit(name)

    def forget_credential(self, name: str, key: str) -> bool:
        removed = bool(self.credentials.delete(credential_key(name, key)))
        self.changed.emit(name)
        return removed

    # ---- calls and health --------------------------------------------------------------------------

    def call(self, name: str, operation: str, arguments: dict[str, Any]) -> Any:
        """Run one operation: rate limit, circuit breaker, restart of a dead worker, health history."""
        live = self._state(name)
        if live.worker is None or not live.worker.alive:
            self.load(name)
        wait = live.limiter.try_acquire()
        if wait > 0:
            raise ModuleCallError(f"Module {name} is over its rate limit; try again in {wait:.0f} s.",
                                  kind="rate_limited")
        if not live.breaker.allow():
            raise ModuleCallError(f"Module {name} is paused after repeated failures (circuit open); it is retried "
                                  f"in {live.breaker.retry_in():.0f} s.", kind="circuit_open",
                                  hint=f"Last error: {live.last_error}" if live.last_error else "")
        worker = live.worker
        assert worker is not None
        started = time.monotonic()
        try:
            value = worker.call(operation, arguments)
        except ModuleCallError as exc:
            self._after_failure(name, live, exc, started)
            raise
        live.breaker.record(True)
        live.last_error = None
        self.registry.add_health(name, ok=True, kind="call", latency_ms=(time.monotonic() - started) * 1000,
                                 error=None)
        self.changed.emit(name)
        return value

    def _after_failure(self, name: str, live: _Live, exc: ModuleCallError, started: float) -> None:
        if exc.kind == "credentials":
            live.needs_credentials = True  # flagged, not counted as the service failing
        elif exc.kind != "invalid_arguments":
            live.breaker.record(False)
        if exc.kind in ("timeout", "crash"):
            with live.lock:
                self._stop_worker(name, live)  # a stuck or dead worker is replaced on the next call
        live.last_error = exc.what
        self.registry.add_health(name, ok=False, kind="call", latency_ms=(time.monotonic() - started) * 1000,
                                 error=f"{exc.kind}: {exc.what}")
        self.changed.emit(name)

    def health_check(self, name: str) -> bool:
        live = self._state(name)
        started = time.monotonic()
        try:
            if live.worker is None or not live.worker.alive:
                self.load(name)
            assert live.worker is not None
            ok = live.worker.health()
            error = None if ok else "the health check reported a problem"
        except (ModuleCallError, NexusError) as exc:
            ok, error = False, exc.what
        live.last_health = ok
        self.registry.add_health(name, ok=ok, kind="health", latency_ms=(time.monotonic() - started) * 1000,
                                 error=error)
        self.changed.emit(name)
        return ok

    def check_running(self) -> dict[str, bool]:
        """Health-check every running module (the periodic monitor's one pass)."""
        with self._lock:
            running = [n for n, live in self._live.items() if live.worker is not None and live.worker.alive]
        return {name: self.health_check(name) for name in running}

    def start_monitor(self, interval_s: float = HEALTH_INTERVAL_S) -> None:
        """Check running modules every ``interval_s`` in a daemon thread until ``close``."""
        if self._monitor is not None:
            return
        stop = self._monitor_stop

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    self.check_running()
                except Exception:  # the monitor must outlive any one module's misbehaviour
                    log.exception("module health monitor pass failed")

        self._monitor = threading.Thread(target=loop, name="module-health", daemon=True)
        self._monitor.start()

    def close(self) -> None:
        self._monitor_stop.set()
        with self._lock:
            names = list(self._live)
        for name in names:
            live = self._live[name]
            with live.lock:
                self._stop_worker(name, live)
        self.pool.close()
