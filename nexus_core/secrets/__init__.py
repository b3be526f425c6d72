"""The app's one credential store (API keys for providers, later for modules): encrypted at rest, never logged."""

from __future__ import annotations

from nexus_core.secrets.store import CredentialError, CredentialStore, secret_ref

__all__ = ["CredentialError", "CredentialStore", "secret_ref"]
