"""The app's one credential store: API keys encrypted at rest, never plaintext on disk, never in logs.

The secrets live in one vault file (``<data>/credentials.vault``), a Fernet token of the whole JSON dict of entries.
The Fernet key is generated once and kept in the OS keyring; with no usable keyring it is derived from a passphrase
with scrypt instead, and the store says so plainly (``warning``) because the passphrase is then needed each start.

A vault that cannot be decrypted (damaged, or its keyring key lost) is never overwritten: every operation raises a
``CredentialError`` saying what happened, and only an explicit ``reset()`` moves it aside and starts empty.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import keyring
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from keyring.backend import KeyringBackend

from nexus_core.atomic import atomic_write_bytes, stamped_sibling
from nexus_core.errors import NexusError
from nexus_core.logs import redact, register_secret
from nexus_core.secrets.keyrings import backend_usable

log = logging.getLogger(__name__)

VAULT_FORMAT: Final = "nexus-credentials"
VAULT_VERSION: Final = 1
VAULT_FILE_MODE: Final = 0o600
KEYRING_USER: Final = "vault-key"
DEFAULT_SERVICE: Final = "nexus-studio"
DEFAULT_SCRYPT_N: Final = 2**15
MIN_SCRYPT_N: Final = 2**10
MAX_SCRYPT_MEMORY: Final = 2**30  # 128 * n * r bytes; a vault asking for more is treated as damaged, not obeyed
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
MIN_PASSPHRASE_LENGTH: Final = 8
MAX_NAME_LENGTH: Final = 200

MODE_KEYRING: Final = "keyring"
MODE_PASSPHRASE: Final = "passphrase"
_KEY_SOURCES: Final = {"keyring": MODE_KEYRING, "scrypt": MODE_PASSPHRASE}

_RESET_HINT = ("Restore the vault (or the keyring) from a backup if you have one; otherwise reset the credential "
               "store, which keeps the unreadable file beside it, and enter your API keys again.")


class CredentialError(NexusError):
    """The credential store cannot do what was asked: locked, wrong passphrase, unreadable vault, bad input.

    ``reason`` lets the GUI pick its answer without parsing text: "invalid" (bad name, secret or passphrase),
    "locked" (unlock first), "wrong-passphrase", "unreadable" (damaged vault or lost key: ``reset()`` helps),
    "too-new" (written by a newer Nexus Studio), "keyring" (the keyring failed: unlock or start it, retry),
    "io" (the file could not be read or written).
    """

    def __init__(self, what: str, *, path: Path | str | None = None, hint: str = "", reason: str = "invalid") -> None:
        self.reason = reason
        super().__init__(what, path=path, hint=hint)

    def copy(self) -> CredentialError:
        """A fresh instance to raise again, so repeated raises do not pile tracebacks onto one object."""
        return CredentialError(self.what, path=self.path, hint=self.hint, reason=self.reason)


@dataclass(frozen=True)
class _Header:
    """The vault file's readable part; the entries stay inside ``token`` until a key opens it."""

    key_source: str
    token: str
    salt: bytes | None = None
    n: int = DEFAULT_SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


def validate_name(name: object, field: str = "credential name") -> str:
    """Names appear in the vault and in the GUI, so they must be short, printable text."""
    if not isinstance(name, str) or not name:
        raise CredentialError(f"The {field} must be non-empty text.", hint="Give the credential a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise CredentialError(f"The {field} is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed.",
                              hint="Choose a shorter name.")
    if not name.isprintable():
        raise CredentialError(f"The {field} {name[:40]!r} contains control characters (such as a line break).",
                              hint="Use only printable characters in the name.")
    return name


def secret_ref(kind: str, name: str) -> str:
    """The credential name for one owner of a secret, e.g. ``secret_ref("provider", "openai-main")``.

    One naming scheme keeps providers and later modules from colliding in the single store.
    """
    validate_name(kind, "credential kind")
    if ":" in kind:
        raise CredentialError(f"The credential kind {kind!r} must not contain ':'.",
                              hint="Use a kind such as 'provider' or 'module'.")
    validate_name(name, "credential owner name")
    return validate_name(f"{kind}:{name}")


