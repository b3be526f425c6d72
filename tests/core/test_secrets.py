"""nexus_core.secrets: the one credential store. Keys encrypted at rest, in the keyring or behind a passphrase."""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import threading
import uuid
from pathlib import Path

import keyring
import pytest
from cryptography.fernet import Fernet
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.backends.chainer import ChainerBackend
from keyring.errors import KeyringLocked

from nexus_core.logs import RedactingFormatter, redact, register_secret
from nexus_core.secrets import CredentialError, CredentialStore, secret_ref
from nexus_core.secrets.keyrings import backend_usable
from tests.support.memory_keyring import MemoryKeyring

LOW_N = 2**10  # cheap scrypt for tests; the vault records it, so readers use the stored value


class LockedKeyring(MemoryKeyring):
    """A real-looking keyring whose every read fails, like a Secret Service the user has not unlocked."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")


class NoChildrenChainer(ChainerBackend):
    """A chainer with a high priority but only fail backends behind it."""

    viable = False
    backends = (fail.Keyring(), fail.Keyring())


def _secret() -> str:
    """A unique API-key-like value per test, so the process-wide redaction set cannot make a test pass by accident."""
    return f"key-{uuid.uuid4().hex}"


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return tmp_path / "data" / "credentials.vault"


@pytest.fixture
def backend() -> MemoryKeyring:
    return MemoryKeyring()


def _passphrase_store(vault: Path) -> CredentialStore:
    return CredentialStore(vault, keyring_backend=fail.Keyring(), scrypt_n=LOW_N)


# -- keyring mode ----------------------------------------------------------------------------------------------


def test_keyring_mode_round_trip_and_persistence(vault: Path, backend: MemoryKeyring) -> None:
    store = CredentialStore(vault, keyring_backend=backend)
    assert store.mode == "keyring"
    assert store.warning is None and not store.locked and not store.needs_new_passphrase
    assert store.names() == [] and not vault.exists()  # nothing is written before the first secret
    secret = _secret()
    store.set("provider:openai-main", secret)
    assert store.get("provider:openai-main") == secret
    assert backend.passwords[("nexus-studio", "vault-key")]  # the Fernet key lives in the keyring

    reopened = CredentialStore(vault, keyring_backend=backend)
    assert reopened.mode == "keyring"
    assert reopened.get("provider:openai-main") == secret
    assert reopened.get("provider:missing") is None


def test_default_backend_comes_from_keyring(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    store = CredentialStore(vault)
    store.set("provider:a", _secret())
    assert store.mode == "keyring"
    assert ("nexus-studio", "vault-key") in backend.passwords


def test_vault_file_has_no_plaintext_and_is_private(vault: Path, backend: MemoryKeyring) -> None:
    secret = _secret()
    store = CredentialStore(vault, keyring_backend=backend)
    store.set("provider:anthropic", secret)
    data = vault.read_bytes()
    assert secret.encode() not in data
    assert base64.b64encode(secret.encode()) not in data
    doc = json.loads(data)
    assert doc["format"] == "nexus-credentials" and doc["version"] == 1 and doc["key_source"] == "keyring"
    assert "salt" not in doc and "scrypt" not in doc
    assert "provider:anthropic" not in data.decode()  # even the names are inside the token
    if sys.platform != "win32":
        assert vault.stat().st_mode & 0o777 == 0o600
    assert not [p for p in vault.parent.iterdir() if p.name.endswith(".tmp")]


def test_delete_names_and_contains(vault: Path, backend: MemoryKeyring) -> None:
    store = CredentialStore(vault, keyring_backend=backend)
    for name in ("provider:zeta", "provider:alpha", "module:search"):
        store.set(name, _secret())
    assert store.names() == ["module:search", "provider:alpha", "provider:zeta"]
    assert "provider:alpha" in store and "provider:beta" not in store and 42 not in store
    assert store.delete("provider:alpha") is True
    assert store.delete("provider:alpha") is False
    assert "provider:alpha" not in store
    assert CredentialStore(vault, keyring_backend=backend).names() == ["module:search", "provider:zeta"]


def test_replacing_a_secret_keeps_only_the_new_value(vault: Path, backend: MemoryKeyring) -> None:
    store = CredentialStore(vault, keyring_backend=backend)
    old, new = _secret(), _secret()
    store.set("provider:x", old)
    store.set("provider:x", new)
    assert CredentialStore(vault, keyring_backend=backend).get("provider:x") == new


def test_keyring_lost_key_is_reported_and_reset_moves_the_vault_aside(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend).set("provider:a", _secret())
    before = vault.read_bytes()
    store = CredentialStore(vault, keyring_backend=MemoryKeyring())  # a keyring that never had the key
    assert store.mode == "keyring"
    with pytest.raises(CredentialError) as caught:
        store.names()
    message = str(caught.value)
    assert "missing from the system keyring" in message and str(vault) in message and "reset" in message
    assert caught.value.reason == "unreadable"
    with pytest.raises(CredentialError):
        store.set("provider:b", _secret())  # never overwrites the vault it cannot read
    assert vault.read_bytes() == before

    moved = store.reset()
    assert moved is not None and moved.name.startswith("credentials.vault.unreadable-")
    assert moved.read_bytes() == before and not vault.exists()
    assert store.names() == []
    store.set("provider:b", "fresh-secret-value")
    assert store.get("provider:b") == "fresh-secret-value"


def test_keyring_key_that_does_not_match_the_vault(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend).set("provider:a", _secret())
    other = MemoryKeyring()
    other.set_password("nexus-studio", "vault-key", Fernet.generate_key().decode())
    with pytest.raises(CredentialError, match="does not match this vault") as caught:
        CredentialStore(vault, keyring_backend=other).get("provider:a")
    assert caught.value.reason == "unreadable"


def test_keyring_vault_without_a_keyring_says_so(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend).set("provider:a", _secret())
    store = CredentialStore(vault, keyring_backend=fail.Keyring())
    assert store.mode == "keyring"  # the vault keeps the key source it was made with
    with pytest.raises(CredentialError, match="keyring could not be read") as caught:
        store.names()
    assert caught.value.reason == "keyring"


def test_service_name_separates_vault_keys(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend, service="nexus-test").set("provider:a", _secret())
    assert list(backend.passwords) == [("nexus-test", "vault-key")]


# -- which backends count as usable ------------------------------------------------------------------------------


@pytest.mark.parametrize("unusable", [fail.Keyring(), NoChildrenChainer(), LockedKeyring()],
                         ids=["fail-backend", "chainer-without-real-children", "probe-raises"])
def test_unusable_backends_fall_back_to_a_passphrase(vault: Path, unusable: KeyringBackend) -> None:
    assert backend_usable(unusable, "nexus-studio", "vault-key") is False
    store = CredentialStore(vault, keyring_backend=unusable, scrypt_n=LOW_N)
    assert store.mode == "passphrase"


def test_zero_priority_backend_is_unusable() -> None:
    class ZeroPriority(MemoryKeyring):
        priority = 0

    assert backend_usable(ZeroPriority(), "nexus-studio", "vault-key") is False
    assert backend_usable(MemoryKeyring(), "nexus-studio", "vault-key") is True


# -- passphrase mode ---------------------------------------------------------------------------------------------


def test_passphrase_mode_warns_and_stays_locked_until_unlocked(vault: Path) -> None:
    store = _passphrase_store(vault)
    assert store.mode == "passphrase"
    warning = store.warning or ""
    assert "passphrase" in warning and "each time" in warning
    assert "GNOME Keyring" in warning and "KWallet" in warning
    assert store.locked and store.needs_new_passphrase
    with pytest.raises(CredentialError) as caught:
        store.get("provider:a")
    assert caught.value.reason == "locked"
    with pytest.raises(CredentialError, match="too short"):
        store.unlock("short")
    assert store.locked and store.needs_new_passphrase and not vault.exists()

    store.unlock("correct horse battery")
    assert not store.locked and not store.needs_new_passphrase
    assert vault.exists() and store.names() == []


def test_passphrase_vault_round_trip_and_wrong_passphrase(vault: Path) -> None:
    secret = _secret()
    store = _passphrase_store(vault)
    store.unlock("correct horse battery")
    store.set("provider:openai", secret)
    data = vault.read_bytes()
    assert secret.encode() not in data and b"correct horse" not in data
    doc = json.loads(data)
    assert doc["key_source"] == "scrypt" and doc["scrypt"] == {"n": LOW_N, "r": 8, "p": 1}
    assert len(base64.b64decode(doc["salt"])) >= 16
    if sys.platform != "win32":
        assert vault.stat().st_mode & 0o777 == 0o600

    reopened = CredentialStore(vault, keyring_backend=fail.Keyring())  # default n; the stored one is used
    assert reopened.locked and not reopened.needs_new_passphrase
    with pytest.raises(CredentialError, match="passphrase is wrong") as caught:
        reopened.unlock("wrong horse battery")
    assert caught.value.reason == "wrong-passphrase"
    assert reopened.locked
    reopened.unlock("correct horse battery")
    assert reopened.get("provider:openai") == secret
    assert vault.read_bytes() == data  # unlocking reads only


def test_lock_forgets_the_entries(vault: Path) -> None:
    store = _passphrase_store(vault)
    store.unlock("correct horse battery")
    store.set("provider:a", _secret())
    store.lock()
    assert store.locked
    with pytest.raises(CredentialError, match="locked"):
        store.names()


def test_unlock_in_keyring_mode_is_refused(vault: Path, backend: MemoryKeyring) -> None:
    with pytest.raises(CredentialError, match="keyring"):
        CredentialStore(vault, keyring_backend=backend).unlock("any passphrase")


def test_passphrase_reset_starts_over(vault: Path) -> None:
    store = _passphrase_store(vault)
    store.unlock("forgotten passphrase")
    store.set("provider:a", _secret())
    moved = store.reset()
    assert moved is not None and moved.exists() and not vault.exists()
    assert store.locked and store.needs_new_passphrase


# -- damaged vaults ----------------------------------------------------------------------------------------------


def _assert_unreadable(store: CredentialStore, vault: Path, before: bytes) -> None:
    with pytest.raises(CredentialError) as caught:
        store.names()
    assert str(vault) in str(caught.value) and "What to do" in str(caught.value)
    assert caught.value.reason == "unreadable"
    with pytest.raises(CredentialError):
        store.set("provider:new", _secret())
    assert vault.read_bytes() == before  # never silently replaced


def test_truncated_vault_json_is_reported_and_kept(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend).set("provider:a", _secret())
    truncated = vault.read_bytes()[:40]
    vault.write_bytes(truncated)
    store = CredentialStore(vault, keyring_backend=backend)
    _assert_unreadable(store, vault, truncated)
    with pytest.raises(CredentialError, match="not valid JSON"):
        store.get("provider:a")


def test_bad_token_is_reported_and_kept(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend).set("provider:a", _secret())
    doc = json.loads(vault.read_text())
    doc["token"] = doc["token"][: len(doc["token"]) // 2]
    vault.write_text(json.dumps(doc))
    before = vault.read_bytes()
    _assert_unreadable(CredentialStore(vault, keyring_backend=backend), vault, before)


def test_tampered_token_is_reported_and_kept(vault: Path, backend: MemoryKeyring) -> None:
    CredentialStore(vault, keyring_backend=backend).set("provider:a", _secret())
    doc = json.loads(vault.read_text())
    raw = bytearray(base64.urlsafe_b64decode(doc["token"]))
    raw[40] ^= 0xFF  # same length and layout, wrong ciphertext: only the HMAC can tell
    doc["token"] = base64.urlsafe_b64encode(bytes(raw)).decode()
    vault.write_text(json.dumps(doc))
    before = vault.read_bytes()
    _assert_unreadable(CredentialStore(vault, keyring_backend=backend), vault, before)


def test_damaged_passphrase_vault_refuses_unlock(vault: Path) -> None:
    vault.parent.mkdir(parents=True)
    vault.write_text('{"format": "nexus-credentials", "version": 1, "key_source": "scrypt", "tok')
    store = _passphrase_store(vault)
    assert store.locked and not store.needs_new_passphrase
    with pytest.raises(CredentialError, match="damaged") as caught:
        store.unlock("correct horse battery")
    assert str(vault) in str(caught.value)
    assert store.reset() is not None and store.needs_new_passphrase


def test_vault_from_a_newer_version_is_not_touched(vault: Path, backend: MemoryKeyring) -> None:
    vault.parent.mkdir(parents=True)
    vault.write_text(json.dumps({"format": "nexus-credentials", "version": 2, "key_source": "keyring", "token": "x"}))
    with pytest.raises(CredentialError, match="newer Nexus Studio") as caught:
        CredentialStore(vault, keyring_backend=backend).names()
    assert caught.value.reason == "too-new"


# -- names, input checks, repr -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "x" * 201, "line\nbreak", None])
def test_bad_names_are_rejected_with_the_field(vault: Path, backend: MemoryKeyring, bad: object) -> None:
    store = CredentialStore(vault, keyring_backend=backend)
    with pytest.raises(CredentialError, match="credential name"):
        store.set(bad, _secret())  # type: ignore[arg-type]
    assert not vault.exists()


def test_empty_secret_is_rejected(vault: Path, backend: MemoryKeyring) -> None:
    with pytest.raises(CredentialError, match="secret for 'provider:a'"):
        CredentialStore(vault, keyring_backend=backend).set("provider:a", "")


def test_secret_ref() -> None:
    assert secret_ref("provider", "openai-main") == "provider:openai-main"
    assert secret_ref("module", "a:b") == "module:a:b"
    with pytest.raises(CredentialError, match="kind"):
        secret_ref("pro:vider", "x")
    with pytest.raises(CredentialError, match="kind"):
        secret_ref("", "x")
    with pytest.raises(CredentialError, match="owner name"):
        secret_ref("provider", "")


def test_repr_never_shows_secrets(vault: Path, backend: MemoryKeyring) -> None:
    secret = _secret()
    store = CredentialStore(vault, keyring_backend=backend)
    store.set("provider:a", secret)
    text = repr(store)
    assert secret not in text and "keyring" in text and str(vault) in text
    key = backend.passwords[("nexus-studio", "vault-key")]
    assert key not in text


# -- threads -----------------------------------------------------------------------------------------------------


def test_threads_setting_different_names_all_land(vault: Path, backend: MemoryKeyring) -> None:
    store = CredentialStore(vault, keyring_backend=backend)
    expected = {f"provider:p{t}-{i}": _secret() for t in range(8) for i in range(10)}
    items = list(expected.items())
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(chunk: list[tuple[str, str]]) -> None:
        try:
            barrier.wait()
            for name, secret in chunk:
                store.set(name, secret)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(items[t::8],)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    reopened = CredentialStore(vault, keyring_backend=backend)
    assert {name: reopened.get(name) for name in reopened.names()} == expected


# -- log redaction -----------------------------------------------------------------------------------------------


def test_register_secret_masks_exact_values_in_redact() -> None:
    value = f"plain{uuid.uuid4().hex}"  # no known API-key shape: only the registration can mask it
    assert redact(f"got {value} back") == f"got {value} back"
    register_secret(value)
    assert redact(f"got {value} back") == "got *** back"
    register_secret("tiny5")  # shorter than 6: ignored, so ordinary words are not garbled
    assert redact("a tiny5 word") == "a tiny5 word"


def test_registered_secret_is_masked_by_the_log_formatter() -> None:
    value = f"Q{uuid.uuid4().hex}"
    register_secret(value)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("nexus.test.secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("calling the provider with %s", value)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().strip() == "INFO calling the provider with ***"


def test_secrets_set_or_read_through_the_store_are_redacted(vault: Path, backend: MemoryKeyring) -> None:
    written = f"W{uuid.uuid4().hex}"
    CredentialStore(vault, keyring_backend=backend).set("provider:a", written)
    assert written not in redact(f"x {written} y")

    # A vault written outside this process: its secret becomes known to the redactor only when read.
    other_vault = vault.with_name("other.vault")
    key = Fernet.generate_key()
    read = f"R{uuid.uuid4().hex}"
    keys = MemoryKeyring()
    keys.set_password("nexus-studio", "vault-key", key.decode())
    token = Fernet(key).encrypt(json.dumps({"provider:b": read}).encode()).decode()
    other_vault.write_text(json.dumps({"format": "nexus-credentials", "version": 1, "key_source": "keyring",
                                       "token": token}))
    assert redact(read) == read
    assert CredentialStore(other_vault, keyring_backend=keys).get("provider:b") == read
    assert redact(f"x {read} y") == "x *** y"


def test_bad_scrypt_cost_is_refused(vault: Path) -> None:
    with pytest.raises(ValueError, match="power of two"):
        CredentialStore(vault, keyring_backend=fail.Keyring(), scrypt_n=1000)
    assert not vault.exists()


def test_core_opens_the_credential_store_on_first_use(tmp_path: Path) -> None:
    from nexus_core.core import Core

    core = Core.open(tmp_path / "home", keyring_backend=MemoryKeyring())
    try:
        assert not core.credentials.opened  # nothing at start-up: the keyring probe waits for first use
        core.credentials.set("provider:x", "sk-lazy-secret-1")
        assert core.credentials.opened
        assert "provider:x" in core.credentials
        assert core.credentials.mode == "keyring"
    finally:
        core.close()
