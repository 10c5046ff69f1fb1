"""Verification verdicts."""

from __future__ import annotations

import dataclasses

import pytest

from crypto import (
    KeyStatus,
    ParsedStamp,
    PublicKey,
    StampSigner,
    Verification,
    VerificationStatus,
    parse_stamp_uri,
    verify_stamp,
)

GTIN = "08931234567897"
ACTIVE = StampSigner("K1AB", bytes(range(32)))
RETIRED = StampSigner("K2RT", bytes(range(1, 33)))
REVOKED = StampSigner("K3RV", bytes(range(2, 34)))
KEYSET = {
    "K1AB": PublicKey("K1AB", ACTIVE.public_key, KeyStatus.ACTIVE),
    "K2RT": PublicKey("K2RT", RETIRED.public_key, KeyStatus.RETIRED),
    "K3RV": PublicKey("K3RV", REVOKED.public_key, KeyStatus.REVOKED),
}


def stamp(signer: StampSigner, serial: int = 7) -> ParsedStamp:
    return parse_stamp_uri(signer.uri("http://x.vn", GTIN, serial))


def test_status_values() -> None:
    assert [s.value for s in VerificationStatus] == ["valid", "bad_signature", "unknown_key", "key_revoked"]


def test_valid() -> None:
    verdict = verify_stamp(stamp(ACTIVE), KEYSET)
    assert verdict == Verification(VerificationStatus.VALID, "K1AB", "signature is valid")
    assert verdict
    assert bool(verdict) is True


def test_retired_key_still_valid() -> None:
    verdict = verify_stamp(stamp(RETIRED), KEYSET)
    assert verdict.status is VerificationStatus.VALID
    assert "retired" in verdict.reason


def test_revoked_key() -> None:
    verdict = verify_stamp(stamp(REVOKED), KEYSET)
    assert verdict.status is VerificationStatus.KEY_REVOKED
    assert not verdict
    assert "revoked" in verdict.reason


def test_forgery_under_revoked_kid_is_bad_signature() -> None:
    forged = dataclasses.replace(stamp(ACTIVE), kid="K3RV")
    assert verify_stamp(forged, KEYSET).status is VerificationStatus.BAD_SIGNATURE


def test_unknown_key() -> None:
    verdict = verify_stamp(stamp(StampSigner("ZZ99", bytes(32))), KEYSET)
    assert verdict.status is VerificationStatus.UNKNOWN_KEY
    assert verdict.kid == "ZZ99"
    assert not verdict


@pytest.mark.parametrize(
    "change",
    [
        {"serial": 8},
        {"gtin": "08931234567880"},
        {"kid": "K2RT"},
        {"signature": bytes(64)},
        {"signature": b"\xff" * 64},
    ],
)
def test_bad_signature(change: dict[str, object]) -> None:
    tampered = dataclasses.replace(stamp(ACTIVE), **change)  # type: ignore[arg-type]
    verdict = verify_stamp(tampered, KEYSET)
    assert verdict.status is VerificationStatus.BAD_SIGNATURE
    assert not verdict


def test_flipped_bits_never_verify() -> None:
    good = stamp(ACTIVE)
    for index in range(64):
        sig = bytearray(good.signature)
        sig[index] ^= 0x80
        tampered = dataclasses.replace(good, signature=bytes(sig))
        assert verify_stamp(tampered, KEYSET).status is VerificationStatus.BAD_SIGNATURE


def test_extras_are_not_signed() -> None:
    good = stamp(ACTIVE)
    with_extras = dataclasses.replace(good, lot="ANY", extras=(("17", "991231"),))
    assert verify_stamp(with_extras, KEYSET)


@pytest.mark.parametrize(
    "change",
    [
        {"signature": b"short"},
        {"serial": 0},
        {"gtin": "123"},
    ],
)
def test_malformed_hand_built_stamp_does_not_raise(change: dict[str, object]) -> None:
    tampered = dataclasses.replace(stamp(ACTIVE), **change)  # type: ignore[arg-type]
    assert verify_stamp(tampered, KEYSET).status is VerificationStatus.BAD_SIGNATURE


def test_verification_is_frozen() -> None:
    verdict = verify_stamp(stamp(ACTIVE), KEYSET)
    with pytest.raises(AttributeError):
        verdict.status = VerificationStatus.BAD_SIGNATURE  # type: ignore[misc]
