"""Signing keys sealed at rest under the key-encryption key."""

from __future__ import annotations

import base64

import pytest

from crypto import (
    KekError,
    generate_kek,
    generate_seed,
    kek_fingerprint,
    open_private_key,
    parse_kek,
    seal_private_key,
)

KEK = bytes(range(100, 132))
SEED = bytes(range(32))


def test_generate_kek() -> None:
    kek = generate_kek()
    assert len(kek) == 32
    assert kek != generate_kek()


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(KEK).decode(),
        base64.b64encode(KEK).decode().rstrip("="),
        base64.urlsafe_b64encode(KEK).decode(),
        "  " + base64.b64encode(KEK).decode() + "\n",
    ],
)
def test_parse_kek(text: str) -> None:
    assert parse_kek(text) == KEK


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!",
        base64.b64encode(KEK[:31]).decode(),
        base64.b64encode(KEK + b"x").decode(),
        KEK.hex(),
        base64.b64encode(KEK).decode() + "===",
    ],
)
def test_parse_kek_rejects(text: str) -> None:
    with pytest.raises(KekError, match=r"^TEM_KEK must be base64 of exactly 32 bytes$"):
        parse_kek(text)


def test_fingerprint() -> None:
    fp = kek_fingerprint(KEK)
    assert len(fp) == 16
    assert int(fp, 16) >= 0
    assert fp == kek_fingerprint(KEK)
    assert fp != kek_fingerprint(bytes(32))
    assert fp not in KEK.hex()
    with pytest.raises(KekError):
        kek_fingerprint(KEK[:16])


def test_seal_open_round_trip() -> None:
    blob = seal_private_key(KEK, SEED, "K1AB")
    assert SEED not in blob
    assert open_private_key(KEK, blob, "K1AB") == SEED
    # A fresh random nonce each time.
    assert seal_private_key(KEK, SEED, "K1AB") != blob


def test_wrong_kek() -> None:
    blob = seal_private_key(KEK, SEED, "K1AB")
    with pytest.raises(KekError) as info:
        open_private_key(generate_kek(), blob, "K1AB")
    assert str(info.value) == "cannot decrypt signing key K1AB: the key-encryption key is wrong"


def test_kid_swap_is_detected() -> None:
    blob = seal_private_key(KEK, SEED, "K1AB")
    with pytest.raises(KekError, match="belongs to key 'K1AB'"):
        open_private_key(KEK, blob, "K2RT")
    # Rewriting the header's kid does not help: the box key is derived from the kid.
    forged = blob.replace(b"\x04K1AB", b"\x04K2RT")
    assert forged != blob
    with pytest.raises(KekError, match="corrupt or was tampered"):
        open_private_key(KEK, forged, "K2RT")


@pytest.mark.parametrize("position", [-1, -20, -40, -48, -60])
def test_corrupted_blob(position: int) -> None:
    blob = bytearray(seal_private_key(KEK, SEED, "K1AB"))
    blob[position] ^= 0x01
    with pytest.raises(KekError, match="cannot decrypt signing key K1AB: the stored blob is corrupt"):
        open_private_key(KEK, bytes(blob), "K1AB")


@pytest.mark.parametrize("blob", [b"", b"TEMK\x01", b"garbage" * 20, b"TEMK\x01" + bytes(8) + b"\x04K1AB"])
def test_malformed_blob(blob: bytes) -> None:
    with pytest.raises(KekError, match="corrupt"):
        open_private_key(KEK, blob, "K1AB")


def test_truncated_blob() -> None:
    blob = seal_private_key(KEK, SEED, "K1AB")
    with pytest.raises(KekError, match="corrupt"):
        open_private_key(KEK, blob[:-1], "K1AB")


def test_messages_never_contain_key_material() -> None:
    seed = generate_seed()
    blob = seal_private_key(KEK, seed, "K1AB")
    errors: list[str] = []
    for attempt in (
        lambda: open_private_key(bytes(32), blob, "K1AB"),
        lambda: open_private_key(KEK, blob[:-3], "K1AB"),
        lambda: open_private_key(KEK, blob, "K2RT"),
        lambda: parse_kek(base64.b64encode(KEK[:20]).decode()),
    ):
        with pytest.raises(KekError) as info:
            attempt()
        errors.append(str(info.value))
    for text in errors:
        for secret in (KEK, seed):
            assert secret.hex() not in text
            assert base64.b64encode(secret).decode() not in text
            assert base64.b64encode(secret[:20]).decode().rstrip("=") not in text


@pytest.mark.parametrize(
    ("kek", "seed", "kid", "mentions"),
    [
        (KEK[:31], SEED, "K1AB", "32 bytes"),
        (KEK, SEED[:31], "K1AB", "seed"),
        (KEK, SEED, "k1ab", "key id"),
    ],
)
def test_seal_rejects(kek: bytes, seed: bytes, kid: str, mentions: str) -> None:
    with pytest.raises(KekError, match=mentions):
        seal_private_key(kek, seed, kid)