def _validate_secret(name: str, secret: object) -> str:
    if not isinstance(secret, str) or not secret:
        raise CredentialError(f"The secret for {name!r} must be non-empty text.",
                              hint="Paste the API key again; an empty value cannot be saved.")
    return secret


def _check_scrypt_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < MIN_SCRYPT_N or n & (n - 1):
        raise ValueError(f"scrypt n must be a power of two >= {MIN_SCRYPT_N}, got {n!r}")
    if 128 * n * SCRYPT_R > MAX_SCRYPT_MEMORY:
        raise ValueError(f"scrypt n={n} needs more than {MAX_SCRYPT_MEMORY} bytes of memory")
    return n


def _derive_fernet(passphrase: str, header: _Header) -> Fernet:
    """scrypt turns the passphrase into the 32-byte key; NFC first, so one passphrase typed on two systems matches."""
    assert header.salt is not None
    kdf = Scrypt(salt=header.salt, length=32, n=header.n, r=header.r, p=header.p)
    key = kdf.derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


def _token_looks_whole(token: str) -> bool:
    """Fernet's layout (version 0x80, timestamp, IV, padded blocks, HMAC): tells truncation from a wrong key."""
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        return False
    return len(raw) >= 73 and raw[0] == 0x80 and (len(raw) - 57) % 16 == 0


