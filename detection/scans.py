"""What a scan is and what is remembered about each stamp. Pure data, shared by the stores and the engine."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, fields
from typing import Any

import orjson

from detection.engine.model import Place, Role, Verdict

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_PAIR_SHIFTS = tuple(range(120, -1, -10))  # 13 pairs: 130 bits, of which a ULID uses the low 128


def now_millis() -> float:
    """Scan times are whole milliseconds, exactly what the scan id encodes."""
    return int(time.time() * 1000) / 1000


def new_scan_id(now: float) -> str:
    """26-character ULID: 48-bit milliseconds then 80 random bits, so ids sort by time."""
    value = (round(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    # Two characters (10 bits) a lookup: one of the scan path's costs, a third of it a character at a time.
    return "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def scan_id_time(scan_id: str) -> float:
    value = 0
    for ch in scan_id:
        value = (value << 5) | _CROCKFORD.index(ch)
    return (value >> 80) / 1000


NEWLY_SCANNED = 1  # the first scan of this stamp on its lot
NEWLY_FLAGGED = 2  # the first warning or critical finding on this stamp


@dataclass(slots=True)  # not frozen: a frozen dataclass costs twice as much to build, once per scan
class ScanEvent:
    scan_id: str
    at: float
    gtin: str
    serial: int
    kid: str
    state: str
    verdict: Verdict
    role: Role
    device_id: str
    ip_hash: str | None
    place: Place | None
    lot_id: int | None
    kind: str = "scan"  # or "location": the phone's position, sent later for an earlier scan; or "pin"
    # Detection's judgement, for the worker (filled in by the judge, which owns the event until it is saved):
    # "type:severity" codes, the stamp alerts this scan opened or raised, the lot and packing house it counts
    # in, what changed for their aggregates, and a resale place it counted for its lot.
    findings: str | None = None
    alerts: tuple[dict[str, Any], ...] = ()
    lot_code: str | None = None
    house: str | None = None
    newly: int = 0  # NEWLY_SCANNED | NEWLY_FLAGGED
    place_vote: tuple[float, float] | None = None
    arrival_vote: float | None = None  # the lot's first clean sighting in a market, when this scan is it

    def to_json(self) -> bytes:
        """The scan log entry that `from_json` reads back, without `asdict`'s deep copies (once per scan): the
        place without its unset fields, detection's fields only when set (most scans have none)."""
        data = {name: getattr(self, name) for name in _EVENT_FIELDS}
        if self.place is not None:
            data["place"] = self.place.to_dict()
        for name, default in _OPTIONAL.items():
            value = getattr(self, name)
            if value != default:
                data[name] = value
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> ScanEvent:
        data: dict[str, Any] = orjson.loads(text)
        place = data.pop("place")
        vote = data.pop("place_vote", None)
        alerts = tuple(data.pop("alerts", ()))
        return cls(
            **{**data, "verdict": Verdict(data["verdict"]), "role": Role(data["role"])},
            place=Place.from_dict(place) if place else None,
            alerts=alerts,
            place_vote=(float(vote[0]), float(vote[1])) if vote else None,
        )


_DETECTION_FIELDS = ("findings", "alerts", "newly", "place_vote", "arrival_vote")
_OPTIONAL = {f.name: f.default for f in fields(ScanEvent) if f.name in _DETECTION_FIELDS}
_EVENT_FIELDS = tuple(f.name for f in fields(ScanEvent) if f.name not in _OPTIONAL)


@dataclass(frozen=True, slots=True)
class StampHistory:
    """A stamp's scans so far, including the one just recorded."""

    count: int = 0
    devices: int = 0
    first_at: float | None = None
    first_place: Place | None = None
    first_device: str | None = None
    recent: tuple[Place, ...] = ()
    pin_confirmations: int = 0
