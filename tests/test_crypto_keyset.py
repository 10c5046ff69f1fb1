"""Public keys as RFC 8037 JWKs and keyset documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from crypto import (
    KeysetError,
    KeyStatus,
    PublicKey,
    from_jwk,
    keyset_document,
    parse_keyset_document,
    public_key_from_seed,
    to_jwk,
)

PK = public_key_from_seed(bytes(range(32)))


def make_key(kid: str = "K1AB", status: KeyStatus = KeyStatus.ACTIVE) -> PublicKey:
    return PublicKey(kid=kid, public_key=PK, status=status, not_before=datetime(2025, 1, 1, tzinfo=UTC))


def test_key_status_values() -> None:
    assert [s.value for s in KeyStatus] == ["active", "retired", "revoked"]
    assert KeyStatus.ACTIVE == "active"


def test_to_jwk_fields() -> None:
    jwk = to_jwk(make_key())
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",
        "kid": "K1AB",
        "use": "sig",
        "alg": "EdDSA",
        "status": "active",
        "not_before": "2025-01-01T00:00:00Z",
        "not_after": None,
    }
    json.dumps(jwk)  # plain JSON types only


@pytest.mark.parametrize("status", list(KeyStatus))
def test_jwk_round_trip(status: KeyStatus) -> None:
    key = PublicKey(
        kid="Z9",
        public_key=PK,
        status=status,
        not_before=datetime(2024, 6, 1, 7, 0, tzinfo=timezone(timedelta(hours=7))),
        not_after=datetime(2026, 1, 1, tzinfo=UTC),
    )
    back = from_jwk(json.loads(json.dumps(to_jwk(key))))
    assert back == key
    assert back.status is status


def test_naive_datetimes_are_utc_and_status_strings_coerced() -> None:
    key = PublicKey("K1AB", PK, "retired", not_before=datetime(2025, 1, 1))  # type: ignore[arg-type]
    assert key.status is KeyStatus.RETIRED
    assert key.not_before == datetime(2025, 1, 1, tzinfo=UTC)


def test_public_key_accepts_memoryview() -> None:
    key = PublicKey("K1AB", memoryview(PK), KeyStatus.ACTIVE)  # type: ignore[arg-type]
    assert type(key.public_key) is bytes
    assert key == PublicKey("K1AB", PK, KeyStatus.ACTIVE)


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [
        ({"kid": "k1"}, "key id"),
        ({"public_key": PK[:31]}, "32 bytes"),
        ({"status": "lost"}, "unknown status"),
    ],
)
def test_public_key_validation(kwargs: dict[str, Any], mentions: str) -> None:
    fields: dict[str, Any] = {"kid": "K1AB", "public_key": PK, "status": KeyStatus.ACTIVE, **kwargs}
    with pytest.raises(KeysetError, match=mentions):
        PublicKey(**fields)


def test_keyset_document_round_trip() -> None:
    keys = [make_key("K1AB"), make_key("K2RT", KeyStatus.RETIRED), make_key("K3RV", KeyStatus.REVOKED)]
    doc = keyset_document(keys)
    assert [k["kid"] for k in doc["keys"]] == ["K1AB", "K2RT", "K3RV"]
    parsed = parse_keyset_document(json.loads(json.dumps(doc)))
    assert parsed == {k.kid: k for k in keys}


def test_keyset_duplicates_rejected() -> None:
    with pytest.raises(KeysetError, match="more than once"):
        keyset_document([make_key(), make_key()])
    jwk = to_jwk(make_key())
    with pytest.raises(KeysetError, match="more than once"):
        parse_keyset_document({"keys": [jwk, jwk]})


@pytest.mark.parametrize("doc", [{}, {"keys": {}}, [], {"keys": "x"}])
def test_keyset_shape_rejected(doc: Any) -> None:
    with pytest.raises(KeysetError, match="'keys' list"):
        parse_keyset_document(doc)


def _jwk(**changes: Any) -> dict[str, Any]:
    jwk = to_jwk(make_key())
    for name, value in changes.items():
        if value is ...:
            del jwk[name]
        else:
            jwk[name] = value
    return jwk


@pytest.mark.parametrize(
    ("jwk", "mentions"),
    [
        (_jwk(d="A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"), "private key"),
        (_jwk(kty="EC"), "OKP"),
        (_jwk(crv="X25519"), "Ed25519"),
        (_jwk(use="enc"), "use"),
        (_jwk(alg="ES256"), "alg"),
        (_jwk(kid="bad kid"), "kid"),
        (_jwk(kid=...), "kid"),
        (_jwk(x="A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="), "base64url"),
        (_jwk(x="A6EHv+POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"), "base64url"),
        (_jwk(x="A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh"), "canonical"),
        (_jwk(x="AAAA"), "base64url"),
        (_jwk(status="disabled"), "status"),
        (_jwk(status=["active"]), "status"),
        (_jwk(status=...), "status"),
        (_jwk(not_before="yesterday"), "ISO 8601"),
        (_jwk(not_before="2025-01-01T00:00:00"), "UTC offset"),
        (_jwk(not_after=20250101), "ISO 8601"),
        ("not a dict", "JSON object"),
    ],
)
def test_from_jwk_rejects(jwk: Any, mentions: str) -> None:
    with pytest.raises(KeysetError, match=mentions):
        from_jwk(jwk)


def test_from_jwk_optional_use_and_alg() -> None:
    assert from_jwk(_jwk(use=..., alg=..., not_before=..., not_after=...)).not_before is None
