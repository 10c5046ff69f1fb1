"""Signing keys at rest: sealed with a key-encryption key (KEK) using libsodium SecretBox.

Blob layout (all lengths in bytes)::

    b"TEMK" | version 0x01 | KEK fingerprint (8) | kid length (1) | kid | nonce (24) | box (48)

The box is SecretBox(XSalsa20-Poly1305) under a per-kid subkey
``BLAKE2b(key=KEK, data=kid, person="TEM seal key v1")``, so a blob copied onto another key
id cannot be opened. The fingerprint and kid in the header are only for clear error
messages; integrity comes from the box's MAC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from crypto.stamp import KID_PATTERN

__all__ = [
    "KEK_LENGTH",
    "KekError",
    "generate_kek",
    "kek_fingerprint",
    "open_private_key",
    "parse_kek",
    "seal_private_key",
]

KEK_LENGTH = 32
_SEED_LENGTH = 32
_MAGIC = b"TEMK\x01"
_FINGERPRINT_BYTES = 8
_FINGERPRINT_PERSON = b"TEM kek fpr v1"
_SUBKEY_PERSON = b"TEM seal key v1"
_B64_TEXT = re.compile(r"\A[A-Za-z0-9+/_-]+={0,2}\Z")


class KekError(ValueError):
    """A KEK or sealed key cannot be used. Messages never contain key material."""


def generate_kek() -> bytes:
    """Return a new random 32-byte key-encryption key."""
    return secrets.token_bytes(KEK_LENGTH)


def parse_kek(b64_text: str) -> bytes:
    """Decode the TEM_KEK setting: base64 (standard or URL-safe, padding optional) of 32 bytes."""
    message = "TEM_KEK must be base64 of exactly 32 bytes"
    if not isinstance(b64_text, str):
        raise KekError(message)
    text = b64_text.strip()
    if not _B64_TEXT.match(text):
        raise KekError(message)
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        kek = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KekError(message) from None
    if len(kek) != KEK_LENGTH:
        raise KekError(message)
    return kek


def _check_kek(kek: bytes) -> bytes:
    if not isinstance(kek, bytes) or len(kek) != KEK_LENGTH:
        raise KekError("key-encryption key must be exactly 32 bytes")
    return kek


def _check_kid(kid: str) -> bytes:
    if not isinstance(kid, str) or not KID_PATTERN.match(kid):
        raise KekError(f"key id must be 1 to 8 characters A-Z or 0-9, got {kid!r}")
    return kid.encode("ascii")


def kek_fingerprint(kek: bytes) -> str:
    """Return 16 hex characters identifying a KEK; safe to store and display."""
    return hashlib.blake2b(_check_kek(kek), digest_size=_FINGERPRINT_BYTES, person=_FINGERPRINT_PERSON).hexdigest()


def _subkey(kek: bytes, kid_bytes: bytes) -> bytes:
    return hashlib.blake2b(kid_bytes, key=kek, digest_size=32, person=_SUBKEY_PERSON).digest()


def seal_private_key(kek: bytes, seed: bytes, kid: str) -> bytes:
    """Encrypt a 32-byte Ed25519 seed for storage, bound to its key id."""
    _check_kek(kek)
    kid_bytes = _check_kid(kid)
    if not isinstance(seed, bytes) or len(seed) != _SEED_LENGTH:
        raise KekError("signing key seed must be exactly 32 bytes")
    header = _MAGIC + bytes.fromhex(kek_fingerprint(kek)) + len(kid_bytes).to_bytes(1, "big") + kid_bytes
    box = SecretBox(_subkey(kek, kid_bytes))
    return header + bytes(box.encrypt(seed))  # random 24-byte nonce || ciphertext+MAC


def open_private_key(kek: bytes, blob: bytes, kid: str) -> bytes:
    """Decrypt a blob from :func:`seal_private_key`; raises KekError with a clear reason."""
    _check_kek(kek)
    kid_bytes = _check_kid(kid)
    corrupt = KekError(f"cannot decrypt signing key {kid}: the stored blob is corrupt or was tampered with")
    if not isinstance(blob, bytes) or not blob.startswith(_MAGIC):
        raise corrupt
    pos = len(_MAGIC)
    fingerprint = blob[pos : pos + _FINGERPRINT_BYTES]
    pos += _FINGERPRINT_BYTES
    if len(blob) <= pos:
        raise corrupt
    kid_len = blob[pos]
    stored_kid = blob[pos + 1 : pos + 1 + kid_len]
    pos += 1 + kid_len
    box_bytes = blob[pos:]
    if len(box_bytes) != SecretBox.NONCE_SIZE + SecretBox.MACBYTES + _SEED_LENGTH:
        raise corrupt
    if fingerprint.hex() != kek_fingerprint(kek):
        raise KekError(f"cannot decrypt signing key {kid}: the key-encryption key is wrong")
    if stored_kid != kid_bytes:
        shown = stored_kid.decode("ascii", "replace")
        raise KekError(f"cannot decrypt signing key {kid}: the stored blob belongs to key {shown!r}")
    try:
        seed = SecretBox(_subkey(kek, kid_bytes)).decrypt(box_bytes)
    except CryptoError:
        raise corrupt from None
    if len(seed) != _SEED_LENGTH:
        raise corrupt
    return bytes(seed)
