"""Which lot a serial belongs to, answered from memory: sorted ranges and a binary search. Pure."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from detection.engine.model import StampState
from detection.ports import Lookup, LotRef, RevocationCategory

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Ranges(Generic[T]):
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    values: list[T] = field(default_factory=list)

    def find(self, serial: int) -> T | None:
        i = bisect.bisect_right(self.starts, serial) - 1
        if i >= 0 and self.ends[i] >= serial:
            return self.values[i]
        return None


def _build(rows: Iterable[tuple[int, int, T]]) -> _Ranges[T]:
    out: _Ranges[T] = _Ranges()
    for first, last, value in sorted(rows, key=lambda r: r[0]):
        out.starts.append(first)
        out.ends.append(last)
        out.values.append(value)
    return out


@dataclass(frozen=True, slots=True)
class IssuedRange:
    first: int
    last: int
    organisation_code: str
    pin: bool = False  # its labels carry a scratch-off PIN panel: the order's template has one, or it was printed so


@dataclass(frozen=True, slots=True)
class ActivatedRange:
    first: int
    last: int
    lot: LotRef


@dataclass(frozen=True, slots=True)
class RevokedRange:
    first: int
    last: int
    category: RevocationCategory
    note: str  # the packing house's own reason: for officials, never consumers


_Revoked = tuple[RevocationCategory, str]  # a revoked piece's category and note


Span = TypeVar("Span", IssuedRange, ActivatedRange)


class RangeIndex:
    """Issued, activated and revoked ranges per GTIN. Issued and activated ranges never overlap;
    revocations may overlap each other, so they are merged for lookup."""

    def __init__(
        self,
        issued: Iterable[tuple[str, IssuedRange]] = (),
        activated: Iterable[tuple[str, ActivatedRange]] = (),
        revoked: Iterable[tuple[str, RevokedRange]] = (),
        revoked_kids: Iterable[str] = (),
    ) -> None:
        self._issued = self._group(issued)
        self._activated = self._group(activated)
        self._revoked = {gtin: _merge(rows) for gtin, rows in _by_gtin(revoked).items()}
        self.revoked_kids = frozenset(revoked_kids)

    @staticmethod
    def _group(rows: Iterable[tuple[str, Span]]) -> dict[str, _Ranges[Span]]:
        return {gtin: _build((r.first, r.last, r) for r in items) for gtin, items in _by_gtin(rows).items()}

    def knows(self, gtin: str) -> bool:
        """Whether stamps were ever issued for this GTIN: a GS1 request for it can walk up to its product."""
        return gtin in self._issued

    def has_pin(self, gtin: str, serial: int) -> bool:
        """Whether this stamp's label printed a scratch-off PIN panel: only then does the trace page ask for it."""
        issued = self._issued.get(gtin)
        hit = issued.find(serial) if issued is not None else None
        return hit is not None and hit.pin

    def lookup(self, gtin: str, serial: int, kid: str) -> Lookup:
        activated = self._activated.get(gtin)
        hit = activated.find(serial) if activated else None
        lot = hit.lot if hit else None
        if kid in self.revoked_kids:
            return Lookup(StampState.KEY_REVOKED, lot, category=RevocationCategory.KEY_WITHDRAWN)
        revoked = self._revoked.get(gtin)
        why = revoked.find(serial) if revoked else None
        if why is not None:
            return Lookup(StampState.REVOKED, lot, category=why[0], note=why[1])
        if lot is not None:
            return Lookup(StampState.ACTIVATED, lot)
        issued = self._issued.get(gtin)
        hit_issued = issued.find(serial) if issued is not None else None
        if hit_issued is not None:
            return Lookup(StampState.NOT_ACTIVATED, issuer=hit_issued.organisation_code)
        return Lookup(StampState.UNKNOWN_SERIAL)


def _by_gtin(rows: Iterable[tuple[str, R]]) -> dict[str, list[R]]:
    out: dict[str, list[R]] = {}
    for gtin, row in rows:
        out.setdefault(gtin, []).append(row)
    return out


def _merge(rows: list[RevokedRange]) -> _Ranges[_Revoked]:
    """Overlapping revocations become disjoint pieces; where several cover a serial the first one (by first
    serial) gives its category and note."""
    points = sorted({r.first for r in rows} | {r.last + 1 for r in rows})
    pieces: list[tuple[int, int, _Revoked]] = []
    ordered = sorted(rows, key=lambda r: r.first)
    for start, stop in itertools.pairwise(points):
        covering = next((r for r in ordered if r.first <= start and r.last >= stop - 1), None)
        if covering is not None:
            why = (covering.category, covering.note)
            if pieces and pieces[-1][1] == start - 1 and pieces[-1][2] == why:
                pieces[-1] = (pieces[-1][0], stop - 1, why)
            else:
                pieces.append((start, stop - 1, why))
    return _build(pieces)
