"""What the detection engine reads and returns, and the vocabulary every package shares. Pure data: no I/O,
no settings.

- `Role`, `Severity`, `Verdict`, `StampState`, `Place`: defined here once; everyone imports them from here.

- `LotRoute`: where a genuine lot may be seen (origin, border gates, transit, declared markets) and since when.
- `Scan` and `PinEvent`: one observation of a stamp.
- `StampMemory`: everything the engine remembers about one stamp, bounded whatever the number of scans, with a
  compact binary form (`to_bytes` / `from_bytes`) for a state store.
- `Finding`: a rule's conclusion, with its evidence (scan ids) and a Vietnamese and English explanation.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Final

import orjson


class Severity(IntEnum):
    """`critical` is exactly what turns a consumer's verdict into "counterfeit"; `warning` into "suspect"."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """How alerts, the API and the scan log name it: "info", "warning" or "critical"."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Severity:
        """ValueError for anything but "info", "warning" or "critical"."""
        member = cls.__members__.get(label.upper()) if label.islower() else None
        if member is None:
            raise ValueError(f"severity must be info, warning or critical, not {label[:20]!r}")
        return member


class Role(StrEnum):
    """Who scans a stamp or calls the API. Accounts (API tokens) hold any role but the first; a consumer has no
    account. A distributor's checks weigh less in detection than an inspector's. A province officer reads and
    works the alerts of its own province's packing houses (added last: the order of members is kept)."""

    CONSUMER = "consumer"
    INSPECTOR = "inspector"
    DISTRIBUTOR = "distributor"  # importers, wholesalers and retailers along the chain
    PACKER = "packer"
    MINISTRY = "ministry"
    PROVINCE = "province"  # a province authority's staff: the ministry's alert work, for its own province


class Verdict(StrEnum):
    """What a person is told about a stamp. "counterfeit" is said only on proof."""

    GENUINE = "genuine"
    SUSPECT = "suspect"
    COUNTERFEIT = "counterfeit"
    UNKNOWN = "unknown"


class StampState(StrEnum):
    """What the registry says of a serial, before any scan is judged."""

    ACTIVATED = "activated"
    NOT_ACTIVATED = "not_activated"  # issued to a packing house, never bound to a lot
    REVOKED = "revoked"
    KEY_REVOKED = "key_revoked"
    UNKNOWN_SERIAL = "unknown_serial"


