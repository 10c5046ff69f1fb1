"""Scratch-off PINs: 8 digits derived with HMAC-SHA-256 from a secret kept apart from the signing keys.

``pin = first 8 bytes of HMAC-SHA-256(pin_key, "TEMPIN1|{gtin14}|{serial}") as a big-endian
integer, modulo 10**8, written with 8 digits``. Nothing is stored: whoever holds the PIN key
can recompute the PIN of any stamp, and nobody else can. The key is not an Ed25519 key and is
never used for anything else; leaking the signing keys does not reveal PINs, and leaking the
PIN key does not allow forging stamps. Test vectors are in ``tests/vectors/pins.json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from crypto.gtin import GtinError, normalize_gtin
from crypto.stamp import MAX_SERIAL

__all__ = ["PIN_DIGITS", "PIN_DOMAIN", "PinDeriver", "PinKeyError", "derive_pin", "parse_pin_key", "pin_matches"]

PIN_DOMAIN = "TEMPIN1"
PIN_DIGITS = 8
_MODULUS = 10**PIN_DIGITS
MIN_KEY_LENGTH = 32


class PinKeyError(ValueError):
    """The PIN key is missing or malformed; the message says what to set."""


def parse_pin_key(text: str) -> bytes:
    """Decode a PIN key given as base64 of at least 32 random bytes (as in ``TEM_PIN_KEY``)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PinKeyError("the PIN key must be base64 (for example from `openssl rand -base64 32`)") from None
    if len(key) < MIN_KEY_LENGTH:
        raise PinKeyError(f"the PIN key must be at least {MIN_KEY_LENGTH} bytes, got {len(key)}")
    return key


def _message(gtin14: str, serial: int) -> bytes:
    try:
        gtin = normalize_gtin(gtin14)
    except GtinError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(serial, int) or isinstance(serial, bool) or not 1 <= serial <= MAX_SERIAL:
        raise ValueError("serial must be an integer between 1 and 99999999999999999999")
    return f"{PIN_DOMAIN}|{gtin}|{serial}".encode()


def derive_pin(key: bytes, gtin14: str, serial: int) -> str:
    """The 8-digit scratch-off PIN of one stamp."""
    if len(key) < MIN_KEY_LENGTH:
        raise PinKeyError(f"the PIN key must be at least {MIN_KEY_LENGTH} bytes, got {len(key)}")
    digest = hmac.new(key, _message(gtin14, serial), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % _MODULUS:08d}"


def pin_matches(key: bytes, gtin14: str, serial: int, candidate: str) -> bool:
    """Constant-time check of a PIN typed by a consumer (spaces and dashes are ignored)."""
    cleaned = candidate.replace(" ", "").replace("-", "")
    if len(cleaned) != PIN_DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return False
    return hmac.compare_digest(derive_pin(key, gtin14, serial), cleaned)


class PinDeriver:
    """PINs for many serials of one GTIN: the keyed hash state is set up once."""

    __slots__ = ("_prefix", "_state")

    def __init__(self, key: bytes, gtin14: str) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise PinKeyError(f"the PIN key must be at least {MIN_KEY_LENGTH} bytes, got {len(key)}")
        self._state = hmac.new(key, digestmod=hashlib.sha256)
        self._prefix = _message(gtin14, 1)[: -len("1")]

    def __repr__(self) -> str:
        return "PinDeriver(<secret>)"

    def __call__(self, serial: int) -> str:
        if not isinstance(serial, int) or isinstance(serial, bool) or not 1 <= serial <= MAX_SERIAL:
            raise ValueError("serial must be an integer between 1 and 99999999999999999999")
        state = self._state.copy()
        state.update(self._prefix + str(serial).encode())
        return f"{int.from_bytes(state.digest()[:8], 'big') % _MODULUS:08d}"
