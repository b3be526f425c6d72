"""Open the credential store on first use, not at start-up.

Finding the OS keyring loads keyring's plug-ins (~100 ms) and importing ``keyring`` and ``cryptography``
costs as much again; none of it is needed to paint the window. The proxy builds the real
:class:`~nexus_core.secrets.store.CredentialStore` the first time anything asks it something.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any


class LazyCredentialStore:
    def __init__(self, vault_path: Path | str, **options: Any) -> None:
        self._vault_path = Path(vault_path)
        self._options = options
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._store is not None

    def _real(self) -> Any:
        with self._lock:
            if self._store is None:
                from nexus_core.secrets.store import CredentialStore

                self._store = CredentialStore(self._vault_path, **self._options)
            return self._store

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._real(), name)

    def __contains__(self, name: object) -> bool:
        return name in self._real()

    def __repr__(self) -> str:
        state = repr(self._store) if self._store is not None else "not opened yet"
        return f"LazyCredentialStore({state})"
