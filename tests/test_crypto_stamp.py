"""The stamp URI format: canonical base, formatting and strict parsing."""

from __future__ import annotations

import base64

import pytest

from crypto import (
    KID_PATTERN,
    SERIAL_PATTERN,
    SIGNING_DOMAIN,
    ParsedStamp,
    StampFormatError,
    canonical_base,
    format_stamp_uri,
    parse_stamp_path,
    parse_stamp_uri,
    signing_message,
)

GTIN = "08931234567897"
SIG = bytes(range(64))
SIG_B32 = base64.b32encode(SIG).decode().rstrip("=")
TAIL = f"/01/{GTIN}/21/123?k=K1AB&s={SIG_B32}"


def test_constants() -> None:
    assert SIGNING_DOMAIN == "TEM1"
    assert len(SIG_B32) == 103
    assert KID_PATTERN.match("K1AB")
    assert KID_PATTERN.match("A")
    assert KID_PATTERN.match("ABCDEFGH")
    for bad in ["", "ABCDEFGHI", "k1ab", "K1-A", "K1AB\n"]:
        assert not KID_PATTERN.match(bad)
    assert SERIAL_PATTERN.match("1")
    assert SERIAL_PATTERN.match("9" * 20)
    for bad in ["", "0", "01", "9" * 21, "12a", "5\n"]:
        assert not SERIAL_PATTERN.match(bad)


def test_signing_message() -> None:
    assert signing_message("K1AB", GTIN, 123456789012) == b"TEM1|K1AB|08931234567897|123456789012"
    # GTIN-13 input is padded: the message always carries 14 digits.
    assert signing_message("K1AB", "8931234567897", 5) == b"TEM1|K1AB|08931234567897|5"


