"""The bubblewrap command line: a fresh namespace for everything, the system read-only, no capabilities.

Only the workspace and the run's temporary folder are writable; ``/tmp`` is a private tmpfs; there is no
network namespace to share (the integration mode reaches out through a Unix socket to the parent's proxy).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The pieces of /etc a Python process needs: the loader cache, time zone and TLS roots. No passwd, no hosts.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/ssl",
             "/etc/pki", "/etc/ca-certificates", "/etc/alternatives")


def _covered(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def bwrap_argv(bwrap: str, *, read_only: Iterable[str], writable: Iterable[str], workdir: str) -> list[str]:
    """Arguments up to and including ``--``; the command to run goes after them."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for path in SYSTEM_DIRS:
        entry = Path(path)
        if entry.is_symlink():
            argv += ["--symlink", str(entry.readlink()), path]
        elif entry.is_dir():
            argv += ["--ro-bind", path, path]
    for path in ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    mounted = ["/usr"]
    for path in sorted(set(read_only), key=lambda p: p.count("/")):
        if not _covered(path, mounted):
            argv += ["--ro-bind", path, path]
            mounted.append(path)
    for path in sorted(set(writable), key=lambda p: p.count("/")):
        argv += ["--bind", path, path]
    argv += ["--chdir", workdir, "--"]
    return argv
