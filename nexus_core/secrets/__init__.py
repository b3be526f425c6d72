"""The app's one credential store (API keys for providers, later for modules): encrypted at rest, never logged.

Names are resolved on first use (PEP 562) so that importing the package does not import ``keyring`` and
``cryptography`` before the window is painted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CredentialError", "CredentialStore", "LazyCredentialStore", "secret_ref"]


def __getattr__(name: str) -> Any:
    if name == "LazyCredentialStore":
        from nexus_core.secrets.lazy import LazyCredentialStore

        return LazyCredentialStore
    if name in ("CredentialError", "CredentialStore", "secret_ref"):
        from nexus_core.secrets import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
