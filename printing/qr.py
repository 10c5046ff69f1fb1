"""QR encoding of stamp URIs with minimum-bit mode segmentation (pure; uses segno)."""

from __future__ import annotations

from typing import Any

import segno
from segno import consts

__all__ = ["ALPHANUMERIC_CHARS", "make_stamp_qr", "optimal_segments", "segments_bit_length"]

#: The 45 characters of QR alphanumeric mode (ISO/IEC 18004 table 5).
ALPHANUMERIC_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM = frozenset(ALPHANUMERIC_CHARS)
_NUMERIC = frozenset("0123456789")

# Mode index order used in the tables below.
_MODES = (consts.MODE_NUMERIC, consts.MODE_ALPHANUMERIC, consts.MODE_BYTE)
_NUM, _ALN, _BYT = 0, 1, 2
_MODE_INDICATOR_BITS = 4
# Costs are in sixths of a bit so numeric (10 bits / 3 digits) and alphanumeric
# (11 bits / 2 chars) per-character costs are integers; a segment's real size is the
# running total rounded up to a whole bit, which is exactly 4/7 bits for 1/2 trailing
# digits and 6 bits for a trailing alphanumeric character.
_NUM_CHAR_COST = 20
_ALN_CHAR_COST = 33
_BYTE_COST = 48


def _count_bits(version: int) -> tuple[int, int, int]:
    """Character-count indicator widths (numeric, alphanumeric, byte) for a QR version."""
    if not 1 <= version <= 40:
        raise ValueError(f"QR version must be 1 to 40, got {version}")
    if version <= 9:
        return (10, 9, 8)
    if version <= 26:
        return (12, 11, 16)
    return (14, 13, 16)


def _byte_len(char: str) -> int:
    # segno encodes byte segments as ISO 8859-1 when it can; count UTF-8 otherwise.
    return 1 if ord(char) < 256 else len(char.encode("utf-8"))


def _ceil6(value: int) -> int:
    return -(-value // 6) * 6


def optimal_segments(text: str, version_hint: int = 9) -> list[tuple[str, int]]:
    """Split ``text`` into numeric / alphanumeric / byte segments using the fewest bits.

    Dynamic programming over the three modes: for each character and each mode, the cheapest
    encoding of the prefix whose last segment is in that mode (continue it, or close the
    cheapest other segment and pay a new mode indicator + character count). The count widths
    depend on the version range, hence ``version_hint`` (1-9, 10-26 or 27-40).
    Returns ``(chunk, segno.consts.MODE_*)`` pairs whose chunks concatenate to ``text``.
    """
    if not text:
        return []
    header = [(_MODE_INDICATOR_BITS + bits) * 6 for bits in _count_bits(version_hint)]
    inf = 1 << 60
    costs = [inf, inf, inf]
    # came_from[i][m]: mode of character i-1 on the best path that puts character i in mode m.
    came_from: list[tuple[int, int, int]] = []
    for index, char in enumerate(text):
        char_costs = (
            _NUM_CHAR_COST if char in _NUMERIC else inf,
            _ALN_CHAR_COST if char in _ALNUM else inf,
            _BYTE_COST * _byte_len(char),
        )
        new_costs = [inf, inf, inf]
        links = [0, 0, 0]
        for mode in (_NUM, _ALN, _BYT):
            if char_costs[mode] >= inf:
                continue
            if index == 0:
                new_costs[mode] = header[mode] + char_costs[mode]
                links[mode] = mode
                continue
            best, link = costs[mode], mode  # continuing wins ties: fewer segments
            for other in (_NUM, _ALN, _BYT):
                if other != mode and costs[other] < inf:
                    switched = _ceil6(costs[other]) + header[mode]
                    if switched < best:
                        best, link = switched, other
            new_costs[mode] = best + char_costs[mode] if best < inf else inf
            links[mode] = link
        costs = new_costs
        came_from.append((links[0], links[1], links[2]))

    mode = min((_NUM, _ALN, _BYT), key=lambda m: (_ceil6(costs[m]), m))
    modes = [0] * len(text)
    for index in range(len(text) - 1, -1, -1):
        modes[index] = mode
        mode = came_from[index][mode]

    segments: list[tuple[str, int]] = []
    start = 0
    for index in range(1, len(text) + 1):
        if index == len(text) or modes[index] != modes[start]:
            segments.append((text[start:index], _MODES[modes[start]]))
            start = index
    return segments


def segments_bit_length(segments: list[tuple[str, int]], version: int = 9) -> int:
    """Exact number of data bits (headers included, terminator excluded) for the segments."""
    widths = dict(zip(_MODES, _count_bits(version), strict=True))
    total = 0
    for chunk, mode in segments:
        total += _MODE_INDICATOR_BITS + widths[mode]
        if mode == consts.MODE_NUMERIC:
            total += 10 * (len(chunk) // 3) + (0, 4, 7)[len(chunk) % 3]
        elif mode == consts.MODE_ALPHANUMERIC:
            total += 11 * (len(chunk) // 2) + 6 * (len(chunk) % 2)
        else:
            total += 8 * sum(_byte_len(c) for c in chunk)
    return total


def make_stamp_qr(uri: str, error: str = "q") -> segno.QRCode:
    """Encode a stamp URI as the smallest QR Code at ``error`` level (default Q, never boosted)."""
    if not uri or not uri.isascii():
        raise ValueError("stamp URI must be non-empty ASCII text")
    qr: segno.QRCode | None = None
    # The count widths change at versions 10 and 27; try the smallest range first.
    for last_version in (9, 26, 40):
        # segno accepts a list of (chunk, mode) pairs; its stub only declares str/bytes/int.
        content: Any = optimal_segments(uri, last_version)
        qr = segno.make_qr(content, error=error, boost_error=False)
        if isinstance(qr.version, int) and qr.version <= last_version:
            return qr
    assert qr is not None  # the loop above always runs
    return qr
