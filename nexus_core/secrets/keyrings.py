"""Whether a keyring backend can really hold the vault key, decided once when the store opens.

keyring hands back a backend even when none works (its ``fail`` backend, or a chainer with nothing to chain), so
the store asks before trusting one; the answer picks keyring mode or the passphrase fallback.
"""

from __future__ import annotations

import logging

from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.backends.chainer import ChainerBackend

log = logging.getLogger(__name__)


def backend_usable(backend: KeyringBackend, service: str, probe_user: str) -> bool:
    """True if ``backend`` is a real keyring and answers a read (a locked or broken one counts as unusable)."""
    if not _structurally_usable(backend):
        log.info("Keyring backend %s is not usable (no real keyring behind it)", _describe(backend))
        return False
    try:
        backend.get_password(service, probe_user)
    except Exception as exc:  # a backend may raise anything (KeyringError, RuntimeError, D-Bus errors...)
        log.info("Keyring backend %s failed a test read: %s", _describe(backend), type(exc).__name__)
        return False
    return True


def _structurally_usable(backend: KeyringBackend) -> bool:
    """The checks that need no keyring call: not the fail backend, a positive priority, a chainer with a real child."""
    if isinstance(backend, fail.Keyring):
        return False
    try:
        priority = float(backend.priority)
    except Exception:  # keyring's convention: priority raises when the backend does not fit this machine
        return False
    if priority <= 0:
        return False
    if isinstance(backend, ChainerBackend):
        try:
            children = list(backend.backends)
        except Exception:
            return False
        return any(_structurally_usable(child) for child in children)
    return True


def _describe(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"
