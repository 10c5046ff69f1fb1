"""Signing keys, the StampSigner and its fast streaming path."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey, VerifyKey

from crypto import (
    KID_PATTERN,
    StampFormatError,
    StampSigner,
    generate_seed,
    new_kid,
    parse_stamp_uri,
    public_key_from_seed,
    signing_message,
)

SEED = bytes(range(32))
BASE = "https://truyxuat.nongnghiep.vn"
GTIN = "08931234567897"


def test_generate_seed_and_public_key() -> None:
    seed = generate_seed()
    assert len(seed) == 32
    assert seed != generate_seed()
    assert public_key_from_seed(seed) == bytes(SigningKey(seed).verify_key)
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_from_seed(seed[:31])


def test_new_kid() -> None:
    kids = {new_kid() for _ in range(200)}
    assert all(len(k) == 4 and KID_PATTERN.match(k) for k in kids)
    assert len(kids) > 190  # 36**4 space: collisions in 200 draws are very rare


def test_signer_matches_pynacl() -> None:
    signer = StampSigner("K1AB", SEED)
    assert signer.kid == "K1AB"
    assert signer.public_key == bytes(SigningKey(SEED).verify_key)
    sig = signer.sign(GTIN, 42)
    assert sig == SigningKey(SEED).sign(b"TEM1|K1AB|08931234567897|42").signature
    VerifyKey(signer.public_key).verify(signing_message("K1AB", GTIN, 42), sig)
    # GTIN-13 input signs the padded 14-digit form.
    assert signer.sign("8931234567897", 42) == sig


def test_signer_uri() -> None:
    signer = StampSigner("K1AB", SEED)
    uri = signer.uri(BASE, GTIN, 42)
    assert uri.startswith("HTTPS://TRUYXUAT.NONGNGHIEP.VN/01/08931234567897/21/42?k=K1AB&s=")
    parsed = parse_stamp_uri(uri)
    assert parsed.signature == signer.sign(GTIN, 42)


def test_signer_rejects_bad_input() -> None:
    with pytest.raises(StampFormatError, match="key id"):
        StampSigner("k1ab", SEED)
    with pytest.raises(ValueError, match="32 bytes"):
        StampSigner("K1AB", SEED + b"x")
    signer = StampSigner("K1AB", SEED)
    with pytest.raises(StampFormatError):
        signer.sign("08931234567893", 1)
    with pytest.raises(StampFormatError):
        signer.sign(GTIN, 0)


def test_repr_hides_secret() -> None:
    text = repr(StampSigner("K1AB", SEED))
    assert text == "StampSigner(kid='K1AB')"
    assert SEED.hex() not in text


def test_uris_match_uri() -> None:
    signer = StampSigner("K9", SEED)
    first = 99999999999999999990
    got = list(signer.uris("http://127.0.0.1:8000/", "8931234567897", first, first + 9))
    assert len(got) == 10
    assert got == [signer.uri("http://127.0.0.1:8000", GTIN, s) for s in range(first, first + 10)]
    assert list(signer.uris(BASE, GTIN, 7, 7)) == [signer.uri(BASE, GTIN, 7)]


@pytest.mark.parametrize(
    ("gtin", "first", "last"),
    [
        ("08931234567893", 1, 2),
        (GTIN, 0, 5),
        (GTIN, 5, 4),
        (GTIN, 1, 10**20),
    ],
)
def test_uris_validates_eagerly(gtin: str, first: int, last: int) -> None:
    signer = StampSigner("K1AB", SEED)
    with pytest.raises(StampFormatError):
        signer.uris(BASE, gtin, first, last)  # raises before iteration starts
    with pytest.raises(ValueError, match="base URL"):
        signer.uris("ftp://x", GTIN, 1, 2)
