"""The module SDK: what integration modules import (as ``nexus_sdk`` inside their sandbox).

Self-contained on purpose (standard library, pydantic and httpx only): the whole package is copied into
each module's sandboxed worker, where the rest of the app is not importable.
"""

from .adapter import (
    ADAPTERS,
    BaseAdapter,
    CredentialsMissing,
    ModuleError,
    NoConfig,
    OperationSpec,
    UpstreamError,
    operation,
    register_adapter,
)

__all__ = ["ADAPTERS", "BaseAdapter", "CredentialsMissing", "ModuleError", "NoConfig", "OperationSpec",
           "UpstreamError", "operation", "register_adapter"]
