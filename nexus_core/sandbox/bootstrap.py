"""Child-side runtime guard: runs inside the sandboxed interpreter, before the user's code.

It is started as ``python -I -S -B bootstrap.py CONFIG`` and must use the standard library only (it never
imports ``nexus_core``). It sets the resource limits, then installs two guards that stay for the whole run:
an import hook enforcing the mode's allowlist, and a PEP 578 audit hook (which Python code cannot remove)
refusing file access outside the workspace, process creation, signals to other processes and, outside the
integration mode's proxy, the network. It is a guard, not the boundary: bubblewrap and the limits are.
Each refusal is reported to the parent on the status pipe, even when the user's code catches the error.
"""

# Plain os.path on strings on purpose: this runs inside the audit hook on every open, and pathlib would
# cost the child's start-up time for nothing.
# ruff: noqa: PTH100, PTH112, PTH113, PTH117, PTH118, PTH120, PTH123
from __future__ import annotations

import builtins
import errno
import json
import os
import resource
import sys
import traceback
from collections.abc import Callable
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
DEVICE_FILES = frozenset({"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", None})
PROCESS_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                  "subprocess.Popen", "pty.spawn")
WRITE_PATH_EVENTS = ("os.mkdir", "os.rmdir", "os.remove", "os.truncate", "os.utime", "os.chmod", "os.chown",
                     "os.setxattr", "os.removexattr", "shutil.rmtree", "shutil.chown")
READ_PATH_EVENTS = ("os.listdir", "os.scandir", "os.getxattr", "os.listxattr", "os.fwalk", "os.walk")
# Removed from os and posix: functions with no audit event that could still reach outside (mkfifo, chroot,
# setsid...), and the fork family, which is audited too but has no use here.
UNAUDITED_OS = ("mkfifo", "mknod", "chroot", "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid",
                "setresuid", "setresgid", "setgroups", "initgroups", "setsid", "setpgid", "setpgrp", "login_tty",
                "openpty", "fork", "forkpty", "register_at_fork", "pidfd_open")
MAX_REPORTS = 100
BOOTSTRAP_GLOBALS = globals()


AF_UNIX = 1  # socket.AF_UNIX on Linux, the only platform the sandbox runs on (no socket import needed here)


class BlockedError(PermissionError):
    """Raised into the user's code when the guard refuses an operation."""


