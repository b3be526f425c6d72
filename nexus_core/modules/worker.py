"""The app's side of a module worker: start the sandboxed host, load the adapter, call operations.

A module's code never runs in the app's process: it runs in a sandboxed worker (validate policy, or the
integration policy with the manifest's hosts when it needs the network). One dispatcher thread matches
replies to requests, so calls from several threads (parallel tool calls) share one worker.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.modules.manifest import Manifest
from nexus_core.sandbox import Limits, Sandbox, SandboxMode
from nexus_core.sandbox.worker import SandboxProcess, WorkerGone
from nexus_core.sandbox.workspace import write_files

log = logging.getLogger(__name__)

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk"
HOST_MAIN = Path(__file__).with_name("host_main.py")
LOAD_TIMEOUT_S = 30.0
# A worker lives as long as the module is enabled; calls carry their own timeouts.
WORKER_LIMITS = Limits(wall_s=10 * 365 * 86400.0, cpu_s=24 * 3600, memory_mb=768, file_size_mb=16, processes=32,
                       open_files=128, output_bytes=4 * 1024 * 1024)
_SKIP_PARTS = {"__pycache__", ".git", ".pytest_cache"}


class ModuleCallError(NexusError):
    """An operation failed; ``kind`` is the module's (credentials, upstream, invalid_arguments, crash, timeout…)."""

    def __init__(self, what: str, *, kind: str, hint: str = "") -> None:
        self.kind = kind
        super().__init__(what, hint=hint)


@dataclass(frozen=True)
class OperationInfo:
    name: str
    description: str
    parameters: dict[str, Any]
    risk: str
    timeout_s: float


def module_files(folder: Path, package: str) -> dict[str, bytes]:
    """The module's files under ``package/``, for the worker's workspace."""
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not (set(rel.parts) & _SKIP_PARTS) and path.suffix not in (".pyc", ".pyo"):
            files[f"{package}/{rel.as_posix()}"] = path.read_bytes()
    return files


def start_host(*, use_bubblewrap: bool | None = None) -> SandboxProcess:
    """A worker waiting for its module: the host and SDK running, no network allowed yet."""
    files = {f"nexus_sdk/{path.name}": path.read_bytes() for path in sorted(SDK_DIR.glob("*.py"))}
    sandbox = Sandbox(SandboxMode.INTEGRATION, limits=WORKER_LIMITS, use_bubblewrap=use_bubblewrap, ast_gate=False)
    process = sandbox.start(HOST_MAIN.read_text(encoding="utf-8"), files=files, script_name="nexus_module_host.py")
    try:
        hello = process.receive(LOAD_TIMEOUT_S)
    except (TimeoutError, WorkerGone) as exc:
        process.close()
        raise ModuleCallError(f"The module worker did not start: {exc}", kind="load",
                              hint="Check `nexus sandbox check`; the log has the worker's output.") from None
    if hello.get("type") != "idle":
        process.close()
        raise ModuleCallError(f"The module worker sent {hello!r} instead of its greeting.", kind="load")
    return process


class WorkerPool:
    """Keeps one warm spare worker so loading a module does not wait for an interpreter to start."""

    def __init__(self, *, use_bubblewrap: bool | None = None, spares: int = 1) -> None:
        self.use_bubblewrap = use_bubblewrap
        self._spares: list[SandboxProcess] = []
        self._wanted = spares
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> SandboxProcess:
        """A warm worker (or a fresh one when there is no spare). Call ``refill_later`` once the module has
        loaded: starting the next spare during the load would take CPU from it."""
        with self._lock:
            while self._spares:
                process = self._spares.pop()
                if process.alive:
                    break
                process.close()
            else:
                process = None
        return process if process is not None else start_host(use_bubblewrap=self.use_bubblewrap)

    def refill_later(self) -> None:
        threading.Thread(target=self._refill, daemon=True, name="module-worker-spare").start()

    def _refill(self) -> None:
        with self._lock:
            if self._closed or len(self._spares) >= self._wanted:
                return
        try:
            process = start_host(use_bubblewrap=self.use_bubblewrap)
        except Exception:  # no spare then; the next load starts its own worker
            log.exception("could not start a spare module worker")
            return
        with self._lock:
            if self._closed or len(self._spares) >= self._wanted:
                extra = process
            else:
                self._spares.append(process)
                extra = None
        if extra is not None:
            extra.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spares, self._spares = self._spares, []
        for process in spares:
            process.close()


