"""The TEM1 stamp format: a signed GS1 Digital Link URI.

``{BASE}/01/{gtin14}/21/{serial}?k={kid}&s={sig}`` where ``sig`` is an Ed25519 signature
over ``TEM1|{kid}|{gtin14}|{serial}``. See docs/stamp-format.md for the full contract.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote

from crypto.gtin import GtinError, normalize_gtin

__all__ = [
    "KID_PATTERN",
    "MAX_SERIAL",
    "MAX_URI_LENGTH",
    "SERIAL_PATTERN",
    "SIGNATURE_B32_LENGTH",
    "SIGNATURE_LENGTH",
    "SIGNING_DOMAIN",
    "ParsedStamp",
    "StampFormatError",
    "canonical_base",
    "decode_signature",
    "encode_signature",
    "format_stamp_uri",
    "parse_stamp_path",
    "parse_stamp_uri",
    "signing_message",
]

#: Domain-separation prefix of every signed message; bump it if the format ever changes.
SIGNING_DOMAIN = "TEM1"
#: Key id: 1-8 characters A-Z 0-9 (all QR-alphanumeric). \A..\Z so .match() is also safe.
KID_PATTERN = re.compile(r"\A[A-Z0-9]{1,8}\Z")
#: Serial (GS1 AI 21 restricted to digits): 1-20 digits, no leading zero, so 0 is not a serial.
SERIAL_PATTERN = re.compile(r"\A[1-9][0-9]{0,19}\Z")
MAX_SERIAL = 10**20 - 1
SIGNATURE_LENGTH = 64
#: 64 bytes = 512 bits -> ceil(512 / 5) = 103 base32 characters once padding is removed.
SIGNATURE_B32_LENGTH = 103
#: Longer inputs are rejected before any parsing work (a stamp is ~190 characters).
MAX_URI_LENGTH = 2048

_DIGITS = re.compile(r"\A[0-9]+\Z")
_B32_CHARS = re.compile(r"\A[A-Z2-7]+\Z")
# Printable ASCII without space: URIs never contain anything else unescaped.
_URI_CHARS = re.compile(r"\A[\x21-\x7e]*\Z")
_HOST_NAME = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\Z")
_HOST_IPV6 = re.compile(r"\A\[[0-9A-Fa-f:.]+\]\Z")
_PORT = re.compile(r"\A[0-9]{1,5}\Z")
# RFC 3986 path-abempty built from pchar (unreserved, pct-encoded, sub-delims, ":" and "@").
_BASE_PATH = re.compile(r"\A(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*\Z")
# GS1 AI 10 (lot) and AI 22 (CPV) are up to 20 characters from GS1 "CSET 82" (printable ASCII).
_AI_VALUE = re.compile(r"\A[\x21-\x7e]{1,20}\Z")


class StampFormatError(ValueError):
    """A stamp URI (or one of its fields) is malformed; the message names what is wrong."""


def _short(value: str) -> str:
    # Echo untrusted input back in messages, but never a huge blob.
    return repr(value if len(value) <= 24 else value[:24] + "...")


def _check_kid(kid: str) -> str:
    if not isinstance(kid, str) or not KID_PATTERN.match(kid):
        raise StampFormatError(f"key id must be 1 to 8 characters A-Z or 0-9, got {_short(str(kid))}")
    return kid


def _check_gtin(gtin: str) -> str:
    try:
        return normalize_gtin(gtin)
    except GtinError as exc:
        raise StampFormatError(str(exc)) from None


def _check_serial(serial: int) -> int:
    # bool is an int subclass; True must not silently become serial 1.
    if not isinstance(serial, int) or isinstance(serial, bool):
        raise StampFormatError(f"serial must be an integer, got {type(serial).__name__}")
    if not 1 <= serial <= MAX_SERIAL:
        raise StampFormatError("serial must be between 1 and 99999999999999999999 (1 to 20 digits)")
    return serial


def _parse_serial(text: str) -> int:
    if not _DIGITS.match(text):
        raise StampFormatError(f"serial must contain only the digits 0-9, got {_short(text)}")
    if len(text) > 20:
        raise StampFormatError(f"serial must be at most 20 digits, got {len(text)}")
    if text[0] == "0":
        raise StampFormatError(f"serial must not start with 0, got {_short(text)}")
    return int(text)


def encode_signature(signature: bytes) -> str:
    """Encode a 64-byte signature as unpadded upper-case RFC 4648 base32 (103 characters)."""
    if len(signature) != SIGNATURE_LENGTH:
        raise StampFormatError(f"signature must be 64 bytes, got {len(signature)}")
    return base64.b32encode(signature).decode("ascii").rstrip("=")


def decode_signature(text: str) -> bytes:
    """Decode the ``s`` parameter; strict so that each signature has exactly one spelling."""
    if not text:
        raise StampFormatError("signature is empty")
    if not _B32_CHARS.match(text):
        raise StampFormatError("signature is not valid base32 (only upper-case A-Z and digits 2-7 allowed)")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise StampFormatError("signature is not valid base32 (impossible length)") from None
    if len(raw) != SIGNATURE_LENGTH:
        raise StampFormatError(f"signature must be 64 bytes, got {len(raw)}")
    # Unused low bits of the last character must be zero, or one signature has many URIs.
    if base64.b32encode(raw).decode("ascii").rstrip("=") != text:
        raise StampFormatError("signature is not canonical base32 (unused trailing bits are not zero)")
    return raw


def signing_message(kid: str, gtin14: str, serial: int) -> bytes:
    """Return the exact bytes that are signed: UTF-8 of ``TEM1|{kid}|{gtin14}|{serial}``.

    GTIN-8/12/13 input is accepted and padded, so the message always holds 14 digits.
    """
    gtin = _check_gtin(gtin14)
    return f"{SIGNING_DOMAIN}|{_check_kid(kid)}|{gtin}|{_check_serial(serial)}".encode()


def _check_authority(authority: str, text: str) -> None:
    if "@" in authority:
        raise ValueError("base URL must not contain a user name or password")
    if authority.startswith("["):
        end = authority.find("]")
        host, after = authority[: end + 1], authority[end + 1 :]
        if end < 0 or not _HOST_IPV6.match(host) or (after and not after.startswith(":")):
            raise ValueError(f"base URL has a malformed IPv6 host: {_short(text)}")
        has_port, port = bool(after), after[1:]
    else:
        host, colon, port = authority.partition(":")
        has_port = bool(colon)
        if not _HOST_NAME.match(host):
            raise ValueError(f"base URL has no valid host name: {_short(text)}")
    if has_port and (not _PORT.match(port) or not 0 < int(port) <= 65535):
        raise ValueError(f"base URL has an invalid or empty port: {_short(text)}")


def canonical_base(base_url: str) -> str:
    """Return the canonical resolver base: scheme and host upper-cased, path kept, no trailing slash.

    Upper case is allowed because scheme and host are case-insensitive (RFC 3986 sections
    3.1 and 3.2.2) and it lets the QR encoder use the denser alphanumeric mode.
    """
    if not isinstance(base_url, str):
        raise ValueError("base URL must be a string")
    text = base_url.strip()
    if not text:
        raise ValueError("base URL is empty")
    if not _URI_CHARS.match(text):
        raise ValueError(f"base URL contains spaces or non-ASCII characters: {_short(text)}")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError(f"base URL must start with http:// or https://, got {_short(text)}")
    if "?" in rest or "#" in rest:
        raise ValueError(f"base URL must not have a query (?) or fragment (#): {_short(text)}")
    authority, slash, path = rest.partition("/")
    _check_authority(authority, text)
    path = (slash + path).rstrip("/")
    if not _BASE_PATH.match(path):
        raise ValueError(f"base URL path has characters that must be percent-encoded: {_short(path)}")
    return f"{scheme.upper()}://{authority.upper()}{path}"


def format_stamp_uri(base: str, gtin14: str, serial: int, kid: str, signature: bytes) -> str:
    """Build the stamp URI ``{BASE}/01/{gtin14}/21/{serial}?k={kid}&s={sig}``."""
    gtin = _check_gtin(gtin14)
    _check_serial(serial)
    _check_kid(kid)
    sig = encode_signature(signature)
    return f"{canonical_base(base)}/01/{gtin}/21/{serial}?k={kid}&s={sig}"


@dataclass(frozen=True, slots=True)
class ParsedStamp:
    """The fields of a stamp URI. Only gtin, serial and kid are covered by the signature."""

    gtin: str
    serial: int
    kid: str
    signature: bytes
    lot: str | None = None
    #: Unsigned extras in URI order: ("22", cpv) from the path, then other query parameters.
    extras: tuple[tuple[str, str], ...] = ()

    @property
    def sig_b32(self) -> str:
        """The signature as it appears in the URI (unpadded upper-case base32)."""
        return base64.b32encode(self.signature).decode("ascii").rstrip("=")


def _decode_component(text: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise StampFormatError(f"{what} is not valid percent-encoded UTF-8") from None


def _parse_ai_value(raw: str, what: str) -> str:
    value = _decode_component(raw, what)
    if not _AI_VALUE.match(value):
        raise StampFormatError(f"{what} must be 1 to 20 printable ASCII characters, got {_short(value)}")
    return value


_PATH_SHAPE = "/01/{gtin}[/22/{cpv}][/10/{lot}]/21/{serial}"


def _parse_path(path: str) -> tuple[str, int, str | None, list[tuple[str, str]]]:
    if not path.startswith("/"):
        raise StampFormatError("stamp path must start with '/'")
    segs = path.split("/")
    # Walk back from the end: the element order is fixed, so a lot value equal to "01"
    # or a base path containing "10" cannot be misread.
    i = len(segs) - 2
    if i < 3 or segs[i] != "21":
        raise StampFormatError(f"stamp path must end with /21/{{serial}} (shape {_PATH_SHAPE})")
    serial = _parse_serial(segs[i + 1])
    lot: str | None = None
    extras: list[tuple[str, str]] = []
    if i - 2 >= 3 and segs[i - 2] == "10":
        lot = _parse_ai_value(segs[i - 1], "lot (AI 10)")
        i -= 2
    if i - 2 >= 3 and segs[i - 2] == "22":
        extras.append(("22", _parse_ai_value(segs[i - 1], "CPV (AI 22)")))
        i -= 2
    if segs[i - 2] != "01":
        raise StampFormatError(f"stamp path must have /01/{{gtin}} before the serial (shape {_PATH_SHAPE})")
    return _check_gtin(segs[i - 1]), serial, lot, extras


def _parse_query(query: str, extras: list[tuple[str, str]]) -> tuple[str, bytes]:
    kid: str | None = None
    sig_text: str | None = None
    for part in query.split("&"):
        if not part:
            continue  # tolerate "&&" and a trailing "&"
        key, _, value = part.partition("=")
        if key == "k":
            if kid is not None:
                raise StampFormatError("stamp URI has more than one 'k' (key id) query parameter")
            kid = _check_kid(value)
        elif key == "s":
            if sig_text is not None:
                raise StampFormatError("stamp URI has more than one 's' (signature) query parameter")
            sig_text = value
        else:
            name = _decode_component(key, "query parameter name")
            if name in ("", "k", "s"):
                # A percent-encoded second k/s would otherwise hide in extras.
                raise StampFormatError(f"stamp URI has a query parameter with a bad name: {_short(key)}")
            extras.append((name, _decode_component(value, f"query parameter {_short(name)}")))
    if kid is None:
        raise StampFormatError("stamp URI has no 'k' (key id) query parameter")
    if sig_text is None:
        raise StampFormatError("stamp URI has no 's' (signature) query parameter")
    return kid, decode_signature(sig_text)


def _parse(path: str, query: str) -> ParsedStamp:
    gtin, serial, lot, extras = _parse_path(path)
    kid, signature = _parse_query(query, extras)
    return ParsedStamp(gtin=gtin, serial=serial, kid=kid, signature=signature, lot=lot, extras=tuple(extras))


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise StampFormatError(f"{what} must be text")
    if len(text) > MAX_URI_LENGTH:
        raise StampFormatError(f"{what} is too long ({len(text)} characters, limit {MAX_URI_LENGTH})")
    if not _URI_CHARS.match(text):
        raise StampFormatError(f"{what} contains spaces or non-ASCII characters")


def parse_stamp_uri(uri: str) -> ParsedStamp:
    """Parse a full stamp URI (scheme and host in any case, any base path)."""
    if not isinstance(uri, str):
        raise StampFormatError("stamp URI must be text")
    text = uri.strip()  # scanners often append a newline
    _check_text(text, "stamp URI")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise StampFormatError("stamp URI must start with http:// or https://")
    if "#" in rest:
        raise StampFormatError("stamp URI must not contain a '#' fragment")
    before_query, _, query = rest.partition("?")
    authority, slash, path = before_query.partition("/")
    if not authority:
        raise StampFormatError("stamp URI has no host")
    return _parse(slash + path, query)


def parse_item_path(path: str) -> tuple[str, int, str | None]:
    """The GTIN, serial and lot of a stamp's GS1 Digital Link path, with no signature: what a GS1 resolver
    reads from an unsigned request for the same item."""
    _check_text(path, "stamp path")
    gtin, serial, lot, _ = _parse_path(path)
    return gtin, serial, lot


def parse_stamp_path(path: str, query: str) -> ParsedStamp:
    """Parse the path and query string of a stamp URI, as a web route receives them.

    Pass the raw (still percent-encoded) path if you have it; a decoded path only differs
    for lot values containing '%' or '/'. A leading '?' on ``query`` is ignored.
    """
    _check_text(path, "stamp path")
    _check_text(query, "stamp query string")
    if "#" in path or "#" in query:
        raise StampFormatError("stamp URI must not contain a '#' fragment")
    return _parse(path, query.removeprefix("?"))