class CredentialStore:
    """Named secrets (API keys) for the whole app, kept in one encrypted vault file; safe to share across threads."""

    def __init__(self, vault_path: Path | str, *, keyring_backend: KeyringBackend | None = None,
                 service: str = DEFAULT_SERVICE, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self._path = Path(vault_path)
        self._backend = keyring_backend if keyring_backend is not None else keyring.get_keyring()
        self._service = service
        self._scrypt_n = _check_scrypt_n(scrypt_n)
        self._lock = threading.RLock()
        self._entries: dict[str, str] | None = None  # decrypted and cached once unlocked
        self._fernet: Fernet | None = None
        self._header: _Header | None = None
        self._damage: CredentialError | None = None  # raised (as a copy) by every operation until reset()
        self._keyring_usable = False
        self._mode = MODE_PASSPHRASE
        self._open()

    # -- state -------------------------------------------------------------------------------------------------

    @property
    def vault_path(self) -> Path:
        return self._path

    @property
    def mode(self) -> str:
        """"keyring" (Fernet key kept in the keyring) or "passphrase" (key derived from a passphrase with scrypt)."""
        return self._mode

    @property
    def warning(self) -> str | None:
        """What the user must be told in passphrase mode (why, and what it costs them); None in keyring mode."""
        if self._mode == MODE_KEYRING:
            return None
        if self._keyring_usable:
            return ("Your API keys are encrypted with a key derived from your passphrase, because this vault was "
                    "created when no system keyring was available. You will need to enter the passphrase each time "
                    "Nexus Studio starts; if you forget it, the saved keys cannot be recovered.")
        return ("No system keyring is available, so your API keys are encrypted with a key derived from a passphrase "
                "instead. You will need to enter that passphrase each time Nexus Studio starts; if you forget it, "
                "the saved keys cannot be recovered. To have keys unlocked automatically, install or enable a "
                "keyring service (on Linux a Secret Service such as GNOME Keyring or KWallet; macOS Keychain and "
                "Windows Credential Manager work out of the box) and restart Nexus Studio.")

    @property
    def locked(self) -> bool:
        """Passphrase mode and not unlocked yet; keyring mode unlocks itself on first use."""
        with self._lock:
            return self._mode == MODE_PASSPHRASE and self._entries is None

    @property
    def needs_new_passphrase(self) -> bool:
        """Passphrase mode with no vault yet: the GUI asks for a new passphrase (and a confirmation)."""
        with self._lock:
            return (self._mode == MODE_PASSPHRASE and self._entries is None and self._header is None
                    and self._damage is None)

    def __repr__(self) -> str:
        locked = self._mode == MODE_PASSPHRASE and self._entries is None  # no lock: repr must never block
        return f"CredentialStore(vault={str(self._path)!r}, mode={self._mode!r}, locked={locked})"

    # -- unlocking ---------------------------------------------------------------------------------------------

    def unlock(self, passphrase: str) -> None:
        """Open a passphrase vault (checked by decrypting it), or set the passphrase of a new one."""
        with self._lock:
            if self._mode != MODE_PASSPHRASE:
                raise CredentialError("This credential store keeps its key in the system keyring; "
                                      "it has no passphrase to unlock.", path=self._path)
            if self._damage is not None:
                raise self._damage.copy()
            if not isinstance(passphrase, str) or not passphrase:
                raise CredentialError("The passphrase is empty.", hint="Type the passphrase for your saved API keys.")
            if self._header is None:
                self._create_passphrase_vault(passphrase)
                return
            fernet = _derive_fernet(passphrase, self._header)
            entries = self._decrypt(fernet, self._header, CredentialError(
                "The passphrase is wrong: it does not decrypt the credential vault.", path=self._path,
                hint="Type the passphrase again (it is case-sensitive). If it is lost, reset the credential store and "
                     "enter your API keys again; the old vault is kept beside it.",
                reason="wrong-passphrase"))
            self._fernet, self._entries = fernet, entries
            log.info("Credential vault unlocked with its passphrase (%d entries)", len(entries))

    def lock(self) -> None:
        """Forget the decrypted entries and the key; passphrase mode then needs ``unlock`` again."""
        with self._lock:
            self._entries = None
            self._fernet = None

    def reset(self) -> Path | None:
        """Move the vault aside (``<vault>.unreadable-<stamp>``, never deleted) and start with an empty store.

        The way out of an unreadable vault or a forgotten passphrase; returns where the old file went, or None.
        """
        with self._lock:
            moved: Path | None = None
            if self._path.exists() or self._path.is_symlink():
                moved = stamped_sibling(self._path, "unreadable")
                try:
                    self._path.replace(moved)
                except OSError as exc:
                    raise CredentialError(f"The credential vault could not be moved aside: {exc.strerror or exc}.",
                                          path=self._path, hint="Check the data folder's permissions.",
                                          reason="io") from exc
                log.warning("Credential vault moved aside to %s; starting with an empty store", moved)
            self._entries = None
            self._fernet = None
            self._open()
            return moved

    # -- the entries -------------------------------------------------------------------------------------------

    def set(self, name: str, secret: str) -> None:
        """Save (or replace) one secret; the whole vault is re-encrypted and replaced atomically."""
        validate_name(name)
        _validate_secret(name, secret)
        register_secret(secret)
        with self._lock:
            entries = self._require_entries()
            if entries.get(name) == secret:
                return
            updated = {**entries, name: secret}
            self._write(updated)
            self._entries = updated

    def get(self, name: str) -> str | None:
        validate_name(name)
        with self._lock:
            secret = self._require_entries().get(name)
        if secret is not None:
            register_secret(secret)
        return secret

    def delete(self, name: str) -> bool:
        """Remove one secret; False if there was none by that name (the vault is then left as it is)."""
        validate_name(name)
        with self._lock:
            entries = self._require_entries()
            if name not in entries:
                return False
            updated = {key: value for key, value in entries.items() if key != name}
            self._write(updated)
            self._entries = updated
            return True

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._require_entries())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._lock:
            return name in self._require_entries()

    # -- internals ---------------------------------------------------------------------------------------------

    def _open(self) -> None:
        """Read the vault header (not its secrets) and pick the mode: a vault keeps the key source it was made with."""
        self._header = None
        self._damage = None
        try:
            self._header = self._read_header()
        except CredentialError as exc:
            self._damage = exc
            log.error("Credential vault %s cannot be read: %s", self._path, exc.what)
        self._keyring_usable = backend_usable(self._backend, self._service, KEYRING_USER)
        if self._header is not None:
            self._mode = _KEY_SOURCES[self._header.key_source]
        else:
            self._mode = MODE_KEYRING if self._keyring_usable else MODE_PASSPHRASE
        if self._mode == MODE_PASSPHRASE and not self._keyring_usable:
            log.warning("No usable keyring: credentials are protected by a passphrase")

    def _damaged(self, what: str) -> CredentialError:
        return CredentialError(what, path=self._path, hint=_RESET_HINT, reason="unreadable")

    def _read_header(self) -> _Header | None:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CredentialError(f"The credential vault cannot be read: {exc.strerror or exc}.", path=self._path,
                                  hint="Check the file's permissions; it must be readable by you.",
                                  reason="io") from exc
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._damaged("The credential vault is damaged (truncated or not valid JSON), "
                                "so the saved API keys cannot be read.") from exc
        if not isinstance(doc, dict) or doc.get("format") != VAULT_FORMAT:
            raise self._damaged("This file is not a Nexus Studio credential vault.")
        version = doc.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > VAULT_VERSION:
            raise CredentialError(f"The credential vault was written by a newer Nexus Studio (vault version "
                                  f"{version}; this version reads {VAULT_VERSION}).", path=self._path,
                                  hint="Update Nexus Studio to read it.", reason="too-new")
        if version != VAULT_VERSION:
            raise self._damaged(f"The credential vault has an unknown version ({version!r}).")
        key_source, token = doc.get("key_source"), doc.get("token")
        if key_source not in _KEY_SOURCES:
            raise self._damaged(f"The credential vault names an unknown key source ({key_source!r}).")
        if not isinstance(token, str) or not _token_looks_whole(token):
            raise self._damaged("The credential vault's encrypted data is damaged (truncated or altered), "
                                "so the saved API keys cannot be read.")
        if key_source == "keyring":
            return _Header(key_source=key_source, token=token)
        return self._read_scrypt_header(doc, token)

    def _read_scrypt_header(self, doc: dict[str, Any], token: str) -> _Header:
        params, salt_text = doc.get("scrypt"), doc.get("salt")
        try:
            if not isinstance(params, dict) or not isinstance(salt_text, str):
                raise ValueError("missing salt or scrypt parameters")
            salt = base64.b64decode(salt_text.encode("ascii"), validate=True)
            n, r, p = _check_scrypt_n(params.get("n")), params.get("r"), params.get("p")
            if len(salt) < SALT_BYTES or r != SCRYPT_R or p != SCRYPT_P:
                raise ValueError("unexpected salt or scrypt parameters")
        except (ValueError, binascii.Error) as exc:
            raise self._damaged("The credential vault's key-derivation settings are damaged, "
                                "so no passphrase can open it.") from exc
        return _Header(key_source="scrypt", token=token, salt=salt, n=n, r=r, p=p)

    def _decrypt(self, fernet: Fernet, header: _Header, wrong_key: CredentialError) -> dict[str, str]:
        try:
            plain = fernet.decrypt(header.token.encode("ascii"))
        except InvalidToken as exc:
            raise wrong_key from exc
        try:
            entries = json.loads(plain.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._damaged("The credential vault decrypted, but its contents are damaged.") from exc
        if not isinstance(entries, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in entries.items()):
            raise self._damaged("The credential vault decrypted, but its contents are not a list of named secrets.")
        for secret in entries.values():
            register_secret(secret)
        return entries

    def _require_entries(self) -> dict[str, str]:
        """The decrypted entries; keyring mode opens the vault here, on first use."""
        if self._entries is not None:
            return self._entries
        if self._damage is not None:
            raise self._damage.copy()
        if self._mode == MODE_PASSPHRASE:
            if self._header is None:
                raise CredentialError("The credential store has no passphrase yet.", path=self._path,
                                      hint="Choose a passphrase (at least 8 characters) to protect your API keys.",
                                      reason="locked")
            raise CredentialError("The credential store is locked.", path=self._path,
                                  hint="Enter your passphrase to unlock the saved API keys.", reason="locked")
        key = self._keyring_get()
        if self._header is None:
            self._fernet = self._fernet_from_keyring(key) if key is not None else None
            self._entries = {}
            return self._entries
        if key is None:
            raise self._damaged(f"The credential vault exists, but its key is missing from the system keyring "
                                f"(service {self._service!r}), so the saved API keys cannot be decrypted.")
        fernet = self._fernet_from_keyring(key)
        entries = self._decrypt(fernet, self._header, self._damaged(
            f"The key for the credential vault in the system keyring (service {self._service!r}) does not match "
            f"this vault, so the saved API keys cannot be decrypted."))
        self._fernet, self._entries = fernet, entries
        return entries

    def _fernet_from_keyring(self, key: str) -> Fernet:
        try:
            return Fernet(key.encode("ascii"))
        except (ValueError, binascii.Error) as exc:
            raise self._damaged(f"The credential vault's key in the system keyring (service {self._service!r}) "
                                f"is not a valid key.") from exc

    def _keyring_get(self) -> str | None:
        try:
            return self._backend.get_password(self._service, KEYRING_USER)
        except Exception as exc:  # backends raise KeyringError, RuntimeError, D-Bus errors...
            raise self._keyring_failed("read", exc) from exc

    def _keyring_failed(self, action: str, exc: BaseException) -> CredentialError:
        return CredentialError(
            f"The system keyring could not be {action} ({type(exc).__name__}: {redact(str(exc))[:200]}).",
            path=self._path, reason="keyring",
            hint="Unlock or start your keyring (on Linux a Secret Service such as GNOME Keyring or KWallet) "
                 "and try again.")

    def _create_passphrase_vault(self, passphrase: str) -> None:
        if len(unicodedata.normalize("NFC", passphrase)) < MIN_PASSPHRASE_LENGTH:
            raise CredentialError(f"The new passphrase is too short; use at least {MIN_PASSPHRASE_LENGTH} characters.",
                                  hint="Choose a longer passphrase; a few unrelated words work well.")
        header = _Header(key_source="scrypt", token="", salt=os.urandom(SALT_BYTES), n=self._scrypt_n)
        self._fernet = _derive_fernet(passphrase, header)
        self._header = header
        try:
            self._write({})
        except CredentialError:
            self._fernet, self._header = None, None  # still "needs a new passphrase", not a half-made vault
            raise
        self._entries = {}
        log.info("New passphrase-protected credential vault created at %s", self._path)

    def _ensure_keyring_key(self) -> Fernet:
        """Keyring mode's first save: make the vault key and keep it in the keyring, read back to be sure it stuck."""
        key = self._keyring_get()
        if key is None:
            key = Fernet.generate_key().decode("ascii")
            try:
                self._backend.set_password(self._service, KEYRING_USER, key)
            except Exception as exc:
                raise self._keyring_failed("written", exc) from exc
            if self._keyring_get() != key:
                raise CredentialError("The system keyring did not keep the credential vault's key.",
                                      path=self._path, reason="keyring",
                                      hint="Check that your keyring is unlocked and writable, then try again.")
            log.info("New credential vault key stored in the system keyring (service %r)", self._service)
        return self._fernet_from_keyring(key)

    def _write(self, entries: dict[str, str]) -> None:
        if self._fernet is None:
            if self._mode != MODE_KEYRING:
                raise CredentialError("The credential store is locked.", path=self._path, reason="locked",
                                      hint="Enter your passphrase to unlock the saved API keys.")
            self._fernet = self._ensure_keyring_key()
        plain = json.dumps(entries, ensure_ascii=False, sort_keys=True).encode("utf-8")
        token = self._fernet.encrypt(plain).decode("ascii")
        doc: dict[str, Any] = {"format": VAULT_FORMAT, "version": VAULT_VERSION, "token": token}
        if self._mode == MODE_KEYRING:
            doc["key_source"] = "keyring"
            header = _Header(key_source="keyring", token=token)
        else:
            assert self._header is not None and self._header.salt is not None
            header = _Header(key_source="scrypt", token=token, salt=self._header.salt, n=self._header.n,
                             r=self._header.r, p=self._header.p)
            doc["key_source"] = "scrypt"
            doc["salt"] = base64.b64encode(header.salt or b"").decode("ascii")
            doc["scrypt"] = {"n": header.n, "r": header.r, "p": header.p}
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        try:
            atomic_write_bytes(self._path, data, mode=VAULT_FILE_MODE)
        except OSError as exc:
            raise CredentialError(f"The credential vault could not be saved: {exc.strerror or exc}.",
                                  path=self._path, reason="io",
                                  hint="Check that the data folder is writable and the disk is not full.") from exc
        self._header = header