class ModuleWorker:
    """One running module. ``operations`` is filled once the adapter has loaded."""

    def __init__(self, folder: Path, manifest: Manifest, *, config: dict[str, Any], credentials: dict[str, str],
                 extra_hosts: Iterable[str] = (), process: SandboxProcess | None = None,
                 use_bubblewrap: bool | None = None) -> None:
        """``process``: a warm worker from a WorkerPool (one is started when None); ``extra_hosts``: hosts of
        service URLs the user configured (a self-hosted instance, a test server), allowed besides the manifest's."""
        self.folder = folder
        self.manifest = manifest
        self.operations: dict[str, OperationInfo] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.process: SandboxProcess = process if process is not None else start_host(use_bubblewrap=use_bubblewrap)
        try:
            write_files(self.process.workspace, module_files(folder, manifest.name))
            self.process.allow_hosts([*manifest.network_hosts, *extra_hosts])
            self._load(config, credentials)
        except BaseException:
            self.process.close()
            raise
        threading.Thread(target=self._dispatch, daemon=True, name=f"module-{manifest.name}").start()

    def _load(self, config: dict[str, Any], credentials: dict[str, str]) -> None:
        entry = Path(self.manifest.entry_point).with_suffix("").as_posix().replace("/", ".")
        self.process.send({"type": "load", "package": self.manifest.name, "module": entry,
                           "class_name": self.manifest.class_name, "config": {**self.manifest.config, **config},
                           "credentials": credentials})
        try:
            reply = self.process.receive(LOAD_TIMEOUT_S)
        except TimeoutError:
            raise ModuleCallError(f"Module {self.manifest.name} did not finish loading within {LOAD_TIMEOUT_S:.0f} s.",
                                  kind="load", hint="Its import may hang (a network call at import time?).") from None
        except WorkerGone as exc:
            raise ModuleCallError(f"Module {self.manifest.name} stopped while loading: {exc.reason}", kind="load",
                                  hint="See the module's log.") from None
        if reply.get("type") != "ready":
            detail = str(reply.get("traceback") or "").strip().splitlines()
            where = next((line.strip() for line in reversed(detail) if line.strip().startswith("File ")), "")
            raise ModuleCallError(f"Module {self.manifest.name} failed to load: {reply.get('message')}"
                                  + (f" ({where})" if where else ""), kind="load",
                                  hint="Fix the module's code; its log has the traceback.")
        for op in reply.get("operations", []):
            self.operations[op["name"]] = OperationInfo(op["name"], op["description"], op["parameters"], op["risk"],
                                                        float(op["timeout_s"]))

    def _dispatch(self) -> None:
        while True:
            try:
                message = self.process.receive(3600.0)
            except TimeoutError:
                continue
            except WorkerGone as exc:
                reason = exc.reason
                break
            future = None
            with self._lock:
                future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerGone(reason))

    def request(self, message: dict[str, Any], timeout_s: float) -> Any:
        """Send one call/health request and wait for its reply; raises ModuleCallError on any failure."""
        request_id = next(self._ids)
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            self._pending[request_id] = future
        try:
            self.process.send({**message, "id": request_id})
            reply = future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            raise ModuleCallError(f"{self.manifest.name} did not answer within {timeout_s:.0f} s.", kind="timeout",
                                  hint="The service may be slow or down; the module is restarted.") from None
        except WorkerGone as exc:
            raise ModuleCallError(f"{self.manifest.name} stopped: {exc.reason}", kind="crash",
                                  hint="See the module's log; it is restarted on the next call.") from None
        finally:
            with self._lock:
                self._pending.pop(request_id, None)
        if reply.get("ok"):
            return reply.get("value")
        raise ModuleCallError(str(reply.get("message") or "the operation failed"), kind=str(reply.get("kind")))

    def call(self, operation: str, arguments: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        info = self.operations.get(operation)
        if info is None:
            raise ModuleCallError(f"Module {self.manifest.name} has no operation {operation!r} (it has: "
                                  f"{', '.join(sorted(self.operations)) or 'none'}).", kind="invalid_arguments")
        return self.request({"type": "call", "operation": operation, "arguments": arguments},
                            timeout_s or info.timeout_s)

    def health(self, timeout_s: float = 15.0) -> bool:
        return bool(self.request({"type": "health"}, timeout_s))

    @property
    def alive(self) -> bool:
        return self.process.alive

    def log_lines(self) -> list[str]:
        return self.process.log_lines()

    def close(self) -> None:
        if self.process.alive:
            try:
                self.process.send({"type": "stop"})
            except WorkerGone:
                pass
        self.process.close()
