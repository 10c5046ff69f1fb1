"""QR encoding of stamps: optimal segmentation, size at level Q, and a real decode."""

from __future__ import annotations

import io
import itertools
import random

import pytest
import segno
import zxingcpp
from PIL import Image
from segno import consts
from segno.encoder import prepare_data

from crypto import StampSigner, parse_stamp_uri
from printing.qr import ALPHANUMERIC_CHARS, make_stamp_qr, optimal_segments, segments_bit_length

BASE = "https://truyxuat.nongnghiep.vn"  # 30 characters
DEMO_BASE = "http://127.0.0.1:8000"
GTIN = "08931234567897"
SERIAL = 123456789012  # 12 digits
SEED = bytes(range(32))

# Measured QR versions at level Q (kid length -> version) for the 30-character base with
# 1-, 12- and 20-digit serials. Documented in docs/stamp-format.md; update both together.
EXPECTED_VERSIONS = {
    1: (9, 9, 9),
    2: (9, 9, 9),
    3: (9, 9, 9),
    4: (9, 9, 9),
    5: (9, 9, 10),
    6: (9, 9, 10),
    7: (9, 9, 10),
    8: (9, 9, 10),
}
SERIALS = (1, SERIAL, 99999999999999999999)


def decode(qr: segno.QRCode) -> list[str]:
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=4, border=4)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return [result.text for result in zxingcpp.read_barcodes(image)]


def _mode_ok(chunk: str, mode: int) -> bool:
    if mode == consts.MODE_NUMERIC:
        return chunk.isascii() and chunk.isdigit()
    if mode == consts.MODE_ALPHANUMERIC:
        return all(c in ALPHANUMERIC_CHARS for c in chunk)
    return mode == consts.MODE_BYTE


def _reference_bits(text: str, version: int) -> int:
    """Slow O(n^2) optimum over every (start, end, mode) segment, for checking the fast DP."""
    best = [0] + [1 << 60] * len(text)
    for end in range(1, len(text) + 1):
        for start in range(end):
            chunk = text[start:end]
            for mode in (consts.MODE_NUMERIC, consts.MODE_ALPHANUMERIC, consts.MODE_BYTE):
                if _mode_ok(chunk, mode):
                    cost = best[start] + segments_bit_length([(chunk, mode)], version)
                    best[end] = min(best[end], cost)
    return best[-1]


def test_empty() -> None:
    assert optimal_segments("") == []


def test_segments_of_a_stamp() -> None:
    uri = StampSigner("K1AB", SEED).uri(BASE, GTIN, SERIAL)
    segments = optimal_segments(uri)
    assert "".join(chunk for chunk, _ in segments) == uri
    assert segments[:5] == [
        ("HTTPS://TRUYXUAT.NONGNGHIEP.VN/01/", consts.MODE_ALPHANUMERIC),
        (GTIN, consts.MODE_NUMERIC),
        ("/21/", consts.MODE_ALPHANUMERIC),
        (str(SERIAL), consts.MODE_NUMERIC),
        ("?k=K1AB&s=", consts.MODE_BYTE),
    ]
    assert segments[5][1] == consts.MODE_ALPHANUMERIC
    assert len(segments) == 6


@pytest.mark.parametrize("version", [9, 26, 40])
def test_dp_is_optimal_against_brute_force(version: int) -> None:
    rng = random.Random(1234)  # reproducible test data, not crypto
    alphabet = "0123456789" * 3 + "ABCXYZ/:.$ " * 2 + "abc?&=é"
    samples = ["", "1", "A", "a", "12", "A1", "1A1", "HTTP://X/01/1234", "0123456789ab"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(150)]
    for text in samples:
        segments = optimal_segments(text, version)
        assert "".join(chunk for chunk, _ in segments) == text
        assert all(_mode_ok(chunk, mode) for chunk, mode in segments)
        # Adjacent segments never share a mode (that would waste a header).
        assert all(a[1] != b[1] for a, b in itertools.pairwise(segments))
        assert segments_bit_length(segments, version) == (_reference_bits(text, version) if text else 0)


@pytest.mark.parametrize("version", [1, 9, 10, 26, 27, 40])
def test_bit_count_agrees_with_segno(version: int) -> None:
    uri = StampSigner("K1AB", SEED).uri(BASE, GTIN, SERIAL) + "&x=ab%20c"
    segments = optimal_segments(uri, version)
    ours = segments_bit_length(segments, version)
    assert prepare_data(segments, None, None).bit_length_with_overhead(version, False) == ours


def test_version_hint_validation() -> None:
    with pytest.raises(ValueError, match="1 to 40"):
        optimal_segments("ABC", 41)


def test_stamp_qr_is_version_9_q_and_decodes() -> None:
    uri = StampSigner("K1AB", SEED).uri(BASE, GTIN, SERIAL)
    assert len(BASE) == 30
    qr = make_stamp_qr(uri)
    assert qr.error == "Q"
    assert isinstance(qr.version, int)
    assert qr.version <= 9
    assert not qr.is_micro
    assert decode(qr) == [uri]
    assert parse_stamp_uri(decode(qr)[0]).serial == SERIAL


def test_segmentation_beats_single_mode() -> None:
    uri = StampSigner("K1AB", SEED).uri(BASE, GTIN, SERIAL)
    plain = segno.make_qr(uri, error="q", boost_error=False)
    ours = make_stamp_qr(uri)
    assert isinstance(plain.version, int)
    assert isinstance(ours.version, int)
    assert ours.version < plain.version


@pytest.mark.parametrize("kid_length", sorted(EXPECTED_VERSIONS))
def test_versions_by_kid_length(kid_length: int, capsys: pytest.CaptureFixture[str]) -> None:
    kid = "K9ZA1B2C"[:kid_length]
    signer = StampSigner(kid, SEED)
    versions = []
    for serial in SERIALS:
        uri = signer.uri(BASE, GTIN, serial)
        qr = make_stamp_qr(uri)
        versions.append(qr.version)
        assert decode(qr) == [uri]
    with capsys.disabled():
        print(f"\nkid length {kid_length}: QR versions at level Q for serial lengths 1/12/20: {versions}")
    assert tuple(versions) == EXPECTED_VERSIONS[kid_length]


def test_demo_base_fits_version_9_for_all_kids() -> None:
    for kid_length in range(1, 9):
        uri = StampSigner("K" * kid_length, SEED).uri(DEMO_BASE, GTIN, 99999999999999999999)
        assert make_stamp_qr(uri).version == 9


def test_long_text_uses_larger_versions() -> None:
    uri = StampSigner("K1AB", SEED).uri(BASE, GTIN, SERIAL) + "&note=" + "x" * 400
    qr = make_stamp_qr(uri)
    assert isinstance(qr.version, int)
    assert qr.version > 9
    assert decode(qr) == [uri]


def test_other_error_levels() -> None:
    uri = StampSigner("K1AB", SEED).uri(BASE, GTIN, SERIAL)
    assert make_stamp_qr(uri, error="m").error == "M"
    assert make_stamp_qr(uri, error="h").error == "H"


@pytest.mark.parametrize("text", ["", "HTTPS://X.VN/Ô"])
def test_rejects_non_ascii(text: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        make_stamp_qr(text)
