"""Field rules shared by the API and the CLI. Each raises ValueError with a message a person can act on."""

from __future__ import annotations

import re
import string

import pycountry

from crypto import GtinError, normalize_gtin
from detection.ports import RANGE_CATEGORIES
from issuer.provinces import BORDER_GATES, normalize_border_gate, normalize_province

# GS1 AI 10 values use the GS1 "82-character set" (GS1 General Specifications, figure 7.11-1).
GS1_CSET82 = frozenset(string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_")


def gtin(value: str) -> str:
    try:
        return normalize_gtin(value)
    except GtinError as exc:
        raise ValueError(str(exc)) from exc


def lot_code(value: str) -> str:
    if not 1 <= len(value) <= 20:
        raise ValueError("lot code must be 1 to 20 characters (GS1 AI 10)")
    bad = sorted({ch for ch in value if ch not in GS1_CSET82})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise ValueError(f"lot code has characters outside the GS1 82-character set: {shown}")
    return value


def country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (for example CN, VN)")
    return code


def province(value: str) -> str:
    current = normalize_province(value)
    if current is None:
        raise ValueError(f"{value!r} is not a Vietnamese province (current or former name)")
    return current


def code_matching(value: str, pattern: str, what: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(pattern, code):
        raise ValueError(f"{what} {value!r} does not match the configured format {pattern}")
    return code


def border_gate(value: str) -> str:
    gate = normalize_border_gate(value)
    if gate is None:
        raise ValueError(f"{value!r} is not a known border gate; known gates: {', '.join(BORDER_GATES)}")
    return gate


def revocation_category(value: object) -> object:
    """Run before the enum's own check, so that a missing (None) or unknown category is refused with the allowed
    values named. `key_withdrawn` is not among them: only `tem keys revoke` gives it."""
    if value not in RANGE_CATEGORIES:
        allowed = ", ".join(RANGE_CATEGORIES)
        if value is None:
            raise ValueError(f"a category is required: one of {allowed} (it is what consumers are told)")
        raise ValueError(f"{value!r} is not a revocation category: use one of {allowed}")
    return value
