"""The one sandbox: AST gate, isolated child with an empty environment, limits, runtime guard, bubblewrap.

Used by the agent's code-interpreter tool (mode "code"), module validation ("validate") and module
integration tests ("integration"). Each run gets a private folder holding the bootstrap, the code and a
temporary folder; the workspace is the caller's folder or a fresh one removed after the run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from nexus_core.errors import NexusError
from nexus_core.sandbox import classify
from nexus_core.sandbox.ast_gate import check_code
from nexus_core.sandbox.bwrap import bwrap_argv
from nexus_core.sandbox.capabilities import sandbox_capabilities
from nexus_core.sandbox.capture import Captured, run_loop
from nexus_core.sandbox.layout import python_layout
from nexus_core.sandbox.modes import HARD_DENY, Limits, ModePolicy, SandboxMode, policy_for
from nexus_core.sandbox.proxy import AllowlistProxy
from nexus_core.sandbox.reaper import MARKER, kill_marked
from nexus_core.sandbox.result import SandboxResult
from nexus_core.sandbox.worker import Launch, SandboxProcess
from nexus_core.sandbox.workspace import escaping_links, list_files, remove_escaping_links, write_files

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
STDERR_TAIL = 4096
MB = 1024 * 1024


@functools.cache
def _bootstrap_source() -> bytes:
    return BOOTSTRAP.read_bytes()


class Sandbox:
    """Runs untrusted Python under one mode's policy; each ``run_*`` call is independent."""

    def __init__(self, mode: SandboxMode | str = SandboxMode.CODE, *, limits: Limits | None = None,
                 workspace: Path | None = None, allowed_hosts: Iterable[str] = (),
                 env: Mapping[str, str] | None = None, use_bubblewrap: bool | None = None,
                 extra_imports: Iterable[str] = (), ast_gate: bool = True) -> None:
        """``use_bubblewrap``: None uses it where it works; True demands it (NexusError if unavailable).

        ``ast_gate=False`` skips only the static pre-check (for testing the layers behind it); the runtime
        guard, limits and bubblewrap still apply.
        """
        self.policy: ModePolicy = policy_for(mode)
        self.mode = self.policy.mode
        self.limits = limits or self.policy.limits
        self.workspace = Path(workspace) if workspace is not None else None
        self.allowed_hosts = tuple(allowed_hosts)
        self.env = dict(env or {})
        self.extra_imports = frozenset(extra_imports)
        self.ast_gate = ast_gate
        self._check_inputs()
        self.use_bubblewrap = self._decide_bubblewrap(use_bubblewrap)

    def _check_inputs(self) -> None:
        if not sys.platform.startswith("linux"):
            raise NexusError(f"The sandbox needs Linux; this is {sys.platform}.",
                             hint="Run untrusted code on a Linux machine (WSL works on Windows).")
        if self.allowed_hosts and self.mode is not SandboxMode.INTEGRATION:
            raise NexusError(f"Allowed hosts only apply to the integration mode, not '{self.mode.value}'.",
                             hint="Use mode 'integration' for code that must reach the network.")
        for key, value in self.env.items():
            if not key or "=" in key or "\0" in key or "\0" in str(value):
                raise NexusError(f"The environment variable name {key!r} is not valid.",
                                 hint="Use plain names like API_KEY, without '=' or NUL characters.")
            if key == MARKER:
                raise NexusError(f"{MARKER} is reserved by the sandbox.", hint="Choose another variable name.")
        if self.extra_imports & HARD_DENY:
            raise NexusError(f"These modules can never be allowed in the sandbox: "
                             f"{', '.join(sorted(self.extra_imports & HARD_DENY))}.",
                             hint="They reach past the sandbox's guard (raw memory, new processes).")
        if self.workspace is not None and not self.workspace.is_dir():
            raise NexusError("The sandbox workspace folder does not exist.", path=self.workspace,
                             hint="Create the folder first, or leave the workspace out for a temporary one.")

    @staticmethod
    def _decide_bubblewrap(requested: bool | None) -> bool:
        if requested is False:
            return False
        caps = sandbox_capabilities()
        if requested and not caps.bubblewrap:
            raise NexusError("Bubblewrap was requested but cannot run here.", hint=caps.reason)
        return caps.bubblewrap

    # -- public API -------------------------------------------------------------------------------------------
    def run_file(self, path: Path | str, *, stdin: str = "", files: Mapping[str, str | bytes] | None = None
                 ) -> SandboxResult:
        """Run a script file; its name is kept so tracebacks point at it."""
        source_path = Path(path)
        try:
            code = source_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NexusError("The script to run in the sandbox does not exist.", path=source_path,
                             hint="Check the file name.") from None
        except IsADirectoryError:
            raise NexusError("The sandbox runs a Python file, and this is a folder.", path=source_path,
                             hint="Give the path of a .py file.") from None
        except UnicodeDecodeError:
            raise NexusError("The script is not UTF-8 text.", path=source_path,
                             hint="Save the file as UTF-8.") from None
        except OSError as exc:
            raise NexusError(f"The script cannot be read: {exc.strerror}.", path=source_path) from None
        return self.run_code(code, stdin=stdin, files=files, script_name=source_path.name)

    def run_code(self, code: str, *, stdin: str = "", files: Mapping[str, str | bytes] | None = None,
                 script_name: str = "main.py") -> SandboxResult:
        """Check, then run ``code`` with ``files`` written into the workspace first."""
        started = time.monotonic()
        with self._folders() as (root, workspace):
            write_files(workspace, files or {})
            local = {p.stem for p in workspace.iterdir() if p.suffix == ".py" or p.is_dir()}
            if self.ast_gate:
                findings = check_code(code, self.policy, extra_imports=self.extra_imports, local_modules=local)
                if findings:
                    return SandboxResult(None, "", "", time.monotonic() - started, blocked=[str(f) for f in findings],
                                         used_bubblewrap=False, files=list_files(workspace), ran=False)
            return self._execute(root, workspace, code, stdin, script_name, started)

    # -- one run ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _folders(self):  # type: ignore[no-untyped-def]
        root = Path(tempfile.mkdtemp(prefix="nexus-sandbox-")).resolve()
        try:
            for sub in ("run", "tmp"):
                (root / sub).mkdir()
            if self.workspace is None:
                workspace = root / "workspace"
                workspace.mkdir()
            else:
                workspace = self.workspace.resolve()
            yield root, workspace
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _execute(self, root: Path, workspace: Path, code: str, stdin: str, script_name: str,
                 started: float) -> SandboxResult:
        launch = self._launch(root, workspace, code, script_name)
        try:
            captured = run_loop(launch.proc, stdin.encode("utf-8"), launch.status_r,
                                deadline=started + self.limits.wall_s, cap=self.limits.output_bytes)
        finally:
            os.close(launch.status_r)
            if not self.use_bubblewrap:
                kill_marked(launch.token)
            network_log = launch.proxy.stop() if launch.proxy is not None else []
        return self._result(captured, workspace, started, network_log, launch.links_before)

    def _launch(self, root: Path, workspace: Path, code: str, script_name: str) -> Launch:
        """Write the run folder and start the child (inside bubblewrap when used); the caller drives it."""
        run_dir, tmp_dir = root / "run", root / "tmp"
        main = run_dir / "code" / (Path(script_name).name or "main.py")
        main.parent.mkdir()
        main.write_text(code, encoding="utf-8")
        bootstrap = run_dir / "nexus_bootstrap.py"
        bootstrap.write_bytes(_bootstrap_source())
        token = secrets.token_hex(16)
        links_before = escaping_links(workspace) if self.workspace is not None else set()
        proxy = AllowlistProxy(run_dir / "proxy.sock", self.allowed_hosts) if self.policy.network else None
        status_r, status_w = os.pipe()
        config = self._config(workspace, run_dir, tmp_dir, main, status_w, proxy)
        (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
        layout = python_layout()
        argv = [layout.executable, "-I", "-S", "-B", "-X", "utf8", str(bootstrap), str(run_dir / "config.json")]
        if self.use_bubblewrap:
            caps = sandbox_capabilities()
            assert caps.bwrap_path is not None
            read_only = [layout.stdlib_root, str(run_dir), *(config["site_paths"])]
            argv = [*bwrap_argv(caps.bwrap_path, read_only=read_only, writable=[str(workspace), str(tmp_dir)],
                                workdir=str(workspace)), *argv]
        try:
            if proxy is not None:
                proxy.start()
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=workspace, env=self._child_env(workspace, tmp_dir, token),
                                    start_new_session=True, pass_fds=(status_w,), close_fds=True)
        except OSError as exc:
            os.close(status_r)
            if proxy is not None:
                proxy.stop()
            raise NexusError(f"The sandboxed interpreter could not be started: {exc.strerror or exc}.",
                             path=layout.executable) from None
        finally:
            os.close(status_w)
        return Launch(proc, status_r, token, proxy, links_before)

    def start(self, code: str, *, files: Mapping[str, str | bytes] | None = None,
              script_name: str = "main.py") -> SandboxProcess:
        """Start ``code`` as a long-lived sandboxed process spoken to over stdin/stdout (module workers).

        Same layers as ``run_code`` except the AST gate, which the caller applies to the code it loads; no wall
        clock: the caller times each request and closes the process.
        """
        root = Path(tempfile.mkdtemp(prefix="nexus-sandbox-")).resolve()
        try:
            for sub in ("run", "tmp"):
                (root / sub).mkdir()
            workspace = self.workspace.resolve() if self.workspace is not None else root / "workspace"
            workspace.mkdir(exist_ok=True)
            write_files(workspace, files or {})
            launch = self._launch(root, workspace, code, script_name)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return SandboxProcess(launch, root, workspace, bubblewrap=self.use_bubblewrap)

    def _config(self, workspace: Path, run_dir: Path, tmp_dir: Path, main: Path, status_fd: int,
                proxy: AllowlistProxy | None) -> dict[str, object]:
        layout = python_layout()
        limits = self.limits
        rlimits = {
            "RLIMIT_AS": [limits.memory_mb * MB] * 2,
            "RLIMIT_CPU": [limits.cpu_s, limits.cpu_s + 1],  # SIGXCPU first; SIGKILL a second later if ignored
            "RLIMIT_FSIZE": [limits.file_size_mb * MB] * 2,
            "RLIMIT_NPROC": [_nproc_allowance(limits.processes)] * 2,
            "RLIMIT_NOFILE": [limits.open_files] * 2,
            "RLIMIT_CORE": [0, 0],
        }
        site = list(layout.site_paths) if self.policy.site_packages else []
        read_roots = [layout.stdlib_root, str(run_dir), *site]
        if self.policy.network:
            read_roots += ["/etc/ssl", "/usr/share/zoneinfo"]
        return {
            "mode": self.mode.value, "main": str(main), "workspace": str(workspace), "tmp": str(tmp_dir),
            "read_roots": read_roots, "site_paths": site,
            "allowed_imports": sorted(self.policy.imports | self.extra_imports),
            "hard_deny": sorted(self.policy.hard_deny - (self.extra_imports - HARD_DENY)),
            "network": self.policy.network,
            "proxy_socket": str(proxy.socket_path) if proxy is not None else None,
            "status_fd": status_fd, "rlimits": rlimits,
        }

    def _child_env(self, workspace: Path, tmp_dir: Path, token: str) -> dict[str, str]:
        """Empty apart from these: nothing of the parent's environment (API keys, tokens) reaches the child.

        Passed as the process environment, not bubblewrap ``--setenv`` arguments, because a command line is
        readable by every user on the machine and the caller's variables may be credentials.
        """
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workspace), "TMPDIR": str(tmp_dir), "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", MARKER: token}
        env.update(self.env)
        return env

    def _result(self, captured: Captured, workspace: Path, started: float, network_log: list[dict[str, object]],
                links_before: set[str]) -> SandboxResult:
        report = classify.parse_status(bytes(captured.status))
        stderr = captured.stderr.decode("utf-8", "replace")
        exit_code = classify.exit_code_of(captured, report, bubblewrap=self.use_bubblewrap)
        duration = time.monotonic() - started
        limit = classify.limit_hit(captured, report, exit_code, self.limits, stderr[-STDERR_TAIL:],
                                   bubblewrap=self.use_bubblewrap, duration_s=duration)
        blocked = list(report.blocked)
        blocked += [f"request to {entry['host']} (not an allowed host)" for entry in network_log
                    if not entry.get("allowed")]
        blocked += [f"removed the link '{name}', which pointed outside the workspace"
                    for name in remove_escaping_links(workspace, keep=links_before)]
        return SandboxResult(
            exit_code=exit_code, stdout=captured.stdout.decode("utf-8", "replace"), stderr=stderr,
            duration_s=duration, limit_hit=limit, blocked=blocked,
            output_truncated=captured.truncated, used_bubblewrap=self.use_bubblewrap, network_log=network_log,
            files=list_files(workspace))


def _nproc_allowance(processes: int) -> int:
    """RLIMIT_NPROC counts all of the user's tasks (outside a user namespace), so add those already running."""
    if os.getuid() == 0:
        return processes  # not enforced for root; the guard and bubblewrap's PID namespace contain forks
    uid = str(os.getuid())
    running = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        if fields.get("Uid", "").split("\t", 1)[0] == uid:
            running += int(fields.get("Threads", "1"))
    return running + processes
