"""Fernet keys for everything stored encrypted (contact vault, quarantined raw bytes).

Keys come from `FEEDBACK_VAULT_KEYS` or the `feedback_vault` connection's password
(comma-separated, newest first), so rotation is adding a key in front. A checkout
with neither gets a key generated once into `.local/vault.keys`, so the demo and
the tests work out of the box; deployments must set the variable (compose
refuses to start without it).
"""

from __future__ import annotations

import base64
import logging
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from feedback.errors import ConfigError
from feedback.paths import LOCAL_ENV, local_dir, local_mode

KEYS_ENV = "FEEDBACK_VAULT_KEYS"


def _parse(value: str, source: str) -> list[bytes]:
    keys = [k.strip().encode() for k in value.split(",") if k.strip()]
    if not keys:
        raise ConfigError(f"{source}: no keys given; expected comma-separated Fernet keys, newest first")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"{source}: key #{index + 1} is not a Fernet key (32 url-safe base64 bytes); generate one with "
                "`python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`"
            ) from None
    return keys


def _local_keys() -> list[bytes]:
    path = local_dir() / "vault.keys"
    if not path.exists():
        _generation_allowed(KEYS_ENV, "comma-separated Fernet keys")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
        logging.getLogger(__name__).warning("generated a local vault key in %s (set %s in production)", path, KEYS_ENV)
    return _parse(path.read_text(), str(path))


def _generation_allowed(env: str, what: str) -> None:
    """Keys are generated only in a checkout: a deployment that lost its setting must not invent a new key."""
    if not local_mode():
        raise ConfigError(f"{env} is not set: set it to {what} (keys are generated only in a checkout, "
                          f"or with {LOCAL_ENV}=1)")


def vault_keys(connection_password: str | None = None) -> list[bytes]:
    """The configured keys, newest first."""
    if connection_password:
        return _parse(connection_password, "the feedback_vault connection's password")
    value = os.environ.get(KEYS_ENV, "").strip()
    if value:
        return _parse(value, KEYS_ENV)
    return _local_keys()


def cipher(connection_password: str | None = None) -> MultiFernet:
    """Encrypts with the newest key, decrypts with any configured key."""
    return MultiFernet([Fernet(k) for k in vault_keys(connection_password)])


def encrypt(data: bytes, fernet: MultiFernet | None = None) -> bytes:
    return (fernet or cipher()).encrypt(data)


def decrypt(token: bytes, fernet: MultiFernet | None = None) -> bytes:
    try:
        return (fernet or cipher()).decrypt(bytes(token))
    except InvalidToken:
        raise ConfigError(
            f"cannot decrypt with the configured keys ({KEYS_ENV}); was a key removed before rotation finished?"
        ) from None


HASH_KEY_ENV = "FEEDBACK_HASH_KEY"


def hash_key() -> bytes:
    """The secret behind identity hashes (repeat complaints, VIP lookup) without raw contacts.

    Kept apart from the Fernet keys on purpose: rotating encryption keys must not
    change every customer's identity hash.
    """
    value = os.environ.get(HASH_KEY_ENV, "").strip()
    if value:
        if len(value) < 16:
            raise ConfigError(f"{HASH_KEY_ENV}: too short; use at least 16 random characters")
        return value.encode()
    path = local_dir() / "hash.key"
    if not path.exists():
        _generation_allowed(HASH_KEY_ENV, "a random secret of at least 16 characters")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        logging.getLogger(__name__).warning("generated a local hash key in %s (set %s in production)", path,
                                            HASH_KEY_ENV)
    return path.read_text().strip().encode()