class Status:
    """JSON lines to the parent on an inherited pipe: refusals, the limit met, the exit code."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.reports = 0

    def send(self, record: dict[str, Any]) -> None:
        try:
            os.write(self.fd, (json.dumps(record) + "\n").encode())
        except OSError:
            pass

    def blocked(self, what: str) -> None:
        self.reports += 1
        if self.reports <= MAX_REPORTS:
            self.send({"blocked": what})


def inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def set_limits(rlimits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


class Guard:
    """The audit hook and the import hook, sharing one view of what this mode allows."""

    def __init__(self, cfg: dict[str, Any], status: Status) -> None:
        self.status = status
        self.mode = cfg["mode"]
        self.strict = self.mode == "code"
        self.workspace = os.path.realpath(cfg["workspace"])
        self.writable = (self.workspace, os.path.realpath(cfg["tmp"]))
        self.readable = (*self.writable, *(os.path.realpath(p) for p in cfg["read_roots"]))
        self.allowed_imports = frozenset(cfg["allowed_imports"])
        self.hard_deny = frozenset(cfg["hard_deny"])
        self.network = bool(cfg["network"])
        self.proxy_socket = cfg.get("proxy_socket")
        self.bridge_port: int | None = None
        self.real_import = builtins.__import__
        self.handlers: dict[str, Callable[[tuple[Any, ...]], None]] = self._handlers()

    # -- refusing ---------------------------------------------------------------------------------------------
    def deny(self, what: str) -> None:
        self.status.blocked(what)
        raise BlockedError(errno.EPERM, f"nexus sandbox: {what} is not allowed in {self.mode} mode")

    def deny_import(self, name: str) -> None:
        self.status.blocked(f"import of '{name}'")
        raise ModuleNotFoundError(f"nexus sandbox: import of '{name}' is not allowed in {self.mode} mode", name=name)

    # -- paths ------------------------------------------------------------------------------------------------
    def resolve(self, path: Any, what: str) -> str | None:
        """The real path ``path`` names, or None for an open descriptor (its opening was checked).

        A relative path with '..' is refused: with a ``dir_fd`` it would be resolved against a folder the
        audit event does not name, so checking it against the working directory would be wrong.
        """
        if path is None:
            return os.path.realpath(".")
        if isinstance(path, int):
            return None
        text = os.fsdecode(path)
        if not os.path.isabs(text) and ".." in text.replace("\\", "/").split("/"):
            self.deny(f"{what} '{text}' (relative paths with '..')")
        return os.path.realpath(text)

    def check_read(self, path: Any, what: str) -> None:
        real = self.resolve(path, what)
        if real is not None and real not in DEVICE_FILES and not inside(real, self.readable):
            self.deny(f"{what} '{os.fsdecode(path)}' (outside the workspace)")

    def check_write(self, path: Any, what: str) -> None:
        real = self.resolve(path, what)
        if real is not None and not inside(real, self.writable) and real != "/dev/null":
            self.deny(f"{what} '{os.fsdecode(path)}' (outside the workspace)")

    # -- events -----------------------------------------------------------------------------------------------
    def _handlers(self) -> dict[str, Callable[[tuple[Any, ...]], None]]:
        table: dict[str, Callable[[tuple[Any, ...]], None]] = {
            "open": self.on_open,
            "import": self.on_import,
            "os.chdir": lambda a: self.check_write(a[0], "changing directory to"),
            "os.rename": lambda a: (self.check_write(a[0], "renaming"), self.check_write(a[1], "renaming to")),
            "os.link": lambda a: (self.check_write(a[0], "hard-linking"), self.check_write(a[1], "hard link")),
            "os.symlink": self.on_symlink,
            "os.kill": self.on_kill,
            "os.killpg": lambda a: self.deny("signalling a process group"),
            "socket.__new__": self.on_socket_new,
            "socket.connect": self.on_connect,
            "socket.bind": lambda a: self.deny("opening a listening socket"),
            "socket.sendto": self.on_sendto,
            "socket.sendmsg": self.on_sendto,
            "socket.getaddrinfo": lambda a: self.on_lookup(a[0]),
            "socket.gethostbyname": lambda a: self.on_lookup(a[0]),
            "socket.gethostbyaddr": lambda a: self.on_lookup(a[0]),
            "socket.getnameinfo": lambda a: self.on_lookup(a[0][0] if a and a[0] else None),
            "socket.sethostname": lambda a: self.deny("changing the host name"),
            "resource.setrlimit": lambda a: self.deny("changing resource limits"),
            "resource.prlimit": lambda a: self.deny("changing resource limits"),
            "builtins.breakpoint": lambda a: self.deny("starting the debugger"),
        }
        for event in PROCESS_EVENTS:
            table[event] = lambda a, e=event: self.deny(f"starting a process ({e})")
        for event in WRITE_PATH_EVENTS:
            table[event] = lambda a, e=event: self.check_write(a[0], e)
        for event in READ_PATH_EVENTS:
            table[event] = lambda a, e=event: self.check_read(a[0], e)
        if self.strict:
            for event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                          "sys.addaudithook", "code.__new__"):
                table[event] = lambda a, e=event: self.deny(e)
            table["object.__setattr__"] = lambda a: self.deny(f"setting '{a[1]}'") if a[1] == "__code__" else None
        return table

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        handler = self.handlers.get(event)
        if handler is not None:
            handler(args)
        elif event.startswith("ctypes."):
            self.deny(event)

    def on_open(self, args: tuple[Any, ...]) -> None:
        path = args[0]
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        writing = (isinstance(flags, int) and flags & WRITE_FLAGS) or (
            isinstance(mode, str) and any(c in mode for c in "wax+"))
        if writing:
            self.check_write(path, "writing")
        else:
            self.check_read(path, "reading")
        real = self.resolve(path, "opening")
        if real is not None and os.path.isdir(real) and not inside(real, self.writable):
            self.deny(f"opening the folder '{os.fsdecode(path)}' (outside the workspace)")

    def on_symlink(self, args: tuple[Any, ...]) -> None:
        target, link = os.fsdecode(args[0]), os.fsdecode(args[1])
        self.check_write(link, "creating a link at")
        where = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(link)), target))
        if not inside(where, self.writable):
            self.deny(f"a link to '{target}' (outside the workspace)")

    def on_import(self, args: tuple[Any, ...]) -> None:
        name = args[0]
        if isinstance(name, str) and name.partition(".")[0] in self.hard_deny:
            self.deny_import(name)

    def on_kill(self, args: tuple[Any, ...]) -> None:
        if args[0] != os.getpid():
            self.deny("signalling another process")

    def on_socket_new(self, args: tuple[Any, ...]) -> None:
        # Unix sockets are local (asyncio's event loop wakes itself through a socketpair); connecting or
        # binding one is still checked below, so they reach nothing outside.
        family = args[1] if len(args) > 1 else None
        if not self.network and (self.strict or family != AF_UNIX):
            self.deny("opening a network socket")

    def on_connect(self, args: tuple[Any, ...]) -> None:
        address = args[1]
        if self.network and self.proxy_socket and address in (self.proxy_socket, os.fsencode(self.proxy_socket)):
            return
        if (self.network and isinstance(address, tuple) and address[0] in LOOPBACK_NAMES
                and address[1] == self.bridge_port):
            return
        self.deny(f"connecting to {address!r}" + ("" if self.network else " (no network in this mode)"))

    def on_sendto(self, args: tuple[Any, ...]) -> None:
        if args[1] is not None:
            self.deny(f"sending to {args[1]!r}")

    def on_lookup(self, host: Any) -> None:
        if not (self.network and host in LOOPBACK_NAMES):
            self.deny(f"looking up '{host}'")

    # -- imports ----------------------------------------------------------------------------------------------
    def is_user(self, caller: Any) -> bool:
        """Is the importing frame the user's code (the script or a module from the workspace)?"""
        globals_ = caller.f_globals
        if globals_ is BOOTSTRAP_GLOBALS:
            return False
        if globals_.get("__name__") == "__main__":
            return True
        file = globals_.get("__file__")
        return isinstance(file, str) and inside(os.path.realpath(file), (self.workspace,))

    def is_local(self, top: str) -> bool:
        base = os.path.join(self.workspace, top)
        return os.path.isfile(base + ".py") or os.path.isdir(base)

    def guarded_import(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                       level: int = 0) -> Any:
        # The calling frame, not the ``globals`` argument, which any caller can fake.
        if level == 0 and self.is_user(sys._getframe(1)):
            top = name.partition(".")[0]
            if top not in self.allowed_imports and not self.is_local(top):
                self.deny_import(name)
        return self.real_import(name, globals, locals, fromlist, level)

    def install(self) -> None:
        for module in (os, sys.modules.get("posix")):
            for name in UNAUDITED_OS:
                if module is not None and name in vars(module):
                    delattr(module, name)
        builtins.__import__ = self.guarded_import
        sys.addaudithook(self.audit)


