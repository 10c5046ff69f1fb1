"""GS1-128: the box label's linear barcode of (01) GTIN-14, (21) serial and (10) lot.

A GS1-128 symbol is a Code 128 symbol whose first data character is FNC1; each variable-length
element string except the last ends with another FNC1 (GS1 General Specifications, 5.4). The
element strings are in the order (01), (21), (10): the GTIN is fixed-length and needs no
separator, the serial is followed by FNC1, and the lot, last, needs none. All three are always
there: a box label prints only once its serial is activated on a lot (``printing.labels``).

The code sets are chosen for the fewest symbol characters (a small dynamic programme over Code
sets B and C: the GS1 82-character set is all in Code set B, digit pairs go in Code set C), so
the symbol is as narrow as Code 128 allows. ``zpl_field_data`` writes the very same symbol
characters as ZPL invocation codes, so the printer draws what the PDF draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from barcode.charsets.code128 import CODES, STOP

from printing.errors import PrintError

__all__ = [
    "GS1_CSET82",
    "QUIET_ZONE_MODULES",
    "Gs1Symbol",
    "element_strings",
    "gs1_128",
    "human_readable",
]

#: GS1 AI encodable character set 82: what AI (10) and (21) may hold.
GS1_CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
#: The light margin a Code 128 symbol needs on each side, in modules (ISO/IEC 15417).
QUIET_ZONE_MODULES = 10

_FNC1 = 102
_CODE_C = 99  # in Code set B: switch to C
_CODE_B = 100  # in Code set C: switch to B
_START_B = 104
_START_C = 105
_B, _C = 0, 1
_FNC1_TOKEN = ""  # a token of the data: one character, two digits or FNC1 (this empty string)
_INFINITY = 1 << 30


@dataclass(frozen=True, slots=True)
class Gs1Symbol:
    """One GS1-128 symbol: its symbol character values (start to check, stop excluded), its bar
    pattern ('1' = bar module, quiet zones excluded) and its human-readable interpretation."""

    values: tuple[int, ...]
    modules: str
    text: str

    def zpl_field_data(self) -> str:
        """The symbol as ZPL ``^BC`` field data in mode N: start code, FNC1 and code-set changes as
        invocation codes (``>;`` start C, ``>:`` start B, ``>8`` FNC1, ``>5`` / ``>6`` Code C / B),
        digit pairs in Code set C, characters in Code set B (``>`` written ``>0``)."""
        out: list[str] = []
        code_set = _C if self.values[0] == _START_C else _B
        out.append(">;" if code_set == _C else ">:")
        for value in self.values[1:-1]:  # the printer adds the check character
            if value == _FNC1:
                out.append(">8")
            elif code_set == _C and value == _CODE_B:
                out.append(">6")
                code_set = _B
            elif code_set == _B and value == _CODE_C:
                out.append(">5")
                code_set = _C
            elif code_set == _C:
                out.append(f"{value:02d}")
            else:
                char = chr(value + 32)
                out.append(">0" if char == ">" else char)
        return "".join(out)


def element_strings(gtin: str, serial: int, lot: str) -> tuple[tuple[str, str], ...]:
    """The (AI, value) pairs of a box label: (01) GTIN-14, (21) serial, then (10) lot."""
    if len(gtin) != 14 or not gtin.isdigit():
        raise PrintError(f"a GS1-128 needs a 14-digit GTIN, got {gtin!r}")
    serial_text = str(serial)
    if serial < 1 or len(serial_text) > 20:
        raise PrintError(f"AI (21) holds 1 to 20 characters, serial {serial} does not fit")
    if not 1 <= len(lot) <= 20 or not set(lot) <= GS1_CSET82:
        raise PrintError(f"lot {lot!r} cannot be AI (10): 1 to 20 characters of the GS1 82-character set")
    return (("01", gtin), ("21", serial_text), ("10", lot))


def human_readable(fields: tuple[tuple[str, str], ...]) -> str:
    """The interpretation line: ``(01)09501234567890(21)123(10)LOT1``."""
    return "".join(f"({ai}){value}" for ai, value in fields)


def _tokens(fields: tuple[tuple[str, str], ...]) -> list[str]:
    """FNC1 first, each element string's characters, FNC1 after every variable-length one but the last."""
    tokens = [_FNC1_TOKEN]
    for index, (ai, value) in enumerate(fields):
        tokens.extend(ai + value)
        if ai != "01" and index < len(fields) - 1:  # (01) is fixed-length; the others are not
            tokens.append(_FNC1_TOKEN)
    return tokens


def _encode(tokens: list[str]) -> list[int]:
    """Start code and data symbol values with the fewest symbols (check and stop not included)."""
    n = len(tokens)
    # cost[i][s]: fewest symbols for tokens[i:] when in code set s at position i.
    cost = [[0, 0] for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        token = tokens[i]
        in_b = 1 + cost[i + 1][_B]
        in_c = _INFINITY
        if token == _FNC1_TOKEN:
            in_c = 1 + cost[i + 1][_C]
        elif token.isdigit() and i + 1 < n and tokens[i + 1].isdigit():
            in_c = 1 + cost[i + 2][_C]
        cost[i][_B] = min(in_b, 1 + in_c)
        cost[i][_C] = min(in_c, 1 + in_b)
    code_set = _C if cost[0][_C] <= cost[0][_B] else _B
    values = [_START_C if code_set == _C else _START_B]
    i = 0
    while i < n:
        token = tokens[i]
        stay_c = token == _FNC1_TOKEN or (token.isdigit() and i + 1 < n and tokens[i + 1].isdigit())
        if code_set == _C:
            step_c = 1 + cost[i + (1 if token == _FNC1_TOKEN else 2)][_C] if stay_c else _INFINITY
            if step_c > cost[i][_C] or not stay_c:
                values.append(_CODE_B)
                code_set = _B
                continue
            values.append(_FNC1 if token == _FNC1_TOKEN else int(token + tokens[i + 1]))
            i += 1 if token == _FNC1_TOKEN else 2
        else:
            if cost[i][_B] < 1 + cost[i + 1][_B]:
                values.append(_CODE_C)
                code_set = _C
                continue
            values.append(_FNC1 if token == _FNC1_TOKEN else ord(token) - 32)
            i += 1
    return values


@lru_cache(maxsize=1024)
def _symbol(fields: tuple[tuple[str, str], ...]) -> Gs1Symbol:
    values = _encode(_tokens(fields))
    check = (values[0] + sum(position * value for position, value in enumerate(values[1:], start=1))) % 103
    values.append(check)
    modules = "".join(CODES[value] for value in values) + STOP + "11"  # stop pattern and termination bar
    return Gs1Symbol(tuple(values), modules, human_readable(fields))


def gs1_128(gtin: str, serial: int, lot: str) -> Gs1Symbol:
    """The GS1-128 symbol of one box label."""
    return _symbol(element_strings(gtin, serial, lot))
