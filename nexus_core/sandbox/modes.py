"""The three sandbox modes and what each one allows: imports, limits, network, file reads.

One table instead of flags scattered through the runner, so the policy of a mode is read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SandboxMode(StrEnum):
    """What the sandboxed code is for; decides imports, limits and network."""

    CODE = "code"
    VALIDATE = "validate"
    INTEGRATION = "integration"


@dataclass(frozen=True)
class Limits:
    """Resource ceilings for one run; a run that reaches one is stopped and says which."""

    wall_s: float = 30.0
    cpu_s: int = 30
    memory_mb: int = 256
    file_size_mb: int = 16
    processes: int = 16
    open_files: int = 64
    output_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mb", "file_size_mb", "processes", "open_files", "output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {getattr(self, name)!r}")


# Standard-library modules with no file, process or network reach of their own (open() is guarded anyway).
CODE_IMPORTS = frozenset({
    "__future__", "abc", "array", "base64", "binascii", "bisect", "calendar", "cmath", "collections", "colorsys",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools",
    "graphlib", "hashlib", "heapq", "hmac", "html", "io", "itertools", "json", "math", "numbers", "operator",
    "pprint", "random", "re", "reprlib", "secrets", "statistics", "string", "struct", "textwrap", "time",
    "typing", "unicodedata", "uuid", "zlib",
})

# Module validation: the module's own tests, with mocked HTTP.
VALIDATE_IMPORTS = CODE_IMPORTS | frozenset({
    "annotated_types", "anyio", "asyncio", "email", "h11", "http", "httpcore", "httpx", "idna", "logging", "os",
    "inspect", "pathlib", "pydantic", "pydantic_core", "sniffio", "sys", "tempfile", "threading", "traceback",
    "typing_extensions", "unittest", "urllib", "warnings", "zoneinfo",
})

INTEGRATION_IMPORTS = VALIDATE_IMPORTS | frozenset({"certifi", "ssl"})

# Refused to every importer, library code included: each one reaches past the guard (raw memory,
# process creation) or, in code mode, the network.
HARD_DENY = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "cffi", "_cffi_backend", "pty", "_xxsubinterpreters"})
CODE_HARD_DENY = HARD_DENY | frozenset({"socket", "_socket", "ssl", "_ssl", "subprocess", "multiprocessing",
                                        "_multiprocessing", "select", "selectors", "mmap"})


@dataclass(frozen=True)
class ModePolicy:
    """Everything a mode decides, handed to the AST gate, the bootstrap and the runner."""

    mode: SandboxMode
    limits: Limits
    imports: frozenset[str]
    hard_deny: frozenset[str]
    network: bool  # outbound through the allowlisting proxy only
    site_packages: bool  # third-party packages importable
    open_allowed: bool  # open() of workspace-relative paths passes the AST gate


POLICIES: dict[SandboxMode, ModePolicy] = {
    SandboxMode.CODE: ModePolicy(SandboxMode.CODE, Limits(), CODE_IMPORTS, CODE_HARD_DENY,
                                 network=False, site_packages=False, open_allowed=True),
    SandboxMode.VALIDATE: ModePolicy(SandboxMode.VALIDATE, Limits(wall_s=60.0, cpu_s=60, memory_mb=512),
                                     VALIDATE_IMPORTS, HARD_DENY, network=False, site_packages=True,
                                     open_allowed=True),
    SandboxMode.INTEGRATION: ModePolicy(SandboxMode.INTEGRATION, Limits(wall_s=60.0, cpu_s=60, memory_mb=512),
                                        INTEGRATION_IMPORTS, HARD_DENY, network=True, site_packages=True,
                                        open_allowed=True),
}


def policy_for(mode: SandboxMode | str) -> ModePolicy:
    """The policy of ``mode``; a string is accepted so callers can pass CLI values straight through."""
    try:
        return POLICIES[SandboxMode(mode)]
    except ValueError:
        raise ValueError(f"unknown sandbox mode {mode!r}; use one of: {', '.join(m.value for m in SandboxMode)}") \
            from None
