"""Public keysets: RFC 8037 OKP/Ed25519 JWKs with a lifecycle status."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from crypto.stamp import KID_PATTERN

__all__ = [
    "KeyStatus",
    "KeysetError",
    "PublicKey",
    "from_jwk",
    "keyset_document",
    "parse_keyset_document",
    "to_jwk",
]

PUBLIC_KEY_LENGTH = 32
# 32 bytes of unpadded base64url is always exactly 43 characters.
_B64URL_32 = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")


class KeysetError(ValueError):
    """A JWK or keyset document is malformed; the message says which key and why."""


class KeyStatus(StrEnum):
    """Lifecycle of a signing key.

    ACTIVE: issuing new stamps. RETIRED: no longer issuing, its stamps stay valid.
    REVOKED: compromised or withdrawn, its stamps must not be trusted.
    """

    ACTIVE = "active"
    RETIRED = "retired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One public verification key. Naive datetimes are taken as UTC (DB drivers return those)."""

    kid: str
    public_key: bytes
    status: KeyStatus
    not_before: datetime | None = None
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kid, str) or not KID_PATTERN.match(self.kid):
            raise KeysetError(f"key id must be 1 to 8 characters A-Z or 0-9, got {self.kid!r}")
        if isinstance(self.public_key, bytearray | memoryview):
            # Some DB drivers hand back bytea columns as memoryview.
            object.__setattr__(self, "public_key", bytes(self.public_key))
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_LENGTH:
            raise KeysetError(f"public key {self.kid} must be exactly 32 bytes")
        try:
            status = KeyStatus(self.status)
        except ValueError:
            raise KeysetError(
                f"key {self.kid} has unknown status {self.status!r} (expected active, retired or revoked)"
            ) from None
        # Frozen dataclass: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "status", status)
        for name in ("not_before", "not_after"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(doc: Mapping[str, Any], name: str, kid: str) -> datetime | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise KeysetError(f"key {kid}: {name} must be an ISO 8601 string or null")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise KeysetError(f"key {kid}: {name} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        # The public document must be unambiguous across time zones.
        raise KeysetError(f"key {kid}: {name} must include a UTC offset or 'Z': {value!r}")
    return parsed


def to_jwk(key: PublicKey) -> dict[str, Any]:
    """Return the public JWK (RFC 8037) for a key, with TEM's status and validity fields."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(key.public_key),
        "kid": key.kid,
        "use": "sig",
        "alg": "EdDSA",
        "status": key.status.value,
        "not_before": _format_time(key.not_before),
        "not_after": _format_time(key.not_after),
    }


def from_jwk(doc: Mapping[str, Any]) -> PublicKey:
    """Parse one JWK from a keyset document. Rejects anything that is not a public Ed25519 key."""
    if not isinstance(doc, Mapping):
        raise KeysetError("each key must be a JSON object")
    kid = doc.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.match(kid):
        raise KeysetError(f"JWK kid must be 1 to 8 characters A-Z or 0-9, got {kid!r}")
    if "d" in doc:
        # A private key must never be published; refuse loudly rather than ignore it.
        raise KeysetError(f"JWK {kid} contains a private key ('d'); refusing to load it")
    if doc.get("kty") != "OKP" or doc.get("crv") != "Ed25519":
        raise KeysetError(f"JWK {kid} must have kty 'OKP' and crv 'Ed25519'")
    if doc.get("use", "sig") != "sig":
        raise KeysetError(f"JWK {kid} must have use 'sig'")
    if doc.get("alg", "EdDSA") != "EdDSA":
        raise KeysetError(f"JWK {kid} must have alg 'EdDSA' if alg is present")
    x = doc.get("x")
    if not isinstance(x, str) or not _B64URL_32.match(x):
        raise KeysetError(f"JWK {kid}: x must be unpadded base64url of a 32-byte public key")
    try:
        public_key = base64.urlsafe_b64decode(x + "=")
    except (binascii.Error, ValueError):
        raise KeysetError(f"JWK {kid}: x is not valid base64url") from None
    if _b64url(public_key) != x:
        raise KeysetError(f"JWK {kid}: x is not canonical base64url (unused trailing bits are not zero)")
    status = doc.get("status")
    if not isinstance(status, str) or status not in {s.value for s in KeyStatus}:
        raise KeysetError(f"JWK {kid}: status must be 'active', 'retired' or 'revoked', got {status!r}")
    return PublicKey(
        kid=kid,
        public_key=public_key,
        status=KeyStatus(status),
        not_before=_parse_time(doc, "not_before", kid),
        not_after=_parse_time(doc, "not_after", kid),
    )


def keyset_document(keys: Iterable[PublicKey]) -> dict[str, Any]:
    """Return the public keyset document ``{"keys": [JWK, ...]}`` (order kept)."""
    jwks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in keys:
        if key.kid in seen:
            raise KeysetError(f"key id {key.kid} appears more than once")
        seen.add(key.kid)
        jwks.append(to_jwk(key))
    return {"keys": jwks}


def parse_keyset_document(doc: Mapping[str, Any]) -> dict[str, PublicKey]:
    """Parse a keyset document into ``{kid: PublicKey}``; duplicate kids are an error."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
        raise KeysetError("keyset document must be a JSON object with a 'keys' list")
    keys: dict[str, PublicKey] = {}
    for item in doc["keys"]:
        key = from_jwk(item)
        if key.kid in keys:
            raise KeysetError(f"key id {key.kid} appears more than once")
        keys[key.kid] = key
    return keys
