"""The one sandbox for untrusted Python: code execution, module validation and integration tests.

Layers, outermost first: bubblewrap (namespaces, read-only system, no network) where the kernel allows it;
resource limits; a process group killed as a whole on timeout; an isolated interpreter with an empty
environment; a runtime guard (audit and import hooks) inside it; and an AST gate before anything runs.
"""

from __future__ import annotations

from nexus_core.sandbox.ast_gate import Finding, check_code
from nexus_core.sandbox.capabilities import Capabilities, sandbox_capabilities
from nexus_core.sandbox.modes import Limits, SandboxMode, policy_for
from nexus_core.sandbox.result import SandboxResult
from nexus_core.sandbox.runner import Sandbox

__all__ = ["Capabilities", "Finding", "Limits", "Sandbox", "SandboxMode", "SandboxResult", "check_code",
           "policy_for", "sandbox_capabilities"]
