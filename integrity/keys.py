"""The signing key: INTEGRITY_SIGNING_KEY (a PKCS#8 PEM), else the file INTEGRITY_SIGNING_KEY_FILE,
which the first use creates (`manage.py integrity_key` does it ahead). Its key id is the SHA-256 of
the raw public key; every key that signs is recorded in `PublicKey`, served at a stable URL."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrity.canonical import key_id
from integrity.models import PublicKey


def raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _pem(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as error:
        raise ImproperlyConfigured(f"{where} is not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{where} is not an Ed25519 key.")
    return key


def ensure_key_file(path: Path) -> bool:
    """Create an Ed25519 key at `path` (mode 0600) unless one is there. True if it created it.
    Two processes racing both end up with the one that won the exclusive create."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(_pem(Ed25519PrivateKey.generate()))
    return True


@functools.cache
def _cached(pem_setting: str, path: str) -> tuple[Ed25519PrivateKey, str]:
    if pem_setting:
        private = _load(pem_setting.encode(), "INTEGRITY_SIGNING_KEY")
    else:
        file = Path(path)
        ensure_key_file(file)
        private = _load(file.read_bytes(), f"INTEGRITY_SIGNING_KEY_FILE ({file})")
    return private, key_id(raw_public(private))


def signing_key() -> tuple[Ed25519PrivateKey, str]:
    """The private key and its key id, and the public key recorded for the URL that serves them."""
    private, kid = _cached(settings.INTEGRITY_SIGNING_KEY, str(settings.INTEGRITY_SIGNING_KEY_FILE))
    _publish(kid, raw_public(private))
    return private, kid


def _publish(kid: str, public: bytes) -> None:
    PublicKey.objects.bulk_create([PublicKey(key_id=kid, public_key=public)], ignore_conflicts=True)


def clear_cache() -> None:
    """Forget the loaded key (tests that switch keys, a rotation in a long-lived process)."""
    _cached.cache_clear()


def configured_public_key() -> tuple[str, bytes] | None:
    """The configured key's id and raw public key, without creating a key file (None when no key is
    configured yet)."""
    if not settings.INTEGRITY_SIGNING_KEY and not Path(settings.INTEGRITY_SIGNING_KEY_FILE).exists():
        return None
    private, kid = _cached(settings.INTEGRITY_SIGNING_KEY, str(settings.INTEGRITY_SIGNING_KEY_FILE))
    return kid, raw_public(private)