class LocationSource(StrEnum):
    EDGE = "edge"
    IP_DATABASE = "ip_db"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a scan was made, as precisely as it is known."""

    country: str | None = None
    region: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_km: float | None = None
    source: LocationSource | None = None

    def to_dict(self) -> dict[str, Any]:
        """The set fields only; on every scan that has a place, so without `asdict`'s deep copy."""
        return {name: value for name in PLACE_FIELDS if (value := getattr(self, name)) is not None}

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Place:
        source = data.get("source")
        return cls(
            country=data.get("country"),
            region=data.get("region"),
            city=data.get("city"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            accuracy_km=data.get("accuracy_km"),
            source=LocationSource(source) if source is not None else None,
        )

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Place | None:
        if not text:
            return None
        return cls.from_dict(orjson.loads(text))

    @property
    def label(self) -> str:
        return ", ".join(p for p in (self.city, self.region, self.country) if p) or "?"


PLACE_FIELDS: Final = ("country", "region", "city", "latitude", "longitude", "accuracy_km", "source")


class Scope(StrEnum):
    """What an alert is about: one stamp, a lot, a packing house, or a network sending forged scans."""

    STAMP = "stamp"
    LOT = "lot"
    PACKING_HOUSE = "packing_house"
    NETWORK = "network"


class FindingType(StrEnum):
    DUPLICATE = "duplicate"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    OFF_ROUTE = "off_route"
    NOT_ACTIVATED = "not_activated"
    REVOKED = "revoked"
    PAST_SHELF_LIFE = "past_shelf_life"
    REUSE_AFTER_CONSUMPTION = "reuse_after_consumption"
    PIN_REUSED = "pin_reused"
    PIN_GUESSING = "pin_guessing"
    FORGED = "forged"
    FORGED_BURST = "forged_burst"
    LOT_ESCALATION = "lot_escalation"
    PACKING_HOUSE_ESCALATION = "packing_house_escalation"
    # An inspector's inspection found this stamp on counterfeit fruit, or seized the fruit (see inspector/).
    INSPECTOR_COUNTERFEIT = "inspector_counterfeit"
    INSPECTOR_SEIZED = "inspector_seized"


@dataclass(frozen=True, slots=True)
class AlertLevelChange:
    """A stamp alert closed (`severity` None) or opened outside the engine (an inspector's report): the stamp's
    memory must follow, so that its verdict (`engine.stamp_verdict`) agrees with its open alerts."""

    gtin: str
    serial: int
    type: FindingType
    severity: Severity | None


# Two bits per type in StampMemory.levels: the level of the stamp's open alert of that type (0: none open).
# One bit per type in StampMemory.dismissed: its last alert of that type was closed, and only new evidence (a
# new independent sighting, a PIN entry) may open another.
TYPE_BIT: Final = {t: 2 * i for i, t in enumerate(FindingType)}
DISMISSED_BIT: Final = {t: 1 << i for i, t in enumerate(FindingType)}


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A place on a lot's route: a border gate, a hub or a declared destination city."""

    name: str
    lat: float
    lon: float
    country: str
    radius_km: float | None = None  # None: the configured default


@dataclass(frozen=True, slots=True)
class LotRoute:
    """Where a genuine lot may be, and since when. `markets` are country codes; `places` narrows a market
    country to its declared cities and hubs (a market country with no places is on the route everywhere)."""

    lot: str
    gtin: str
    origin_lat: float
    origin_lon: float
    origin_country: str
    activated_at: float  # Unix seconds
    markets: frozenset[str]
    shelf_life_days: float
    packing_house: str | None = None
    province: str | None = None
    gates: tuple[Waypoint, ...] = ()
    places: tuple[Waypoint, ...] = ()
    transit_countries: frozenset[str] = frozenset()
    # When the lot's fruit is known to have left its origin (its earliest recorded packing or shipping stage);
    # 0: nothing recorded, and time on the road counts from activation, which can be recorded days late.
    departed_at: float = 0.0
    countries: frozenset[str] = field(init=False)
    region_countries: frozenset[str] = field(init=False)
    # (name, lat and lon in radians, cos lat, radius or None) of places then gates: the region check's hot loop
    geo: tuple[tuple[str, float, float, float, float | None], ...] = field(init=False, repr=False, compare=False)
    key: str = field(init=False, repr=False, compare=False)  # `gtin/lot`: its learned places' key, read every scan

    def __post_init__(self) -> None:
        gate_countries = {g.country for g in self.gates}
        countries = {self.origin_country, *self.markets, *self.transit_countries, *gate_countries}
        object.__setattr__(self, "countries", frozenset(countries))
        # Region checks apply in a market country only when the lot declared places there.
        declared = {p.country for p in self.places} & set(self.markets)
        object.__setattr__(self, "region_countries", frozenset(declared - {self.origin_country}))
        geo = tuple(
            (w.name, math.radians(w.lat), math.radians(w.lon), math.cos(math.radians(w.lat)), w.radius_km)
            for w in (*self.places, *self.gates)
        )
        object.__setattr__(self, "geo", geo)
        object.__setattr__(self, "key", f"{self.gtin}/{self.lot}")

    def describe(self) -> str:
        return "→".join([self.origin_country, *[g.name for g in self.gates], *[p.name for p in self.places]])


# The classes made on every scan write their own `__init__` (init=False): compiled, the dataclass's would stay a
# Python function setting each field through a descriptor, about 0.4 µs an object.


@dataclass(slots=True, init=False)
class Scan:
    """One scan. `lat`, `lon` and `accuracy_km` may be missing; `country` is always known (may be "")."""

    scan_id: str
    ts: float  # Unix seconds
    gtin: str
    serial: str
    sig_valid: bool
    country: str
    lat: float | None
    lon: float | None
    accuracy_km: float | None
    device: str
    role: Role
    network: str | None  # a hashed /24 or /48: households share one, forged bursts come from one

    def __init__(
        self,
        scan_id: str,
        ts: float,
        gtin: str,
        serial: str,
        sig_valid: bool = True,
        country: str = "",
        lat: float | None = None,
        lon: float | None = None,
        accuracy_km: float | None = None,
        device: str = "",
        role: Role = Role.CONSUMER,
        network: str | None = None,
    ) -> None:
        self.scan_id = scan_id
        self.ts = ts
        self.gtin = gtin
        self.serial = serial
        self.sig_valid = sig_valid
        self.country = country
        self.lat = lat
        self.lon = lon
        self.accuracy_km = accuracy_km
        self.device = device
        self.role = role
        self.network = network


@dataclass(slots=True)
class PinEvent:
    """A scratch-off PIN entered on the trace page: `ok` tells whether it matched the stamp's PIN."""

    event_id: str
    ts: float
    gtin: str
    serial: str
    ok: bool
    device: str = ""
    network: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    type: FindingType
    severity: Severity
    evidence: tuple[str, ...]
    explanation_en: str
    explanation_vi: str
    scope: Scope = Scope.STAMP
    subject: str | None = None  # the lot key, packing-house code or network for non-stamp scopes
    rule: str = ""  # which of the type's rules found it ("early", "region", "abroad"…): what a consumer is told


@dataclass(slots=True, init=False)
class Sighting:
    """One encounter with a physical stamp: a device (and its household) scanning around one time and place."""

    first_ts: float
    last_ts: float
    lat: float | None
    lon: float | None
    accuracy_km: float
    country: str
    weight: float  # the role weight that counted towards StampMemory.independent
    in_route: bool  # its country is on the lot's route: VPN exits abroad never are
    devices: list[int]
    networks: list[int]
    scan_id: str  # its first scan, cited as evidence

    def __init__(
        self,
        first_ts: float,
        last_ts: float,
        lat: float | None,
        lon: float | None,
        accuracy_km: float,
        country: str,
        weight: float,
        in_route: bool,
        devices: list[int],
        networks: list[int],
        scan_id: str,
    ) -> None:
        self.first_ts = first_ts
        self.last_ts = last_ts
        self.lat = lat
        self.lon = lon
        self.accuracy_km = accuracy_km
        self.country = country
        self.weight = weight
        self.in_route = in_route
        self.devices = devices
        self.networks = networks
        self.scan_id = scan_id


@dataclass(slots=True, init=False)
class StampMemory:
    """Per-stamp state between scans. Bounded: at most `exact_devices` device hashes, then a 64-bit
    linear-counting sketch; at most `max_sightings` sightings, each with at most 4 devices and 4 networks."""

    scans: int
    first_ts: float
    independent: float  # weighted count of independent sightings over the stamp's life
    first_consumer_ts: float  # 0: no consumer yet
    last_consumer_ts: float
    market_ts: float  # first consumer sighting in a destination market; 0: none yet
    levels: int  # two bits per FindingType: the severity of its open alert (TYPE_BIT)
    flags: int  # FLAG_* bits: what the lot aggregates already counted
    pin_device: int
    pin_wrong: int
    pin_event: str  # the first PIN confirmation, cited as evidence
    device_bits: int
    devices: list[int]
    sightings: list[Sighting]
    dismissed: int  # one bit per FindingType (DISMISSED_BIT): its alert was closed, evidence so far dismissed

    def __init__(
        self,
        scans: int = 0,
        first_ts: float = 0.0,
        independent: float = 0.0,
        first_consumer_ts: float = 0.0,
        last_consumer_ts: float = 0.0,
        market_ts: float = 0.0,
        levels: int = 0,
        flags: int = 0,
        pin_device: int = 0,
        pin_wrong: int = 0,
        pin_event: str = "",
        device_bits: int = 0,
        devices: list[int] | None = None,
        sightings: list[Sighting] | None = None,
        dismissed: int = 0,
    ) -> None:
        self.scans = scans
        self.first_ts = first_ts
        self.independent = independent
        self.first_consumer_ts = first_consumer_ts
        self.last_consumer_ts = last_consumer_ts
        self.market_ts = market_ts
        self.levels = levels
        self.flags = flags
        self.pin_device = pin_device
        self.pin_wrong = pin_wrong
        self.pin_event = pin_event
        self.device_bits = device_bits
        self.devices = [] if devices is None else devices
        self.sightings = [] if sightings is None else sightings
        self.dismissed = dismissed

    def device_count(self) -> int:
        """Distinct devices: exact up to the kept list, then estimated from the sketch."""
        if not self.device_bits:
            return len(self.devices)
        zeros = 64 - self.device_bits.bit_count()
        estimate = 64 * math.log(64 / zeros) if zeros else 64 * math.log(64)
        return len(self.devices) + round(estimate)

    def level(self, kind: FindingType) -> int:
        return (self.levels >> TYPE_BIT[kind]) & 3

    def to_bytes(self) -> bytes:
        """Compact binary form for a state store (version 2). Written for speed: it runs on every scan."""
        devices = self.devices
        sightings = self.sightings
        pin_wrong = self.pin_wrong
        parts = [
            _pack_head(
                2,
                self.scans,
                self.first_ts,
                self.independent,
                self.first_consumer_ts,
                self.last_consumer_ts,
                self.market_ts,
                self.levels,
                self.flags,
                self.pin_device,
                pin_wrong if pin_wrong < 0xFFFF else 0xFFFF,
                self.device_bits,
                len(devices),
                len(sightings),
                self.dismissed,
            ),
            _IDS[len(devices)].pack(*devices),
        ]
        append = parts.append
        for s in sightings:
            sid = s.scan_id.encode()
            if len(sid) > 255:  # never for a ULID
                sid = sid[:255]
            lat, lon, ids = s.lat, s.lon, s.devices
            append(
                _pack_sight(
                    s.first_ts,
                    s.last_ts,
                    _NAN if lat is None else lat,
                    _NAN if lon is None else lon,
                    s.accuracy_km,
                    s.weight,
                    _COUNTRY_BYTES.get(s.country) or _country_bytes(s.country),
                    s.in_route,
                    len(ids),
                    len(s.networks),
                    len(sid),
                )
            )
            append(_IDS[len(ids) + len(s.networks)].pack(*ids, *s.networks))
            append(sid)
        if self.pin_event:
            pin = self.pin_event.encode()[:255]
            append(bytes((len(pin),)))
            append(pin)
        else:  # most stamps: no PIN confirmed
            append(b"\0")
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> StampMemory:
        if data[0] == 2:
            head = _unpack_head(data, 0)
            size, dismissed = _HEAD_SIZE, head[14]
        elif data[0] == 1:  # written before alerts could be dismissed: the same fields, without `dismissed`
            head = _unpack_head_v1(data, 0)
            size, dismissed = _HEAD_V1_SIZE, 0
        else:
            raise ValueError(f"unknown stamp memory version {data[0]}")
        n_devices = head[12]
        devices = list(_IDS[n_devices].unpack_from(data, size))
        pos = size + 4 * n_devices
        sightings: list[Sighting] = []
        for _ in range(head[13]):
            first, last, lat, lon, acc, weight, country, in_route, nd, nn, ns = _unpack_sight(data, pos)
            pos += _SIGHT_SIZE
            ids = _IDS[nd + nn].unpack_from(data, pos)
            pos += 4 * (nd + nn)
            end = pos + ns
            sightings.append(
                Sighting(
                    first,
                    last,
                    None if _isnan(lat) else lat,
                    None if _isnan(lon) else lon,
                    acc,
                    known if (known := _COUNTRY.get(country)) is not None else _country(country),
                    weight,
                    in_route,
                    list(ids[:nd]),
                    list(ids[nd:]),
                    data[pos:end].decode(),
                )
            )
            pos = end
        pin_event = data[pos + 1 : pos + 1 + data[pos]].decode()
        # Positional, in field order, and the class by name (`cls(...)` would be a generic call that parses its
        # arguments): from_bytes runs on every scan of a stamp scanned before.
        return StampMemory(
            head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8], head[9], head[10],
            pin_event, head[11], devices, sightings, dismissed,
        )  # fmt: skip


