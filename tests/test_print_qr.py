"""The fast QR encoder against segno, the reference: the same symbol, module for module."""

from __future__ import annotations

import random

import pytest
import segno
from segno import consts

from crypto import StampSigner
from printing.qr import make_stamp_qr, optimal_segments
from printing.qrfast import StampQrEncoder, encode_segments
from tests.print_support import decode_all

SEED = bytes(range(32))
GTIN = "08931234567897"
BASES = ("https://truyxuat.nongnghiep.vn", "http://127.0.0.1:8000", "https://example.vn/dl")


def same_symbol(uri: str, encoder: StampQrEncoder) -> None:
    reference = make_stamp_qr(uri)
    mine = encoder.encode(uri)
    assert (mine.version, mine.mask) == (reference.version, reference.mask), uri
    assert mine.matrix() == [list(row) for row in reference.matrix], uri


@pytest.mark.parametrize("base", BASES)
def test_stamps_match_segno_module_for_module(base: str) -> None:
    signer = StampSigner("K1AB", SEED)
    encoder = StampQrEncoder()
    for uri in signer.uris(base, GTIN, 9995, 10012):  # serial length changes inside the range
        same_symbol(uri, encoder)
    for serial in (1, 99, 123456789012, 99999999999999999999):
        same_symbol(signer.uri(base, GTIN, serial), encoder)


def test_key_id_lengths_and_level_q_versions() -> None:
    encoder = StampQrEncoder()
    for kid in ("A", "K1AB", "ABCDEFGH"):
        signer = StampSigner(kid, SEED)
        for serial in (1, 123456789012, 99999999999999999999):
            same_symbol(signer.uri(BASES[0], GTIN, serial), encoder)


def test_signatures_with_digit_runs_use_the_full_segmentation() -> None:
    """Signatures are base32, so they can hold runs of the digits 2-7; long runs change the
    optimal segmentation, and the fast path must notice and fall back."""
    encoder = StampQrEncoder()
    signer = StampSigner("K1AB", SEED)
    real = signer.uri(BASES[0], GTIN, 123456)
    head, sig = real.split("&s=")
    rng = random.Random(7)
    for run in (3, 4, 5, 6, 7, 8, 13, 14, 20, 103):
        for where in ("start", "middle", "end"):
            digits = "".join(rng.choice("234567") for _ in range(run))
            if where == "start":
                forged = digits + sig[run:]
            elif where == "end":
                forged = sig[: 103 - run] + digits
            else:
                forged = sig[:40] + digits + sig[40 + run :]
            forged = forged[:103]
            uri = f"{head}&s={forged}"
            same_symbol(uri, encoder)
    assert encoder.fallbacks > 0


def test_hundreds_of_random_stamps_keep_the_optimal_segmentation() -> None:
    rng = random.Random(20260701)
    encoder = StampQrEncoder()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    head = StampSigner("K1AB", SEED).uri(BASES[0], GTIN, 77).split("&s=")[0]
    for _ in range(400):
        sig = "".join(rng.choice(alphabet) for _ in range(102)) + rng.choice("AEIMQUY4")
        uri = f"{head}&s={sig}"
        # The reused layout must give exactly what the full dynamic programme gives.
        assert encoder.encode(uri) == encode_segments(optimal_segments(uri, 9))
    assert encoder.fallbacks < 40


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_general_segments_every_level_and_many_versions(level: str) -> None:
    rng = random.Random(level)
    versions = set()
    for length in (1, 10, 40, 90, 200, 400, 900):
        text = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:/?&=abc") for _ in range(length))
        for hint in (9, 26, 40):  # the segmentation depends on the version range, as in make_stamp_qr
            segments = optimal_segments(text, hint)
            mine = encode_segments(segments, level)
            if mine.version <= hint:
                break
        reference = segno.make_qr(segments, error=level.lower(), boost_error=False)
        assert (mine.version, mine.mask) == (reference.version, reference.mask)
        assert mine.matrix() == [list(row) for row in reference.matrix]
        versions.add(mine.version)
    assert len(versions) >= 6


def test_symbols_decode_with_zxing() -> None:
    from PIL import Image

    signer = StampSigner("K1AB", SEED)
    encoder = StampQrEncoder()
    for uri in signer.uris(BASES[0], GTIN, 1, 20):
        symbol = encoder.encode(uri)
        scale, border = 4, 4
        side = (symbol.size + 2 * border) * scale
        image = Image.new("L", (side, side), 255)
        pixels = image.load()
        assert pixels is not None
        for y, row in enumerate(symbol.matrix()):
            for x, dark in enumerate(row):
                if dark:
                    for dy in range(scale):
                        for dx in range(scale):
                            pixels[(x + border) * scale + dx, (y + border) * scale + dy] = 0
        assert decode_all(image) == [uri]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="level"):
        encode_segments([("1", consts.MODE_NUMERIC)], "X")
    with pytest.raises(ValueError, match="ASCII"):
        StampQrEncoder().encode("HTTPS://É")
    with pytest.raises(ValueError, match="version 40"):
        encode_segments([("A" * 5000, consts.MODE_ALPHANUMERIC)], "H")
