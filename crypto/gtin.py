"""GS1 GTIN validation and normalisation to the 14-digit form used in stamps."""

from __future__ import annotations

import re

__all__ = ["GTIN_LENGTHS", "GtinError", "gs1_check_digit", "normalize_gtin"]

#: Lengths GS1 defines for GTINs (GTIN-8, GTIN-12/UPC-A, GTIN-13/EAN-13, GTIN-14).
GTIN_LENGTHS = (8, 12, 13, 14)

# ASCII only: str.isdigit() would also accept e.g. Arabic-Indic digits.
_DIGITS = re.compile(r"\A[0-9]+\Z")


class GtinError(ValueError):
    """A GTIN is malformed; the message says what is wrong in plain words."""


def gs1_check_digit(body: str) -> int:
    """Return the GS1 mod-10 check digit for ``body`` (all digits except the check digit).

    Weights alternate 3, 1, 3, ... starting from the rightmost digit of the body, so the
    same function serves GTIN-8/12/13/14 and any left zero-padding.
    """
    if not _DIGITS.match(body):
        raise GtinError("GTIN body must contain only the digits 0-9")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalize_gtin(value: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it left-padded with zeros to 14 digits."""
    text = value.strip()
    if not text:
        raise GtinError("GTIN is empty")
    if not _DIGITS.match(text):
        raise GtinError("GTIN must contain only the digits 0-9")
    if len(text) not in GTIN_LENGTHS:
        raise GtinError(f"GTIN must be 8, 12, 13 or 14 digits, got {len(text)}")
    gtin14 = text.zfill(14)
    expected = gs1_check_digit(gtin14[:-1])
    got = int(gtin14[-1])
    if expected != got:
        raise GtinError(f"GTIN check digit is wrong: expected {expected}, got {got}")
    return gtin14
