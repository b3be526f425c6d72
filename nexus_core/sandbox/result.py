"""What one sandbox run produced, in a shape the CLI, the agent tool and the module system all read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

LimitName = Literal["wall_time", "cpu_time", "memory", "file_size", "processes", "output"]


@dataclass
class SandboxResult:
    """Outcome of one run; ``ok`` means it ran to completion, exited 0 and nothing was blocked or limited."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    limit_hit: LimitName | None = None
    blocked: list[str] = field(default_factory=list)
    output_truncated: bool = False
    used_bubblewrap: bool = False
    network_log: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    ran: bool = True  # False when the AST gate refused the code, so nothing was executed

    @property
    def ok(self) -> bool:
        return self.ran and self.exit_code == 0 and self.limit_hit is None and not self.blocked

    def summary(self) -> str:
        """One line for logs and the CLI: how it ended, how long it took, and how strongly it was isolated."""
        if not self.ran:
            ended = "not run (blocked by the code check)"
        elif self.limit_hit:
            ended = f"stopped: {self.limit_hit.replace('_', ' ')} limit"
        else:
            ended = f"exit {self.exit_code}"
        parts = [ended, f"{self.duration_s:.2f}s", "bubblewrap" if self.used_bubblewrap else "no bubblewrap"]
        if self.blocked:
            parts.append(f"blocked: {'; '.join(self.blocked[:3])}" + (" …" if len(self.blocked) > 3 else ""))
        if self.output_truncated:
            parts.append("output truncated")
        return " | ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data