def start_bridge(guard: Guard, proxy_socket: str) -> int:
    """Loopback port inside the sandbox relayed to the parent's allowlisting proxy over a Unix socket.

    Under bubblewrap the child has no network namespace of its own to reach out with, so this relay is its
    only way out, and the parent decides per request which hosts it reaches.
    """
    import socket
    import threading

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(proxy_socket)
            except OSError:
                continue
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, name="nexus-proxy-bridge", daemon=True).start()
    port = int(listener.getsockname()[1])
    guard.bridge_port = port
    return port


def limit_of(exc: BaseException) -> str | None:
    """Which resource limit an exception that ended the run comes from, if any."""
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "file_size"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return "processes"
    return None


def print_user_traceback(exc: BaseException) -> None:
    """The traceback as the user's code sees it: the bootstrap's own frames are left out."""
    try:
        report = traceback.TracebackException.from_exception(exc)
        report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename != __file__])
        sys.stderr.write("".join(report.format()))
    except BaseException:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")


def exit_code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def stub_process_creation() -> None:
    """A ``_posixsubprocess`` whose ``fork_exec`` refuses, so ``subprocess`` (and asyncio, which imports it) can
    be imported while starting a process stays impossible, even by calling the C function directly."""
    stub = type(sys)("_posixsubprocess")

    def fork_exec(*_args: Any, **_kwargs: Any) -> int:
        raise BlockedError(errno.EPERM, "nexus sandbox: starting a process is not allowed")

    stub.fork_exec = fork_exec  # type: ignore[attr-defined]
    sys.modules["_posixsubprocess"] = stub


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        cfg = json.load(handle)
    set_limits(cfg["rlimits"])
    status = Status(int(cfg["status_fd"]))
    sys.path[:0] = [cfg["workspace"]]
    sys.path.extend(cfg["site_paths"])
    sys.argv = [cfg["main"]]
    os.chdir(cfg["workspace"])
    with open(cfg["main"], encoding="utf-8") as handle:
        source = handle.read()
    import atexit
    import linecache  # noqa: F401 - loaded now so tracebacks need no import once the guard is on

    guard = Guard(cfg, status)
    if not guard.strict:
        stub_process_creation()
    if cfg.get("proxy_socket"):
        port = start_bridge(guard, cfg["proxy_socket"])
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            os.environ[var] = f"http://127.0.0.1:{port}"
        for var in ("NO_PROXY", "no_proxy"):
            os.environ.pop(var, None)
    try:
        code = compile(source, cfg["main"], "exec")
    except SyntaxError as exc:
        traceback.print_exception(exc, limit=0)
        return 1
    exit_code = [1]
    atexit.register(lambda: status.send({"exit": exit_code[0]}))
    guard.install()
    # The user's code gets a module of its own as __main__ (unittest.main() and pickle look there).
    main_module = type(sys)("__main__")
    main_module.__dict__.update({"__file__": cfg["main"], "__builtins__": builtins})
    sys.modules["__main__"] = main_module
    try:
        exec(code, main_module.__dict__)
        exit_code[0] = 0
    except SystemExit as exc:
        exit_code[0] = exit_code_of(exc)
    except BaseException as exc:
        limit = limit_of(exc)
        if limit:
            status.send({"limit": limit})
        print_user_traceback(exc)
        exit_code[0] = 1
        if limit:  # threads still running would only keep a run that has failed alive until the wall clock
            sys.stdout.flush()
            sys.stderr.flush()
            status.send({"exit": 1})
            os._exit(1)
    return exit_code[0]


if __name__ == "__main__":
    sys.exit(main())
