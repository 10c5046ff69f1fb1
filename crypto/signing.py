"""Ed25519 stamp signing (PyNaCl / libsodium)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from crypto.gtin import GtinError, normalize_gtin
from crypto.stamp import (
    KID_PATTERN,
    MAX_SERIAL,
    SIGNATURE_B32_LENGTH,
    SIGNATURE_LENGTH,
    SIGNING_DOMAIN,
    StampFormatError,
    canonical_base,
    format_stamp_uri,
    signing_message,
)

__all__ = ["KID_ALPHABET", "SEED_LENGTH", "StampSigner", "generate_seed", "new_kid", "public_key_from_seed"]

SEED_LENGTH = 32
KID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# 4 characters = 36**4 (1.6 million) ids: plenty for key rotation, and keeps the QR small.
_NEW_KID_LENGTH = 4


def generate_seed() -> bytes:
    """Return a new random 32-byte Ed25519 seed (the private key)."""
    return secrets.token_bytes(SEED_LENGTH)


def _check_seed(seed: bytes) -> bytes:
    if not isinstance(seed, bytes) or len(seed) != SEED_LENGTH:
        raise ValueError("Ed25519 seed must be exactly 32 bytes")
    return seed


def public_key_from_seed(seed: bytes) -> bytes:
    """Return the 32-byte Ed25519 public key for a seed."""
    public_key, _ = crypto_sign_seed_keypair(_check_seed(seed))
    return public_key


def new_kid() -> str:
    """Return a new random 4-character key id (A-Z 0-9)."""
    return "".join(secrets.choice(KID_ALPHABET) for _ in range(_NEW_KID_LENGTH))


class StampSigner:
    """Signs stamps with one Ed25519 key. Holds the secret key in memory; never printed."""

    __slots__ = ("_secret_key", "kid", "public_key")

    def __init__(self, kid: str, seed: bytes) -> None:
        if not isinstance(kid, str) or not KID_PATTERN.match(kid):
            raise StampFormatError(f"key id must be 1 to 8 characters A-Z or 0-9, got {kid!r}")
        self.kid: str = kid
        public_key, secret_key = crypto_sign_seed_keypair(_check_seed(seed))
        self.public_key: bytes = public_key
        self._secret_key: bytes = secret_key  # libsodium's 64-byte form: seed || public key

    def __repr__(self) -> str:
        return f"StampSigner(kid={self.kid!r})"

    def sign(self, gtin14: str, serial: int) -> bytes:
        """Return the 64-byte signature over ``TEM1|{kid}|{gtin14}|{serial}``."""
        signed = crypto_sign(signing_message(self.kid, gtin14, serial), self._secret_key)
        return signed[:SIGNATURE_LENGTH]  # crypto_sign returns signature || message

    def sign_jws_input(self, signing_input: bytes) -> bytes:
        """The 64-byte Ed25519 signature of a JWS signing input (`crypto.jws`): ASCII `header.payload`, which
        cannot be mistaken for a stamp's ``TEM1|…`` message."""
        if not signing_input.startswith(b"eyJ"):
            raise ValueError("not a JWS signing input")
        return crypto_sign(signing_input, self._secret_key)[:SIGNATURE_LENGTH]

    def uri(self, base: str, gtin14: str, serial: int) -> str:
        """Return the complete stamp URI for one serial."""
        return format_stamp_uri(base, gtin14, serial, self.kid, self.sign(gtin14, serial))

    def uris(self, base: str, gtin14: str, first: int, last: int) -> Iterator[str]:
        """Yield stamp URIs for serials ``first..last`` inclusive, in order.

        Hot loop for issuing millions of stamps: everything that does not depend on the
        serial is computed once, and each item is one libsodium call plus string work.
        """
        try:
            gtin = normalize_gtin(gtin14)
        except GtinError as exc:
            raise StampFormatError(str(exc)) from None
        for value in (first, last):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SERIAL:
                raise StampFormatError("serial range must be integers between 1 and 99999999999999999999")
        if last < first:
            raise StampFormatError(f"serial range is empty: last ({last}) is below first ({first})")
        return self._uris(canonical_base(base), gtin, first, last)

    def _uris(self, base: str, gtin: str, first: int, last: int) -> Iterator[str]:
        # Separate generator so argument errors surface at call time, not at first next().
        msg_prefix = f"{SIGNING_DOMAIN}|{self.kid}|{gtin}|".encode()
        uri_prefix = f"{base}/01/{gtin}/21/"
        uri_middle = f"?k={self.kid}&s="
        secret_key = self._secret_key
        sign = crypto_sign
        b32encode = base64.b32encode
        for serial in range(first, last + 1):
            text = str(serial)
            sig = sign(msg_prefix + text.encode(), secret_key)[:SIGNATURE_LENGTH]
            yield uri_prefix + text + uri_middle + b32encode(sig)[:SIGNATURE_B32_LENGTH].decode()
