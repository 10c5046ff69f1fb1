"""Scratch-off PINs: fixed vectors, an independent HMAC, and the key rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from crypto.pin import PinDeriver, PinKeyError, derive_pin, parse_pin_key, pin_matches

VECTORS = json.loads((Path(__file__).parent / "vectors" / "pins.json").read_text(encoding="utf-8"))
KEY = bytes.fromhex(VECTORS["key_hex"])


def test_vector_key_is_the_documented_derivation() -> None:
    assert hashlib.sha256(b"TEM1 test vector pin key").digest() == KEY
    assert parse_pin_key(VECTORS["key_base64"]) == KEY


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"{c['gtin']}-{c['serial']}")
def test_vectors(case: dict[str, str]) -> None:
    serial = int(case["serial"])
    # The file is checked against the standard library directly, then against crypto.pin.
    digest = hmac.new(KEY, case["message"].encode(), hashlib.sha256).digest()
    assert f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}" == case["pin"]
    assert derive_pin(KEY, case["gtin"], serial) == case["pin"]
    assert PinDeriver(KEY, case["gtin"])(serial) == case["pin"]
    assert pin_matches(KEY, case["gtin"], serial, case["pin"])
    assert pin_matches(KEY, case["gtin"], serial, f"{case['pin'][:4]} {case['pin'][4:]}")


def test_pins_are_eight_digits_and_depend_on_key_gtin_and_serial() -> None:
    pins = {derive_pin(KEY, "08931234567897", s) for s in range(1, 2001)}
    assert len(pins) > 1990  # 2,000 draws from 10^8 values: collisions are rare
    assert all(len(p) == 8 and p.isdigit() for p in pins)
    other_key = bytes(32)
    assert derive_pin(other_key, "08931234567897", 1) != derive_pin(KEY, "08931234567897", 1)
    assert derive_pin(KEY, "08938604500010", 1) != derive_pin(KEY, "08931234567897", 1)
    # A GTIN-13 is the same product as its GTIN-14 form.
    assert derive_pin(KEY, "8931234567897", 7) == derive_pin(KEY, "08931234567897", 7)


def test_wrong_pins_do_not_match() -> None:
    right = derive_pin(KEY, "08931234567897", 5)
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    assert not pin_matches(KEY, "08931234567897", 5, wrong)
    assert not pin_matches(KEY, "08931234567897", 6, right)
    assert not pin_matches(KEY, "08931234567897", 5, right[:7])
    assert not pin_matches(KEY, "08931234567897", 5, "abcdefgh")


def test_key_rules() -> None:
    with pytest.raises(PinKeyError, match="base64"):
        parse_pin_key("not base64!")
    with pytest.raises(PinKeyError, match="at least 32 bytes"):
        parse_pin_key(base64.b64encode(b"short").decode())
    with pytest.raises(PinKeyError):
        derive_pin(b"short", "08931234567897", 1)
    with pytest.raises(ValueError, match="serial"):
        derive_pin(KEY, "08931234567897", 0)
    with pytest.raises(ValueError, match="check digit"):
        derive_pin(KEY, "08931234567890", 1)
    assert "secret" in repr(PinDeriver(KEY, "08931234567897"))
