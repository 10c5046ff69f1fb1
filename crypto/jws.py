"""Compact JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037), signed by a stamp key: the audit head uses it, so that
anyone holding the public keyset can check what Tem published."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from crypto.keyset import KeyStatus, PublicKey
from crypto.signing import StampSigner

__all__ = ["JwsError", "sign_compact", "verify_compact"]


class JwsError(ValueError):
    """The JWS is malformed, names an unknown or revoked key, or its signature does not verify."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise JwsError("not base64url") from None


def sign_compact(signer: StampSigner, payload: dict[str, Any], typ: str = "JWT") -> str:
    header = {"alg": "EdDSA", "kid": signer.kid, "typ": typ}
    encoded = _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{encoded}.{body}".encode("ascii")
    return f"{encoded}.{body}.{_b64(signer.sign_jws_input(signing_input))}"


def verify_compact(
    token: str, keys: Iterable[PublicKey] | Mapping[str, PublicKey]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of a JWS signed by one of `keys` (not a revoked one)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError("a compact JWS has three parts")
    try:
        header = json.loads(_unb64(parts[0]))
        payload = json.loads(_unb64(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JwsError("the header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict) or header.get("alg") != "EdDSA":
        raise JwsError("only EdDSA JWS objects are accepted")
    candidates = keys.values() if isinstance(keys, Mapping) else keys
    key = next((k for k in candidates if k.kid == header.get("kid")), None)
    if key is None:
        raise JwsError(f"no key {header.get('kid')!r} in the keyset")
    if key.status is KeyStatus.REVOKED:
        raise JwsError(f"key {key.kid} is revoked")
    signature = _unb64(parts[2])
    try:
        crypto_sign_open(signature + f"{parts[0]}.{parts[1]}".encode("ascii"), key.public_key)
    except CryptoError:
        raise JwsError("the signature does not verify") from None
    return header, payload
