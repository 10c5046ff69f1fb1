"""A fast QR Code Model 2 encoder for printing millions of stamps (pure Python, standard library).

Why not segno for every label: segno is the reference (tests compare every module with it), but
choosing the data mask costs it about 10 ms a symbol, because it scores each of the eight masks
module by module. This encoder keeps the symbol as one Python integer per mask (one bit a module)
and scores a mask with about 80 whole-board bit operations, so the Python interpreter loop runs a
few hundred times per symbol instead of tens of thousands.

It produces the same symbol as segno for the same segments: same version, same codewords,
same penalty scores (segno's reading of ISO/IEC 18004 section 7.8.3, including its N3 rule
that treats the area outside the symbol as light) and therefore the same mask.
``tests/test_print_qr.py`` checks that module for module.

Board layout: row ``y`` (0 at the top) and column ``x`` of the symbol is bit
``(R - 1 - (y + 4)) * S + (S - 1 - x)`` of the board integer, where ``S`` (the row stride)
is a multiple of 8 at least ``size + 4`` and ``R = size + 8``. So the board has four empty rows
above and below and at least four empty columns to the right of each row, and a row's
modules read left to right from its most significant bit: ``board.to_bytes()`` is already an
image in the 1-bit-per-pixel layout that PDF image masks use (once the padding is cut).
Looking at the module to the right of ``x`` is a left shift by 1; below ``y``, a left shift by ``S``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from segno import consts

from printing.qr import ALPHANUMERIC_CHARS, optimal_segments

__all__ = ["QrSymbol", "StampQrEncoder", "encode_segments"]

_LEVELS = {
    "L": consts.ERROR_LEVEL_L,
    "M": consts.ERROR_LEVEL_M,
    "Q": consts.ERROR_LEVEL_Q,
    "H": consts.ERROR_LEVEL_H,
}
# Format information: the two-bit error-correction indicator of ISO/IEC 18004 table 12.
_FORMAT_EC_BITS = {"L": 1, "M": 0, "Q": 3, "H": 2}
_MODE_INDICATOR = {consts.MODE_NUMERIC: "0001", consts.MODE_ALPHANUMERIC: "0010", consts.MODE_BYTE: "0100"}
_MARGIN = 4  # empty rows above and below the symbol on the board


@dataclass(frozen=True, slots=True)
class QrSymbol:
    """A finished QR symbol without quiet zone: ``rows`` holds ``size`` rows of ``row_bytes`` bytes,
    most significant bit first, 1 = dark (the padding bits at the end of each row are 0)."""

    version: int
    level: str
    mask: int
    size: int
    rows: bytes

    @property
    def row_bytes(self) -> int:
        return (self.size + 7) // 8

    def is_dark(self, x: int, y: int) -> bool:
        byte = self.rows[y * self.row_bytes + x // 8]
        return bool(byte >> (7 - x % 8) & 1)

    def matrix(self) -> list[list[int]]:
        """Rows of 0/1 modules (for tests and for drawing module by module)."""
        return [[int(self.is_dark(x, y)) for x in range(self.size)] for y in range(self.size)]


def _count_widths(version: int) -> dict[int, int]:
    if version <= 9:
        return {consts.MODE_NUMERIC: 10, consts.MODE_ALPHANUMERIC: 9, consts.MODE_BYTE: 8}
    if version <= 26:
        return {consts.MODE_NUMERIC: 12, consts.MODE_ALPHANUMERIC: 11, consts.MODE_BYTE: 16}
    return {consts.MODE_NUMERIC: 14, consts.MODE_ALPHANUMERIC: 13, consts.MODE_BYTE: 16}


# Galois field GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
def _gf_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for power in range(255, 512):
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@cache
def _rs_table(ec_len: int) -> tuple[int, ...]:
    """For each byte value f: the generator polynomial times f, as one ``ec_len``-byte integer.

    Reed-Solomon remainder by a linear feedback shift register held in one integer: for each
    data byte, ``f = top byte of the register XOR the data byte``, then shift the register one
    byte and XOR in ``table[f]``.
    """
    generator = [1]
    for power in range(ec_len):
        nxt = [0] * (len(generator) + 1)
        for i, coef in enumerate(generator):
            nxt[i] ^= coef
            nxt[i + 1] ^= _gf_mul(coef, _EXP[power])
        generator = nxt
    tail = generator[1:]  # leading coefficient is 1
    return tuple(int.from_bytes(bytes(_gf_mul(f, c) for c in tail), "big") for f in range(256))


def _alignment_positions(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    size = version * 4 + 17
    step = 26 if version == 32 else (version * 4 + count * 2 + 1) // (count * 2 - 2) * 2
    positions = [size - 7 - i * step for i in range(count - 1)]
    return [6, *reversed(positions)]


def _format_bits(level: str, mask: int) -> int:
    data = _FORMAT_EC_BITS[level] << 3 | mask
    rem = data
    for _ in range(10):
        rem = (rem << 1) ^ ((rem >> 9) * 0x537)
    return (data << 10 | rem) ^ 0x5412


def _version_bits(version: int) -> int:
    rem = version
    for _ in range(12):
        rem = (rem << 1) ^ ((rem >> 11) * 0x1F25)
    return version << 12 | rem


_MASKS: tuple[Callable[[int, int], bool], ...] = (
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)


def _format_cells(size: int) -> list[tuple[int, int, int]]:
    """(x, y, bit index) of both copies of the 15 format bits (ISO/IEC 18004 7.9.1)."""
    cells = [(8, i, i) for i in range(6)]
    cells += [(8, 7, 6), (8, 8, 7), (7, 8, 8)]
    cells += [(14 - i, 8, i) for i in range(9, 15)]
    cells += [(size - 1 - i, 8, i) for i in range(8)]
    cells += [(8, size - 15 + i, i) for i in range(8, 15)]
    return cells


def _version_cells(version: int, size: int) -> list[tuple[int, int, int]]:
    """(x, y, bit index) of both copies of the 18 version bits, from version 7 (7.10)."""
    if version < 7:
        return []
    cells = []
    for i in range(18):
        a, b = size - 11 + i % 3, i // 3
        cells += [(a, b, i), (b, a, i)]
    return cells


def _function_grid(version: int) -> list[list[int | None]]:
    """Function modules with their colour while masks are scored; None marks a data module."""
    size = version * 4 + 17
    grid: list[list[int | None]] = [[None] * size for _ in range(size)]
    for cx, cy in ((0, 0), (size - 7, 0), (0, size - 7)):  # finders with their separators
        for dy in range(-1, 8):
            for dx in range(-1, 8):
                x, y = cx + dx, cy + dy
                if 0 <= x < size and 0 <= y < size:
                    grid[y][x] = int(max(abs(dx - 3), abs(dy - 3)) in (0, 1, 3))
    for i in range(8, size - 8):  # timing patterns
        grid[i][6] = grid[6][i] = int(i % 2 == 0)
    align = _alignment_positions(version)
    corners = {(0, 0), (0, len(align) - 1), (len(align) - 1, 0)}
    for ai, ay in enumerate(align):
        for bi, ax in enumerate(align):
            if (ai, bi) in corners:
                continue
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    grid[ay + dy][ax + dx] = int(max(abs(dx), abs(dy)) != 1)
    # Format and version areas (and the dark module) are light while masks are scored, as in
    # segno; their real bits are added once the mask is chosen.
    for x, y, _ in _format_cells(size) + _version_cells(version, size):
        grid[y][x] = 0
    grid[size - 8][8] = 0
    return grid


def _placement_order(grid: list[list[int | None]]) -> list[tuple[int, int]]:
    """Data module order (7.7.3): two-column strips from the right, alternately up and down,
    skipping the vertical timing column."""
    size = len(grid)
    order: list[tuple[int, int]] = []
    upward = True
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        for y in range(size - 1, -1, -1) if upward else range(size):
            order.extend((x, y) for x in (right, right - 1) if grid[y][x] is None)
        upward = not upward
        right -= 2
    return order


def _interleave_order(blocks: list[tuple[int, int]]) -> list[int]:
    """Index of each codeword of "all data blocks, then all EC blocks" in the final sequence (7.6)."""
    starts: list[int] = []
    position = 0
    for data_len, _ in blocks:
        starts.append(position)
        position += data_len
    ec_starts: list[int] = []
    for _, ec_len in blocks:
        ec_starts.append(position)
        position += ec_len
    order: list[int] = []
    for i in range(max(d for d, _ in blocks)):
        order.extend(starts[b] + i for b, (d, _) in enumerate(blocks) if i < d)
    for i in range(max(e for _, e in blocks)):
        order.extend(ec_starts[b] + i for b, (_, e) in enumerate(blocks) if i < e)
    return order


class _Plan:
    """Everything about one (version, level) that does not depend on the data: built once."""

    def __init__(self, version: int, level: str) -> None:
        self.version = version
        self.level = level
        size = self.size = version * 4 + 17
        stride = self.stride = (size + _MARGIN + 7) // 8 * 8
        rows = self.rows = size + 2 * _MARGIN
        self.row_bytes = (size + 7) // 8

        def bit(x: int, y: int) -> int:
            return 1 << ((rows - 1 - (y + _MARGIN)) * stride + (stride - 1 - x))

        ecc: Any = consts.ECC
        self.blocks: list[tuple[int, int]] = []  # (data length, ec length) per block, in order
        for info in ecc[version][_LEVELS[level]]:
            self.blocks.extend([(info.num_data, info.num_total - info.num_data)] * info.num_blocks)
        self.data_len = sum(d for d, _ in self.blocks)
        self.capacity_bits = self.data_len * 8
        total_codewords = sum(d + e for d, e in self.blocks)

        grid = _function_grid(version)
        order = _placement_order(grid)
        self.total_bits = len(order)
        self.remainder_bits = self.total_bits - total_codewords * 8
        if self.remainder_bits < 0:
            raise AssertionError(f"version {version}: placement has only {self.total_bits} bits")

        # Gather index over "data bits + '0' + '1'": where each cell of the symbol rows (with
        # the padding columns) takes its character from.
        zero, one = self.total_bits, self.total_bits + 1
        position = {cell: i for i, cell in enumerate(order)}
        gather: list[int] = []
        for y in range(size):
            for x in range(stride):
                fixed = grid[y][x] if x < size else 0
                gather.append(position[(x, y)] if fixed is None else (one if fixed else zero))
        self._gather = operator.itemgetter(*gather)
        self._gather_shift = _MARGIN * stride  # the empty rows below the symbol

        self.mask_boards = [sum(bit(x, y) for x, y in order if mask(y, x)) for mask in _MASKS]
        format_cells = _format_cells(size)
        self.format_boards: list[int] = []
        for mask_number in range(8):
            bits = _format_bits(level, mask_number)
            dark_module = bit(8, size - 8)
            self.format_boards.append(dark_module | sum(bit(x, y) for x, y, i in format_cells if bits >> i & 1))
        version_bits = _version_bits(version) if version >= 7 else 0
        self.version_board = sum(bit(x, y) for x, y, i in _version_cells(version, size) if version_bits >> i & 1)

        row_mask = (1 << size) - 1
        self.valid = sum(row_mask << ((rows - 1 - (y + _MARGIN)) * stride + (stride - size)) for y in range(size))
        # Outside the symbol (margins and padding), counted as light by the N3 rule.
        self.outside = ((1 << (rows * stride)) - 1) ^ self.valid
        self.dark_total = size * size
        self.rs_tables = {ec: _rs_table(ec) for _, ec in self.blocks}
        self._interleave = operator.itemgetter(*_interleave_order(self.blocks))

    def codewords(self, data: bytes) -> bytes:
        """Split into blocks, add Reed-Solomon codewords, interleave."""
        pieces: list[bytes] = []
        ecs: list[bytes] = []
        start = 0
        for data_len, ec_len in self.blocks:
            block = data[start : start + data_len]
            start += data_len
            table = self.rs_tables[ec_len]
            shift = 8 * (ec_len - 1)
            keep = (1 << (8 * ec_len)) - 1
            reg = 0
            for value in block:
                reg = ((reg << 8) & keep) ^ table[(reg >> shift) ^ value]
            pieces.append(block)
            ecs.append(reg.to_bytes(ec_len, "big"))
        joined = b"".join(pieces) + b"".join(ecs)
        return bytes(self._interleave(joined))

    def board(self, codewords: bytes) -> int:
        """The unmasked symbol on the board (function patterns, data, light format areas)."""
        bits = format(int.from_bytes(codewords, "big"), f"0{len(codewords) * 8}b")
        bits += "0" * self.remainder_bits + "01"
        return int("".join(self._gather(bits)), 2) << self._gather_shift

    def penalty(self, dark: int, limit: int = 1 << 62) -> int:
        """segno's ISO/IEC 18004 7.8.3 penalty (N1 + N2 + N3 + N4) of one masked board.

        N3 is the costliest part; it is skipped, and a lower bound returned, once the rest
        already reaches ``limit`` (the best score so far), since this mask then cannot win.
        """
        s = self.stride
        light = dark ^ self.valid
        n1 = 0
        n2 = 0
        pairs: list[tuple[int, int]] = []
        for step in (1, s):
            # N1: runs of five or more of one colour. A window of 5 starts at every position of
            # such a run but the last four; the run costs (length - 2) = windows + 2.
            d2 = dark & (dark << step)
            d4 = d2 & (d2 << 2 * step)
            d5 = d4 & (dark << 4 * step)
            l2 = light & (light << step)
            l4 = l2 & (l2 << 2 * step)
            l5 = l4 & (light << 4 * step)
            windows = d5 | l5
            n1 += windows.bit_count() + 2 * (windows & ~(windows << step)).bit_count()
            if step == 1:
                # N2: 2x2 blocks of one colour, each (overlapping) block counts 3.
                n2 = 3 * ((d2 & (d2 << s)) | (l2 & (l2 << s))).bit_count()
            pairs.append((step, d2))
        percent = float(dark.bit_count()) / self.dark_total
        score = n1 + n2 + 10 * int(abs(percent * 100 - 50) / 5)
        if score >= limit:
            return score
        for step, d2 in pairs:
            # N3: dark-light-dark-dark-dark-light-dark with four light modules (or the edge of
            # the symbol) before or after it.
            d3 = d2 & (dark << 2 * step)
            found = dark & (light << step) & (d3 << 2 * step) & (light << 5 * step) & (dark << 6 * step)
            if not found:
                continue
            lx = light | self.outside
            lx2 = lx & (lx << step)
            lx4 = lx2 & (lx2 << 2 * step)
            near = (lx4 >> 4 * step) | (lx4 << 7 * step)
            seen = found
            # segno scans each line left to right and, after counting a pattern, skips the
            # next six modules, so a pattern 4 or 6 modules after a counted one is not seen.
            if found & ((found >> 4 * step) | (found >> 6 * step)):
                while True:
                    counted = seen & near
                    again = found & ~((counted >> 4 * step) | (counted >> 6 * step))
                    if again == seen:
                        break
                    seen = again
            score += 40 * (seen & near).bit_count()
        return score

    def finish(self, board: int) -> tuple[int, bytes]:
        best_mask = 0
        best_score = -1
        best_board = 0
        for mask, mask_board in enumerate(self.mask_boards):
            masked = board ^ mask_board
            score = self.penalty(masked, best_score if best_score >= 0 else 1 << 62)
            if best_score < 0 or score < best_score:
                best_mask, best_score, best_board = mask, score, masked
        final = best_board | self.format_boards[best_mask] | self.version_board
        raw = final.to_bytes(self.rows * self.stride // 8, "big")
        row_len = self.stride // 8
        start = _MARGIN * row_len
        keep = self.row_bytes
        rows = b"".join(raw[start + y * row_len : start + y * row_len + keep] for y in range(self.size))
        return best_mask, rows


@lru_cache(maxsize=64)
def _plan(version: int, level: str) -> _Plan:
    return _Plan(version, level)


_NUMERIC_WIDTHS = (0, 4, 7)
_ALNUM_VALUE = {c: i for i, c in enumerate(ALPHANUMERIC_CHARS)}


@lru_cache(maxsize=1)
def _alnum_pairs() -> dict[str, str]:
    pairs = {}
    for a in ALPHANUMERIC_CHARS:
        for b in ALPHANUMERIC_CHARS:
            pairs[a + b] = format(_ALNUM_VALUE[a] * 45 + _ALNUM_VALUE[b], "011b")
    return pairs


def _segment_bits(chunk: str, mode: int, widths: dict[int, int]) -> str:
    head = _MODE_INDICATOR[mode]
    if mode == consts.MODE_BYTE:
        data = chunk.encode("latin-1")
        return head + format(len(data), f"0{widths[mode]}b") + format(int.from_bytes(data, "big"), f"0{len(data) * 8}b")
    count = format(len(chunk), f"0{widths[mode]}b")
    if mode == consts.MODE_NUMERIC:
        full = len(chunk) - len(chunk) % 3
        body = "".join(format(int(chunk[i : i + 3]), "010b") for i in range(0, full, 3))
        rest = len(chunk) - full
        if rest:
            body += format(int(chunk[full:]), f"0{_NUMERIC_WIDTHS[rest]}b")
        return head + count + body
    pairs = _alnum_pairs()
    full = len(chunk) - len(chunk) % 2
    body = "".join([pairs[chunk[i : i + 2]] for i in range(0, full, 2)])
    if full < len(chunk):
        body += format(_ALNUM_VALUE[chunk[-1]], "06b")
    return head + count + body


def _data_codewords(bits: str, plan: _Plan) -> bytes:
    capacity = plan.capacity_bits
    bits += "0" * min(4, capacity - len(bits))  # terminator
    # Like segno (the reference), pad with 1 to 8 zero bits: a whole zero byte when the stream
    # already ends on a byte boundary. Readers stop at the terminator, so both forms are valid.
    bits += "0" * (8 - len(bits) % 8)
    bits = bits[:capacity]
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    missing = plan.data_len - len(data)
    return data + (b"\xec\x11" * (missing // 2 + 1))[:missing]


def _bits_for(segments: Sequence[tuple[str, int]], version: int) -> str:
    widths = _count_widths(version)
    return "".join(_segment_bits(chunk, mode, widths) for chunk, mode in segments)


@cache
def _capacity_bits(version: int, level: str) -> int:
    ecc: Any = consts.ECC
    return int(8 * sum(info.num_data * info.num_blocks for info in ecc[version][_LEVELS[level]]))


def _smallest_version(bit_length: int, level: str, low: int, high: int) -> int | None:
    for version in range(low, high + 1):
        if _capacity_bits(version, level) >= bit_length:
            return version
    return None


def _encode_bits(bits: str, version: int, level: str) -> QrSymbol:
    plan = _plan(version, level)
    codewords = plan.codewords(_data_codewords(bits, plan))
    mask, rows = plan.finish(plan.board(codewords))
    return QrSymbol(version, level, mask, plan.size, rows)


def encode_segments(segments: Sequence[tuple[str, int]], level: str = "Q") -> QrSymbol:
    """Encode ``(chunk, segno.consts.MODE_*)`` segments as the smallest QR symbol at ``level``.

    Segments must be valid for their modes (digits for numeric, the 45 alphanumeric
    characters, Latin-1 for byte), as :func:`printing.qr.optimal_segments` returns them.
    """
    if level not in _LEVELS:
        raise ValueError(f"error correction level must be L, M, Q or H, got {level!r}")
    for low, high in ((1, 9), (10, 26), (27, 40)):
        bits = _bits_for(segments, high)
        version = _smallest_version(len(bits), level, low, high)
        if version is not None:
            return _encode_bits(bits, version, level)
    raise ValueError("data does not fit in a QR Code version 40")


# Stamps: the optimal segmentation of a stamp URI only depends on the lengths of its parts,
# unless the signature holds a long run of digits (2-7 are base32 characters). Taking k digits
# out of the signature's alphanumeric segment saves at most 11/2 - 10/3 bits a digit plus half
# a bit of rounding, and costs a 14-bit numeric header (and a 13-bit alphanumeric one when the
# run is in the middle): it cannot pay below 7 digits at an end or 13 in the middle. With no
# run of 5 digits the layout of the order's first stamp is reused; otherwise the dynamic
# programme of printing.qr runs again (about 2% of stamps).
_LONG_DIGIT_RUN = re.compile(r"[0-9]{5}")
_STAMP_SHAPE = re.compile(r"\A(.*/21/)([0-9]{1,20})(\?k=[A-Z0-9]{1,8}&s=)([A-Z2-7]{103})\Z")


class StampQrEncoder:
    """Encodes stamp URIs as QR symbols, reusing the segment layout between stamps of one order."""

    def __init__(self, level: str = "Q") -> None:
        if level not in _LEVELS:
            raise ValueError(f"error correction level must be L, M, Q or H, got {level!r}")
        self.level = level
        self._layouts: dict[tuple[int, int], tuple[int, list[tuple[int, int, int]]]] = {}
        # Bits of the segments that are the same for every stamp of an order (base, GTIN, key id).
        self._fixed_bits: dict[tuple[str, int, int], str] = {}
        self.fallbacks = 0

    def _full(self, uri: str) -> QrSymbol:
        for low, high in ((1, 9), (10, 26), (27, 40)):
            segments = optimal_segments(uri, high)
            bits = _bits_for(segments, high)
            version = _smallest_version(len(bits), self.level, low, high)
            if version is not None:
                return _encode_bits(bits, version, self.level)
        raise ValueError("stamp does not fit in a QR Code version 40")

    def encode(self, uri: str) -> QrSymbol:
        if not uri.isascii():
            raise ValueError("stamp URI must be ASCII text")
        shape = _STAMP_SHAPE.match(uri)
        if shape is None or _LONG_DIGIT_RUN.search(shape.group(4)):
            self.fallbacks += 1
            return self._full(uri)
        key = (len(uri), len(shape.group(2)))
        layout = self._layouts.get(key)
        if layout is None:
            symbol = self._full(uri)
            segments = optimal_segments(uri, 9 if symbol.version <= 9 else 26 if symbol.version <= 26 else 40)
            spans: list[tuple[int, int, int]] = []
            start = 0
            for chunk, mode in segments:
                spans.append((start, start + len(chunk), mode))
                start += len(chunk)
            self._layouts[key] = (symbol.version, spans)
            return symbol
        version, spans = layout
        widths = _count_widths(version)
        serial_start, serial_end = shape.span(2)
        sig_start = shape.start(4)
        fixed = self._fixed_bits
        parts: list[str] = []
        for a, b, mode in spans:
            chunk = uri[a:b]
            if b <= serial_start or (a >= serial_end and b <= sig_start):
                key_bits = (chunk, mode, version)
                bits = fixed.get(key_bits)
                if bits is None:
                    if len(fixed) > 256:
                        fixed.clear()
                    bits = fixed[key_bits] = _segment_bits(chunk, mode, widths)
                parts.append(bits)
            else:
                parts.append(_segment_bits(chunk, mode, widths))
        return _encode_bits("".join(parts), version, self.level)