@pytest.mark.parametrize(
    ("kid", "gtin", "serial"),
    [
        ("k1ab", GTIN, 1),
        ("K1AB", "08931234567893", 1),
        ("K1AB", GTIN, 0),
        ("K1AB", GTIN, -5),
        ("K1AB", GTIN, 10**20),
        ("K1AB", GTIN, True),
    ],
)
def test_signing_message_rejects(kid: str, gtin: str, serial: int) -> None:
    with pytest.raises(StampFormatError):
        signing_message(kid, gtin, serial)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://127.0.0.1:8000", "HTTP://127.0.0.1:8000"),
        ("https://truyxuat.nongnghiep.vn", "HTTPS://TRUYXUAT.NONGNGHIEP.VN"),
        ("https://truyxuat.nongnghiep.vn/", "HTTPS://TRUYXUAT.NONGNGHIEP.VN"),
        ("HTTPS://Truyxuat.NongNghiep.vn", "HTTPS://TRUYXUAT.NONGNGHIEP.VN"),
        ("https://example.vn/Dl/v1/", "HTTPS://EXAMPLE.VN/Dl/v1"),
        ("  http://localhost:8000  ", "HTTP://LOCALHOST:8000"),
        ("http://[::1]:8000", "HTTP://[::1]:8000"),
        ("https://a-b.example.vn/x%2Fy", "HTTPS://A-B.EXAMPLE.VN/x%2Fy"),
    ],
)
def test_canonical_base(base: str, expected: str) -> None:
    assert canonical_base(base) == expected
    assert canonical_base(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "base",
    [
        "",
        "truyxuat.nongnghiep.vn",
        "ftp://example.vn",
        "https://",
        "https://exa mple.vn",
        "https://example.vn?x=1",
        "https://example.vn/#top",
        "https://user:pw@example.vn",
        "https://example.vn:99999",
        "https://example.vn:",
        "https://-bad-.vn",
        "https://exämple.vn",
        "https://example.vn/a b",
        "https://[::1",
    ],
)
def test_canonical_base_rejects(base: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        canonical_base(base)


def test_format_and_parse_round_trip() -> None:
    uri = format_stamp_uri("https://truyxuat.nongnghiep.vn/", "8931234567897", 123, "K1AB", SIG)
    assert uri == "HTTPS://TRUYXUAT.NONGNGHIEP.VN" + TAIL
    parsed = parse_stamp_uri(uri)
    assert parsed == ParsedStamp(gtin=GTIN, serial=123, kid="K1AB", signature=SIG)
    assert parsed.sig_b32 == SIG_B32
    assert parsed.lot is None
    assert parsed.extras == ()


def test_format_rejects_short_signature() -> None:
    with pytest.raises(StampFormatError, match="64 bytes"):
        format_stamp_uri("http://x.vn", GTIN, 1, "K1AB", SIG[:63])


@pytest.mark.parametrize(
    "prefix",
    [
        "https://truyxuat.nongnghiep.vn",
        "HTTPS://TRUYXUAT.NONGNGHIEP.VN",
        "hTtP://127.0.0.1:8000",
        "https://example.vn/dl/10/01",  # base path segments that look like AIs
    ],
)
def test_parse_any_case_and_base_path(prefix: str) -> None:
    parsed = parse_stamp_uri(prefix + TAIL)
    assert (parsed.gtin, parsed.serial, parsed.kid) == (GTIN, 123, "K1AB")


def test_parse_strips_scanner_whitespace() -> None:
    assert parse_stamp_uri(" HTTP://X.VN" + TAIL + "\r\n").serial == 123


def test_parse_gtin13_is_padded() -> None:
    parsed = parse_stamp_uri(f"http://x.vn/01/8931234567897/21/7?k=K1AB&s={SIG_B32}")
    assert parsed.gtin == GTIN


def test_parse_extras() -> None:
    uri = f"HTTP://X.VN/01/{GTIN}/22/RI6/10/LOT%2F7/21/9?17=270131&k=K1AB&s={SIG_B32}&utm=qr%20code"
    parsed = parse_stamp_uri(uri)
    assert parsed.lot == "LOT/7"
    assert parsed.extras == (("22", "RI6"), ("17", "270131"), ("utm", "qr code"))
    assert parsed.serial == 9


def test_parse_lot_only_and_cpv_only() -> None:
    assert parse_stamp_uri(f"HTTP://X.VN/01/{GTIN}/10/A1/21/9?k=K1AB&s={SIG_B32}").lot == "A1"
    cpv = parse_stamp_uri(f"HTTP://X.VN/01/{GTIN}/22/C1/21/9?k=K1AB&s={SIG_B32}")
    assert cpv.lot is None
    assert cpv.extras == (("22", "C1"),)


def test_parse_ai_lookalike_values() -> None:
    # A lot called "01" and a CPV called "10" must not confuse the fixed-order parser.
    parsed = parse_stamp_uri(f"HTTP://X.VN/01/{GTIN}/22/10/10/01/21/9?k=K1AB&s={SIG_B32}")
    assert parsed.lot == "01"
    assert parsed.extras == (("22", "10"),)


def test_parse_query_order_and_empty_parts() -> None:
    parsed = parse_stamp_uri(f"HTTP://X.VN/01/{GTIN}/21/9?&s={SIG_B32}&&k=K1AB&")
    assert parsed.kid == "K1AB"


def test_parse_path_form() -> None:
    parsed = parse_stamp_path(f"/01/{GTIN}/10/LOT7/21/42", f"k=K1AB&s={SIG_B32}&17=270131")
    assert (parsed.gtin, parsed.serial, parsed.kid, parsed.lot) == (GTIN, 42, "K1AB", "LOT7")
    assert parsed.extras == (("17", "270131"),)
    assert parse_stamp_path(f"/01/{GTIN}/21/42", f"?k=K1AB&s={SIG_B32}").serial == 42


@pytest.mark.parametrize(
    ("uri", "mentions"),
    [
        (f"ftp://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}", "http"),
        (f"x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}", "http"),
        (f"http:///01/{GTIN}/21/1?k=K1AB&s={SIG_B32}", "no host"),
        (f"http://x.vn/01/{GTIN}/21/01?k=K1AB&s={SIG_B32}", "start with 0"),
        (f"http://x.vn/01/{GTIN}/21/0?k=K1AB&s={SIG_B32}", "start with 0"),
        (f"http://x.vn/01/{GTIN}/21/{'1' * 21}?k=K1AB&s={SIG_B32}", "at most 20"),
        (f"http://x.vn/01/{GTIN}/21/12a?k=K1AB&s={SIG_B32}", "digits"),
        (f"http://x.vn/01/{GTIN}/21/?k=K1AB&s={SIG_B32}", "digits"),
        (f"http://x.vn/01/{GTIN}/21/1/?k=K1AB&s={SIG_B32}", "/21/"),
        (f"http://x.vn/01/08931234567893/21/1?k=K1AB&s={SIG_B32}", "check digit is wrong"),
        (f"http://x.vn/01/89312345678/21/1?k=K1AB&s={SIG_B32}", "8, 12, 13 or 14"),
        (f"http://x.vn/02/{GTIN}/21/1?k=K1AB&s={SIG_B32}", "/01/"),
        (f"http://x.vn/01/{GTIN}/10/L1/22/C1/21/1?k=K1AB&s={SIG_B32}", "/01/"),  # wrong DL order
        (f"http://x.vn/01/{GTIN}/10/{'L' * 21}/21/1?k=K1AB&s={SIG_B32}", "lot"),
        (f"http://x.vn/01/{GTIN}/10/%FF/21/1?k=K1AB&s={SIG_B32}", "utf-8"),
        (f"http://x.vn/01/{GTIN}/21/1?s={SIG_B32}", "no 'k'"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB", "no 's'"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&k=K1AB&s={SIG_B32}", "more than one 'k'"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}&s={SIG_B32}", "more than one 's'"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&%6B=K2&s={SIG_B32}", "bad name"),
        (f"http://x.vn/01/{GTIN}/21/1?k=&s={SIG_B32}", "key id"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB9ABCD&s={SIG_B32}", "key id"),
        (f"http://x.vn/01/{GTIN}/21/1?k=k1ab&s={SIG_B32}", "key id"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32.lower()}", "base32"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}=", "base32"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32[:-1]}", "base32"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32[:-2]}", "64 bytes"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}AAAAAAAA", "64 bytes"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s=", "empty"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}#frag", "fragment"),
        (f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={SIG_B32}&x=" + "A" * 2000, "too long"),
        (f"http://x.vn/01/{GTIN}/21/1 ?k=K1AB&s={SIG_B32}", "spaces"),
    ],
)
def test_parse_rejects(uri: str, mentions: str) -> None:
    with pytest.raises(StampFormatError) as info:
        parse_stamp_uri(uri)
    assert mentions.lower() in str(info.value).lower()


def test_non_canonical_base32_tail_is_rejected() -> None:
    # The last character carries 2 data bits + 3 zero bits; setting a zero bit gives the
    # same bytes under a lenient decoder, which would make stamps malleable.
    last = SIG_B32[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    tweaked = SIG_B32[:-1] + alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(StampFormatError, match="canonical"):
        parse_stamp_uri(f"http://x.vn/01/{GTIN}/21/1?k=K1AB&s={tweaked}")


def test_parse_path_rejects() -> None:
    with pytest.raises(StampFormatError, match="start with '/'"):
        parse_stamp_path(f"01/{GTIN}/21/1", f"k=K1AB&s={SIG_B32}")
    with pytest.raises(StampFormatError, match="no 'k'"):
        parse_stamp_path(f"/01/{GTIN}/21/1", "")


def test_errors_are_value_errors() -> None:
    assert issubclass(StampFormatError, ValueError)


def test_parsed_stamp_is_frozen() -> None:
    parsed = parse_stamp_uri("HTTP://X.VN" + TAIL)
    with pytest.raises(AttributeError):
        parsed.serial = 5  # type: ignore[misc]
    assert hash(parsed) == hash(parse_stamp_uri("http://x.vn" + TAIL))
