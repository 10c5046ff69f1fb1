"""GTIN check digits and normalisation."""

from __future__ import annotations

import pytest

from crypto import GtinError, gs1_check_digit, normalize_gtin


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        ("893123456789", 7),  # GTIN-13, Vietnam prefix 893
        ("400638133393", 1),  # GTIN-13 4006381333931 (GS1's own example)
        ("9638507", 4),  # GTIN-8 96385074
        ("03600029145", 2),  # GTIN-12 / UPC-A 036000291452
        ("1089312345678", 9),  # GTIN-14 with indicator digit 1
        ("0000000000000", 0),
    ],
)
def test_check_digit(body: str, digit: int) -> None:
    assert gs1_check_digit(body) == digit
    # Left zero-padding never changes the check digit: GTIN-8/12/13 pad to 14 safely.
    assert gs1_check_digit(body.zfill(13)) == digit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8931234567897", "08931234567897"),
        ("08931234567897", "08931234567897"),
        ("96385074", "00000096385074"),
        ("036000291452", "00036000291452"),
        ("  8931234567897\n", "08931234567897"),
        ("10893123456789", "10893123456789"),
    ],
)
def test_normalize(value: str, expected: str) -> None:
    assert normalize_gtin(value) == expected


def test_wrong_check_digit_message() -> None:
    with pytest.raises(GtinError, match=r"^GTIN check digit is wrong: expected 7, got 3$"):
        normalize_gtin("8931234567893")


@pytest.mark.parametrize("value", ["", "1234567", "12345678901", "123456789012345", "1" * 20])
def test_wrong_length(value: str) -> None:
    with pytest.raises(GtinError, match=r"GTIN must be 8, 12, 13 or 14 digits|GTIN is empty"):
        normalize_gtin(value)


@pytest.mark.parametrize("value", ["893123456789X", "8931234 567897", "-893123456789", "٨٩٣١٢٣٤٥٦٧٨٩٧"])
def test_non_digits(value: str) -> None:
    with pytest.raises(GtinError, match="only the digits 0-9"):
        normalize_gtin(value)


def test_gtin_error_is_value_error() -> None:
    assert issubclass(GtinError, ValueError)
    with pytest.raises(GtinError):
        gs1_check_digit("12a")
