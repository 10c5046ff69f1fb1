"""Stamp verification. A verdict is a value: nothing here raises for a bad stamp."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from crypto.keyset import KeyStatus, PublicKey
from crypto.stamp import SIGNATURE_LENGTH, ParsedStamp, signing_message

__all__ = ["Verification", "VerificationStatus", "verify_stamp"]


class VerificationStatus(StrEnum):
    VALID = "valid"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    KEY_REVOKED = "key_revoked"


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of checking one stamp; truthy only when the stamp is VALID."""

    status: VerificationStatus
    kid: str
    reason: str

    def __bool__(self) -> bool:
        return self.status is VerificationStatus.VALID


def verify_stamp(stamp: ParsedStamp, keyset: Mapping[str, PublicKey]) -> Verification:
    """Check a parsed stamp's signature against a keyset (``{kid: PublicKey}``).

    Retired keys still verify VALID. The signature is checked before the revocation
    status, so a forgery under a revoked kid is BAD_SIGNATURE and only a genuine stamp
    signed by a revoked key is KEY_REVOKED.
    """
    kid = stamp.kid
    key = keyset.get(kid)
    if key is None:
        return Verification(VerificationStatus.UNKNOWN_KEY, kid, f"no public key with id {kid!r} is known")
    problem = _signature_problem(stamp, key)
    if problem:
        return Verification(VerificationStatus.BAD_SIGNATURE, kid, problem)
    if key.status is KeyStatus.REVOKED:
        return Verification(
            VerificationStatus.KEY_REVOKED,
            kid,
            f"signature is genuine but key {kid} has been revoked; do not trust this stamp",
        )
    if key.status is KeyStatus.RETIRED:
        return Verification(
            VerificationStatus.VALID, kid, f"signature is valid (key {kid} is retired but still trusted)"
        )
    return Verification(VerificationStatus.VALID, kid, "signature is valid")


def _signature_problem(stamp: ParsedStamp, key: PublicKey) -> str:
    """Return why the signature fails, or "" if it verifies."""
    try:
        message = signing_message(stamp.kid, stamp.gtin, stamp.serial)
    except ValueError as exc:
        # Only reachable for a hand-built ParsedStamp; parsed ones are already valid.
        return f"stamp fields are malformed: {exc}"
    signature = stamp.signature
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LENGTH:
        return "signature is not 64 bytes"
    try:
        crypto_sign_open(signature + message, key.public_key)
    except (CryptoError, ValueError, TypeError):
        return f"signature does not match GTIN {stamp.gtin}, serial {stamp.serial} under key {stamp.kid}"
    return ""
