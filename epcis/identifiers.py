"""GS1 identifiers in EPCIS events, as GS1 Digital Link URIs: a stamp, a lot class, a pallet's SSCC, a GLN.

Pure. A URI is compared by what it identifies (the path's keys), after lower-casing its scheme and host; the
resolver's `k` and `s` signature parameters are never part of an identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from crypto.gtin import GtinError, gs1_check_digit, normalize_gtin

GS1_HOST = "https://id.gs1.org"
_SERIAL = re.compile(r"\A[1-9][0-9]{0,19}\Z")
_LOT = re.compile(r"\A[!%-?A-Z_a-z\"]{1,20}\Z")  # GS1 AI 10: up to 20 characters of the CSET 82 set
_SSCC = re.compile(r"\A[0-9]{18}\Z")
_GLN = re.compile(r"\A[0-9]{13}\Z")
MAX_SERIAL = 2**63 - 1  # what the registry's BIGINT serials hold


class IdentifierError(ValueError):
    """Not an identifier Tem knows; the message says why, in plain words."""


@dataclass(frozen=True, slots=True)
class Identified:
    """What a URI names. A stamp has a serial; a lot class has a lot and no serial; else only `uri`."""

    uri: str  # normalised: lower-case scheme and host, no query or fragment
    gtin: str | None = None
    lot: str | None = None
    serial: int | None = None


def _check_digit_ok(digits: str) -> bool:
    return gs1_check_digit(digits[:-1]) == int(digits[-1])


def normalise(uri: str) -> str:
    """The URI with its scheme and host lower-cased and its query and fragment dropped."""
    parts = urlsplit(uri.strip())
    if not parts.scheme or not parts.netloc:
        return uri.strip()
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"


def _keys(uri: str, segments: list[str]) -> dict[str, str] | None:
    """The Digital Link keys of a path: from its first "01", "00" or "414" on (a path prefix may precede)."""
    for start, segment in enumerate(segments):
        if segment in ("01", "00", "414"):
            tail = segments[start:]
            if len(tail) % 2:
                raise IdentifierError(f"{uri[:80]!r}: a Digital Link path needs key and value pairs")
            return dict(zip(tail[::2], tail[1::2], strict=True))
    return None


def _location_key(ai: str, value: str) -> Identified:
    digits, name, pattern = (18, "an SSCC", _SSCC) if ai == "00" else (13, "a GLN", _GLN)
    if not pattern.match(value) or not _check_digit_ok(value):
        raise IdentifierError(f"{value[:30]!r} is not {name} ({digits} digits with a valid check digit)")
    return Identified(f"{GS1_HOST}/{ai}/{value}")


def _trade_item(text: str, keys: dict[str, str]) -> Identified:
    try:
        gtin = normalize_gtin(keys["01"])
    except GtinError as exc:
        raise IdentifierError(f"{keys['01'][:30]!r}: {exc}") from None
    lot = keys.get("10")
    if lot is not None and not _LOT.match(lot):
        raise IdentifierError(f"{lot[:30]!r} is not a lot code (1 to 20 GS1 characters)")
    serial_text = keys.get("21")
    if serial_text is None:
        return Identified(text, gtin, lot)  # a lot class, or a product class when there is no lot
    if not _SERIAL.match(serial_text) or int(serial_text) > MAX_SERIAL:
        raise IdentifierError(f"{serial_text[:30]!r} is not a Tem serial (a whole number from 1 to {MAX_SERIAL})")
    return Identified(text, gtin, lot, int(serial_text))


def parse(uri: str) -> Identified:
    """Read a Digital Link URI (`/01/{gtin}/21/{serial}`, `/01/{gtin}/10/{lot}[/21/{serial}]`, `/00/{sscc}`,
    `/414/{gln}`, on any host). Any other absolute URI is kept as it is, by its normalised text."""
    text = normalise(uri)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        if ":" not in text:
            raise IdentifierError(f"{uri[:80]!r} is not a URI")
        return Identified(text)
    keys = _keys(uri, [unquote(s) for s in parts.path.split("/") if s])
    if keys is None:
        return Identified(text)
    for ai in ("00", "414"):
        if ai in keys:
            return _location_key(ai, keys[ai])
    if "01" not in keys:
        return Identified(text)
    return _trade_item(text, keys)


def stamp_uri(base: str, gtin: str, serial: int) -> str:
    return f"{base}/01/{gtin}/21/{serial}"


def lot_class_uri(base: str, gtin: str, lot: str) -> str:
    return f"{base}/01/{gtin}/10/{lot}"


def gln_uri(gln: str) -> str:
    return f"{GS1_HOST}/414/{gln}"
