"""How a provider's key column reads: where its key would come from, without ever reading the key itself."""

from __future__ import annotations

import os

from nexus_core.providers.config import ProviderConfig
from nexus_core.providers.pool import ProviderPool
from nexus_core.secrets.store import CredentialStore


def key_status(pool: ProviderPool, credentials: CredentialStore, config: ProviderConfig) -> tuple[str, str]:
    """(cell text, tooltip): "stored", "$ENV" or "none"; "locked" when a locked vault may hold it."""
    if pool.has_stored_key(config.name):
        return "stored", "An API key is saved in the encrypted credential store."
    env = config.key_env_var()
    if env and os.environ.get(env):
        return f"${env}", f"No key is stored; the key is read from the environment variable {env}."
    if credentials.locked and not credentials.needs_new_passphrase:
        return "locked", "The credential store is locked; unlock it to see whether a key is stored."
    if env:
        return "none", f"No key is stored and ${env} is not set."
    return "none", "No key is stored (local servers usually need none)."
