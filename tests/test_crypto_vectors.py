"""The committed TEM1 test vectors (tests/vectors/) must hold, and must be self-consistent."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from crypto import (
    KeyStatus,
    PublicKey,
    StampFormatError,
    StampSigner,
    canonical_base,
    keyset_document,
    parse_keyset_document,
    parse_stamp_uri,
    signing_message,
    verify_stamp,
)

VECTORS = Path(__file__).parent / "vectors"
KEYS: dict[str, Any] = json.loads((VECTORS / "keys.json").read_text(encoding="utf-8"))
KEYSET_DOC: dict[str, Any] = json.loads((VECTORS / "keyset.json").read_text(encoding="utf-8"))
CASES: dict[str, Any] = json.loads((VECTORS / "cases.json").read_text(encoding="utf-8"))
SEEDS = {k["kid"]: bytes.fromhex(k["seed_hex"]) for k in KEYS["keys"]}
KEYSET = parse_keyset_document(KEYSET_DOC)


def test_vector_files_cover_every_outcome() -> None:
    expected = {c["expected"] for c in CASES["cases"]}
    assert expected == {"valid", "bad_signature", "unknown_key", "key_revoked", "format_error"}
    assert {k.status for k in KEYSET.values()} == set(KeyStatus)
    assert CASES["format"] == "TEM1"
    assert CASES["canonical_base"] == canonical_base(CASES["base"])


@pytest.mark.parametrize("key", KEYS["keys"], ids=lambda k: k["kid"])
def test_seeds_match_keyset(key: dict[str, Any]) -> None:
    seed = bytes.fromhex(key["seed_hex"])
    # The documented derivation, so nobody has to trust the hex.
    assert seed == hashlib.sha256(f"TEM1 test vector seed {key['kid']}".encode()).digest()
    public = bytes(SigningKey(seed).verify_key)
    assert public.hex() == key["public_key_hex"]
    assert KEYSET[key["kid"]].public_key == public
    assert KEYSET[key["kid"]].status == key["status"]


def test_keyset_document_is_reproduced_exactly() -> None:
    assert keyset_document(KEYSET.values()) == KEYSET_DOC
    assert json.loads(json.dumps(KEYSET_DOC)) == KEYSET_DOC


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_case_outcome(case: dict[str, Any]) -> None:
    if case["expected"] == "format_error":
        with pytest.raises(StampFormatError) as info:
            parse_stamp_uri(case["uri"])
        assert case["error_mentions"] in str(info.value).lower()
        assert case["message"] is None
        return
    parsed = parse_stamp_uri(case["uri"])
    want = case["parsed"]
    assert parsed.gtin == want["gtin"]
    assert str(parsed.serial) == want["serial"]
    assert parsed.kid == want["kid"]
    assert parsed.lot == want["lot"]
    assert [list(pair) for pair in parsed.extras] == want["extras"]
    message = signing_message(parsed.kid, parsed.gtin, parsed.serial)
    assert message == case["message"].encode("utf-8")
    assert message == f"TEM1|{want['kid']}|{want['gtin']}|{want['serial']}".encode()
    verdict = verify_stamp(parsed, KEYSET)
    assert verdict.status == case["expected"], verdict.reason
    assert bool(verdict) is (case["expected"] == "valid")


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_case_signature_rederived_from_seed(case: dict[str, Any]) -> None:
    # Ed25519 is deterministic: the 's' value must follow from the seed and the signed message.
    origin = case["signature_origin"]
    sig = bytearray(SigningKey(SEEDS[origin["signed_by"]]).sign(origin["signed_message"].encode()).signature)
    if origin["xor"] is not None:
        sig[origin["xor"]["byte"]] ^= origin["xor"]["mask"]
    if origin["transform"] == "truncate_to_63_bytes":
        sig = sig[:63]
    text = base64.b32encode(bytes(sig)).decode().rstrip("=")
    if origin["transform"] == "lowercase":
        text = text.lower()
    assert "s=" + text in case["uri"].split("?", 1)[1].split("&")
    if case["expected"] == "valid":
        assert origin["signed_message"] == case["message"]
        assert origin["xor"] is None


def test_generated_valid_stamp_matches_vector() -> None:
    # A stamp issued today for the vector key must be byte-identical to the vector.
    basic = next(c for c in CASES["cases"] if c["name"] == "valid_basic")
    signer = StampSigner("K1AB", SEEDS["K1AB"])
    assert signer.uri(CASES["base"], "8931234567897", 123456789012) == basic["uri"]
    assert next(signer.uris(CASES["base"], "08931234567897", 123456789012, 123456789012)) == basic["uri"]


def test_public_key_type() -> None:
    assert all(isinstance(k, PublicKey) for k in KEYSET.values())