FLAG_SCANNED: Final = 1  # counted in its lot's and packing house's scanned stamps
FLAG_FLAGGED: Final = 2  # counted in their stamps with a warning or critical finding
FLAG_PLACE_COUNTED: Final = 4  # counted towards learning an undeclared resale place of its lot
FLAG_SOLD_ON_ROUTE: Final = 8  # a consumer scanned it at a declared place: later moves elsewhere are gifts, not resale

# version, scans, first_ts, independent, first_consumer_ts, last_consumer_ts, market_ts, levels, flags,
# pin_device, pin_wrong, device_bits, n_devices, n_sightings, and last (version 2 only) dismissed. Version 2
# packs `levels` in 64 bits and `dismissed` after the counts, so both versions' fields 0-13 line up.
_HEAD: Final = struct.Struct("<BIdfdddQBIHQBBI")
_HEAD_V1: Final = struct.Struct("<BIdfdddIBIHQBB")
# first_ts, last_ts, lat, lon, accuracy_km, weight, country, in_route, n_devices, n_networks, len(scan_id)
_SIGHT: Final = struct.Struct("<ddffff3s?BBB")
# Bound once, and Final: compiled, the codec reads them without a lookup (it runs on every scan).
_pack_head: Final = _HEAD.pack
_unpack_head: Final = _HEAD.unpack_from
_HEAD_SIZE: Final = _HEAD.size
_unpack_head_v1: Final = _HEAD_V1.unpack_from
_HEAD_V1_SIZE: Final = _HEAD_V1.size
_pack_sight: Final = _SIGHT.pack
_unpack_sight: Final = _SIGHT.unpack_from
_SIGHT_SIZE: Final = _SIGHT.size
_IDS: Final = [struct.Struct(f"<{n}I") for n in range(256)]  # n 32-bit ids, compiled once
_NAN: Final = math.nan
_isnan: Final = math.isnan
# Country codes both ways, kept as they come (a few dozen in practice).
_COUNTRY: Final[dict[bytes, str]] = {}
_COUNTRY_BYTES: Final[dict[str, bytes]] = {}


def _country(raw: bytes) -> str:
    found = raw.rstrip(b"\0").decode()
    if len(_COUNTRY) < 1024:
        _COUNTRY[raw] = found
    return found


def _country_bytes(country: str) -> bytes:
    raw = country.encode()[:3].ljust(3, b"\0")
    if len(_COUNTRY_BYTES) < 1024:
        _COUNTRY_BYTES[country] = raw
    return raw
