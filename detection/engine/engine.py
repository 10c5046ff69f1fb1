"""The engine: per-stamp compact memory, per-lot and per-packing-house aggregates, findings per scan.

Two layers, both pure:

- `assess(config, memory, scan, state, route, ...)` and `assess_pin(...)` evaluate one observation of one
  stamp and update that stamp's `StampMemory` in place. This is what the online resolver calls, with the memory
  it keeps per stamp (`StampMemory.to_bytes` / `from_bytes`).
- `Engine` keeps every stamp's memory in a dict, the lot and packing-house aggregates, and forged-scan bursts
  per network; it turns findings into alerts (one when an alert opens, one more each time its severity rises).
  `tem replay` drives it.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Protocol

from detection.engine import rules
from detection.engine.config import EngineConfig
from detection.engine.geo import distance_km
from detection.engine.model import (
    DISMISSED_BIT,
    FLAG_FLAGGED,
    FLAG_PLACE_COUNTED,
    FLAG_SCANNED,
    FLAG_SOLD_ON_ROUTE,
    TYPE_BIT,
    Finding,
    FindingType,
    LotRoute,
    PinEvent,
    Role,
    Scan,
    Scope,
    Severity,
    Sighting,
    StampMemory,
    StampState,
    Verdict,
)

_MAX_SIGHTING_IDS: Final = 4  # devices and networks kept per sighting
_EVIDENCE_KEPT: Final = 5  # scan ids an aggregate keeps as evidence
# Final: compiled, these are read without a lookup (every scan reads them several times)
_REVOKED: Final = (StampState.REVOKED, StampState.KEY_REVOKED)
_ACTIVATED: Final = StampState.ACTIVATED
_CONSUMER: Final = Role.CONSUMER
_DISTRIBUTOR: Final = Role.DISTRIBUTOR
_INSPECTOR: Final = Role.INSPECTOR
_crc32: Final = zlib.crc32


def _hash(text: str) -> int:
    """A stable 32-bit id (never 0, which means "none"): devices and networks are kept as these."""
    return _crc32(text.encode()) or 1


class LotPlaces(Protocol):
    """What `assess` asks of a lot: whether a place was learned as a resale place, and to count a new one; when
    the lot reached its market, and to report a sighting there."""

    def learned(self, cfg: EngineConfig, lat: float, lon: float) -> bool: ...

    def count_place(self, cfg: EngineConfig, lat: float, lon: float) -> None: ...

    def arrived_at(self) -> float: ...

    def note_arrival(self, ts: float) -> None: ...


@dataclass(slots=True)
class LotState:
    """A lot's aggregate: how many of its stamps were scanned, how many have findings, and the undeclared places
    where its clean stamps turn up (a lot resold outside its declared city teaches the engine its new place)."""

    scanned: int = 0
    flagged: int = 0
    level: int = 0
    evidence: list[str] = field(default_factory=list)
    places: list[list[float]] = field(default_factory=list)  # [lat, lon, distinct stamps]
    # The lot's first clean scan in a market country (Unix seconds; 0: none yet): when it reached its market,
    # which a long border queue can put past its shelf life counted from packing.
    arrived: float = 0.0

    def learned(self, cfg: EngineConfig, lat: float, lon: float) -> bool:
        o = cfg.off_route
        return any(
            p[2] >= o.learn_serials and distance_km(lat, lon, p[0], p[1]) <= o.learn_radius_km for p in self.places
        )

    def count_place(self, cfg: EngineConfig, lat: float, lon: float) -> None:
        o = cfg.off_route
        for p in self.places:
            if distance_km(lat, lon, p[0], p[1]) <= o.learn_radius_km:
                p[2] += 1
                return
        self.places.append([lat, lon, 1.0])
        if len(self.places) > o.max_candidate_places:
            self.places.remove(min(self.places, key=lambda p: p[2]))

    def arrived_at(self) -> float:
        return self.arrived

    def note_arrival(self, ts: float) -> None:
        if not self.arrived or ts < self.arrived:
            self.arrived = ts

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LotState:
        return cls(**data)


@dataclass(slots=True)
class HouseState:
    scanned: int = 0
    flagged: int = 0
    not_activated: int = 0
    level: int = 0
    evidence: list[str] = field(default_factory=list)
    lots: list[str] = field(default_factory=list)  # codes of its lots with flagged stamps, the first few

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HouseState:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert opening or rising. Lot, packing-house and network alerts have `serial` None."""

    ts: float
    type: FindingType
    gtin: str
    serial: str | None
    severity: Severity
    evidence: tuple[str, ...]
    scope: Scope = Scope.STAMP
    subject: str | None = None
    lots: tuple[str, ...] = ()  # lot and packing-house alerts: the lot codes they are about


@dataclass(slots=True)
class ScanResult:
    findings: list[Finding]
    alerts: list[Alert]
    verdict: Verdict  # what the person who scanned is told: `stamp_verdict` after this scan


def stamp_verdict(state: StampState, mem: StampMemory) -> Verdict:
    """The one verdict on a validly signed stamp, for everyone who asks (consumer page, inspector, PIN check,
    ministry): the registry's word first (a revoked stamp or key is counterfeit, a serial never activated is
    suspect), then the stamp's open alerts, which its memory mirrors (`StampMemory.levels`). So a verdict other
    than genuine on an activated stamp always has an open alert behind it, and closing that alert clears it."""
    if state in _REVOKED:
        return Verdict.COUNTERFEIT
    if state is not _ACTIVATED:
        return Verdict.SUSPECT
    level = _highest(mem.levels & _FINDINGS_ON_ACTIVE) if mem.levels else 0
    if level >= Severity.CRITICAL:
        return Verdict.COUNTERFEIT
    if level >= Severity.WARNING:
        return Verdict.SUSPECT
    return Verdict.GENUINE


# The registry's own findings (scanned before activation, revoked) say nothing once the stamp is active: a packer
# testing a printed roll before activating it must not leave its fruit suspect for ever.
_FINDINGS_ON_ACTIVE: Final = ~((3 << TYPE_BIT[FindingType.NOT_ACTIVATED]) | (3 << TYPE_BIT[FindingType.REVOKED]))


def _highest(levels: int) -> int:
    highest = 0
    while levels:
        highest = max(highest, levels & 3)
        levels >>= 2
    return highest


def open_alert_types(mem: StampMemory) -> tuple[FindingType, ...]:
    """The types of the stamp's open alerts at warning or above that weigh on an active stamp's verdict, most
    severe first."""
    levels = mem.levels & _FINDINGS_ON_ACTIVE
    found = [(level, kind) for kind in FindingType if (level := (levels >> TYPE_BIT[kind]) & 3) >= Severity.WARNING]
    return tuple(kind for _level, kind in sorted(found, key=lambda pair: -pair[0]))


def dismiss(mem: StampMemory, kind: FindingType) -> bool:
    """The stamp's alert of this type was closed (resolved, or a false positive): its level no longer weighs on
    the verdict, and the evidence seen so far cannot open it again; a new independent sighting can. Its level
    drops to info, not to none, so the same evidence seen again opens no info alert either. True when `mem`
    changed."""
    before = (mem.levels, mem.dismissed)
    bit = TYPE_BIT[kind]
    mem.levels = (mem.levels & ~(3 << bit)) | (int(Severity.INFO) << bit)
    mem.dismissed |= DISMISSED_BIT[kind]
    return (mem.levels, mem.dismissed) != before


def raise_level(mem: StampMemory, kind: FindingType, severity: Severity) -> bool:
    """An alert of this type opened on the stamp from outside the engine (an inspector's report). True when
    `mem` changed."""
    bit = TYPE_BIT[kind]
    if severity <= (mem.levels >> bit) & 3:
        return False
    mem.levels = (mem.levels & ~(3 << bit)) | (int(severity) << bit)
    mem.dismissed &= ~DISMISSED_BIT[kind]
    return True


def _respect_dismissals(mem: StampMemory, found: list[Finding], fresh: bool, counted: bool) -> list[Finding]:
    """Findings of a type whose alert was closed: new evidence may open it again (a new sighting; for duplicates,
    one that counts towards them: an inspector's check never does); the same evidence seen again (a repeat
    scan, the household's other phone) is only info."""
    kept = []
    for f in found:
        bit = DISMISSED_BIT[f.type]
        if f.severity < Severity.WARNING or not mem.dismissed & bit:
            kept.append(f)
        elif counted if f.type is FindingType.DUPLICATE else fresh:
            mem.dismissed &= ~bit
            kept.append(f)
        else:
            kept.append(
                Finding(
                    f.type, Severity.INFO, f.evidence, f.explanation_en, f.explanation_vi, f.scope, f.subject, f.rule
                )
            )
    return kept


def verdict_for(severity: Severity | None) -> Verdict:
    if severity is Severity.CRITICAL:
        return Verdict.COUNTERFEIT
    if severity is Severity.WARNING:
        return Verdict.SUSPECT
    return Verdict.GENUINE


def _weight(cfg: EngineConfig, role: Role) -> float:
    if role is _CONSUMER:
        return cfg.roles.consumer_weight
    if role is _DISTRIBUTOR:
        return cfg.roles.distributor_weight
    return cfg.roles.inspector_weight


def _bit(device: int) -> int:
    """The device's bit in the 64-bit sketch: the top 6 bits of a Fibonacci hash, since CRC-32's low bits of
    similar ids are too regular for linear counting."""
    return ((device * 2654435761) & 0xFFFFFFFF) >> 26


def _known(mem: StampMemory, device: int) -> bool:
    return device in mem.devices or bool((mem.device_bits >> _bit(device)) & 1)


def _remember(cfg: EngineConfig, mem: StampMemory, device: int) -> None:
    if device in mem.devices:
        return
    if len(mem.devices) < cfg.duplicate.exact_devices:
        mem.devices.append(device)
    else:
        mem.device_bits |= 1 << _bit(device)


def _same_place(cfg: EngineConfig, s: Sighting, scan: Scan, accuracy: float, in_route: bool) -> bool:
    if not (s.in_route and in_route):
        return True  # a VPN exit abroad says nothing about where the phone is
    if s.lat is None or s.lon is None or scan.lat is None or scan.lon is None:
        return s.country == scan.country
    km = distance_km(s.lat, s.lon, scan.lat, scan.lon)
    return km - s.accuracy_km - accuracy <= cfg.duplicate.same_place_km


def _match(
    cfg: EngineConfig, mem: StampMemory, scan: Scan, device: int, network: int, accuracy: float, in_route: bool
) -> Sighting | None:
    """The sighting this scan belongs to: the same device, the same network (a household or office), or
    another device at the same place within the session window (a household on mobile data)."""
    for s in mem.sightings:
        if device in s.devices:
            return s
    if network:
        for s in mem.sightings:
            if network in s.networks:
                return s
    window = cfg.duplicate.session_minutes * 60
    for s in reversed(mem.sightings):
        if (
            scan.ts - s.last_ts <= window
            and s.first_ts - scan.ts <= window
            and _same_place(cfg, s, scan, accuracy, in_route)
        ):
            return s
    return None


def assess(
    cfg: EngineConfig,
    mem: StampMemory,
    scan: Scan,
    state: StampState,
    route: LotRoute | None,
    reason: str | None = None,
    lot: LotPlaces | None = None,
) -> list[Finding]:
    """Findings for one scan of one stamp, updating `mem` (and the lot's learned places, when given)."""
    mem.scans += 1
    if not mem.first_ts:
        mem.first_ts = scan.ts
    device = _hash(scan.device)
    if state in _REVOKED:
        _remember(cfg, mem, device)
        return _flag(mem, [rules.revoked(scan, reason)])
    if state is not _ACTIVATED or route is None:
        _remember(cfg, mem, device)
        return _flag(mem, [rules.not_activated(scan)])

    network = _hash(scan.network) if scan.network else 0
    accuracy = cfg.travel.default_accuracy_km if scan.accuracy_km is None else scan.accuracy_km
    in_route = scan.country in route.countries if scan.country else True
    known = bool(mem.devices) and _known(mem, device)
    joined = _match(cfg, mem, scan, device, network, accuracy, in_route) if mem.sightings else None
    new_sighting = joined is None and not known
    out = _history_rules(cfg, mem, scan, route, lot, accuracy, in_route, known, joined)
    weight = 0.0 if known else _weight(cfg, scan.role)  # a device's repeat scans are never new evidence
    if weight and scan.role is _CONSUMER and _maybe_same_fruit(cfg, mem, scan, out):
        weight *= cfg.duplicate.same_fruit_weight
    _record(cfg, mem, scan, route, device, network, accuracy, in_route, joined, new_sighting, weight)
    if mem.independent >= cfg.duplicate.info_devices:
        found = rules.duplicate(cfg, mem, scan)
        if found is not None:
            out.append(found)
    if lot is not None and in_route and _in_market(route, scan, out):
        lot.note_arrival(scan.ts)
    if out and mem.dismissed:
        out = _respect_dismissals(mem, out, new_sighting, new_sighting and weight > 0)
    return _flag(mem, out) if out else out


def _in_market(route: LotRoute, scan: Scan, found: list[Finding]) -> bool:
    """A buyer's or trader's clean scan in a market country: the lot has reached its market (an inspector may
    check it anywhere on the way)."""
    country = scan.country
    return (
        scan.role is not _INSPECTOR
        and country in route.markets
        and country != route.origin_country
        and all(f.severity < Severity.WARNING for f in found)
    )


def _history_rules(
    cfg: EngineConfig,
    mem: StampMemory,
    scan: Scan,
    route: LotRoute,
    lot: LotPlaces | None,
    accuracy: float,
    in_route: bool,
    known: bool,
    joined: Sighting | None,
) -> list[Finding]:
    """Travel, shelf life, route and reuse, judged against the memory as it was before this scan."""
    out: list[Finding] = []
    found: Finding | None
    placed = scan.lat is not None and scan.lon is not None  # travel and reach need this scan's place
    if not known:  # one device's repeat scans are never new evidence
        if placed and mem.sightings:
            found = rules.travel(cfg, mem.sightings, joined, scan, accuracy, in_route)
            if found is not None:
                out.append(found)
        # Nor is the household's other phone at the same place; and the chain's own scans show where the lot is.
        if placed and joined is None and scan.role is _CONSUMER:
            found = rules.too_early(cfg, route, scan, accuracy)
            if found is not None:
                if not mem.first_consumer_ts and _at_destination(cfg, route, scan, accuracy):
                    found = rules.early_note(scan)
                out.append(found)
        life = cfg.lifecycle
        sold_by = route.activated_at + route.shelf_life_days * life.shelf_life_factor * 86400
        if scan.ts - sold_by > life.shelf_life_grace_days * 86400:
            arrived = lot.arrived_at() if lot is not None else 0.0
            if arrived:  # a lot that reached its market late is still sold for a few days after
                sold_by = max(sold_by, arrived + life.market_days * 86400)
            found = rules.past_shelf_life(cfg, route, scan, sold_by)
            if found is not None:
                out.append(found)
    if scan.role is _CONSUMER:
        _route_rules(cfg, route, mem, scan, accuracy, in_route, lot, joined is None and not known, out)
    elif scan.role is _INSPECTOR and scan.country == route.origin_country and route.origin_country not in route.markets:
        # A market inspector's sweep at home; the border gate's own inspectors see the lot before it crosses.
        lat, lon = scan.lat, scan.lon
        if lat is not None and lon is not None and not rules.near_gate(cfg, route, lat, lon, accuracy):
            _exported(cfg, route, mem, scan, lot, out)
    return out


def _at_destination(cfg: EngineConfig, route: LotRoute, scan: Scan, accuracy: float) -> bool:
    """Whether a placed scan is in one of the lot's declared destinations: within a declared place, or anywhere
    in a destination market that declared no places."""
    country = scan.country
    if country not in route.markets or country == route.origin_country or scan.lat is None or scan.lon is None:
        return False
    if country not in route.region_countries:
        return True
    return rules.region_gap(cfg, route, scan.lat, scan.lon, accuracy)[0] <= 0


def _route_rules(
    cfg: EngineConfig,
    route: LotRoute,
    mem: StampMemory,
    scan: Scan,
    accuracy: float,
    in_route: bool,
    lot: LotPlaces | None,
    new_sighting: bool,
    out: list[Finding],
) -> None:
    """Where a consumer scanned it: abroad, off the declared places, back in the origin country; and reuse."""
    found: Finding | None
    country = scan.country
    if country:
        if not in_route:
            out.append(rules.abroad(cfg, route, mem, scan, accuracy, new_sighting))
        elif country in route.region_countries and scan.lat is not None and scan.lon is not None:
            _region(cfg, route, mem, scan, scan.lat, scan.lon, accuracy, lot, out)
        elif country == route.origin_country and route.origin_country not in route.markets:
            found = rules.backflow(route, mem, scan) if mem.market_ts else None
            if found is not None:
                out.append(found)
            else:
                _exported(cfg, route, mem, scan, lot, out)
    if new_sighting and mem.last_consumer_ts:
        found = rules.reuse(cfg, mem, scan)
        if found is not None:
            out.append(found)


def _record(
    cfg: EngineConfig,
    mem: StampMemory,
    scan: Scan,
    route: LotRoute,
    device: int,
    network: int,
    accuracy: float,
    in_route: bool,
    joined: Sighting | None,
    new_sighting: bool,
    weight: float,
) -> None:
    if new_sighting:
        sighting = Sighting(
            scan.ts,
            scan.ts,
            scan.lat,
            scan.lon,
            accuracy,
            scan.country,
            weight,
            in_route,
            [device],
            [network] if network else [],
            scan.scan_id,
        )
        mem.sightings.append(sighting)
        mem.independent += weight
        if len(mem.sightings) > cfg.duplicate.max_sightings:
            mem.sightings.remove(min(mem.sightings, key=lambda s: s.last_ts))
    elif joined is not None:
        _join(joined, scan, device, network, accuracy, in_route)
        # A consumer joining a distributor's sighting makes it count as a consumer's would, same-fruit discount
        # included: a household's second phone on its Wi-Fi is no more evidence than its first.
        if weight > joined.weight:
            mem.independent += weight - joined.weight
            joined.weight = weight
    _remember(cfg, mem, device)
    if scan.role is _CONSUMER:
        if not mem.first_consumer_ts:
            mem.first_consumer_ts = scan.ts
        mem.last_consumer_ts = max(mem.last_consumer_ts, scan.ts)
        country = scan.country
        if new_sighting and not mem.market_ts and country in route.markets and country != route.origin_country:
            mem.market_ts = scan.ts


def _maybe_same_fruit(cfg: EngineConfig, mem: StampMemory, scan: Scan, found: list[Finding]) -> bool:
    """A new consumer within days of the first one, reachable without impossible travel, may be the same fruit
    (a household member scanning later, a gift's receiver): it counts `same_fruit_weight`, not in full."""
    if not mem.first_consumer_ts:
        return False
    if scan.ts - mem.first_consumer_ts > cfg.duplicate.consumption_days * 86400:
        return False
    return not any(f.type is FindingType.IMPOSSIBLE_TRAVEL for f in found)


def _join(s: Sighting, scan: Scan, device: int, network: int, accuracy: float, in_route: bool) -> None:
    s.first_ts = min(s.first_ts, scan.ts)
    s.last_ts = max(s.last_ts, scan.ts)
    if device not in s.devices and len(s.devices) < _MAX_SIGHTING_IDS:
        s.devices.append(device)
    if network and network not in s.networks and len(s.networks) < _MAX_SIGHTING_IDS:
        s.networks.append(network)
    if not in_route or scan.lat is None or scan.lon is None:
        return  # a VPN exit never replaces a real place
    if s.lat is None or not s.in_route or accuracy < s.accuracy_km:
        s.lat, s.lon, s.accuracy_km, s.country, s.in_route = scan.lat, scan.lon, accuracy, scan.country, True


def _region(
    cfg: EngineConfig,
    route: LotRoute,
    mem: StampMemory,
    scan: Scan,
    lat: float,
    lon: float,
    accuracy: float,
    lot: LotPlaces | None,
    out: list[Finding],
) -> None:
    """A market country with declared places: far from all of them is off-route, unless the lot's clean stamps
    keep turning up at this place (the lot was resold there), which the lot aggregate learns."""
    gap, place = rules.region_gap(cfg, route, lat, lon, accuracy)
    if gap <= 0:
        mem.flags |= FLAG_SOLD_ON_ROUTE
        return
    if lot is not None and lot.learned(cfg, lat, lon):
        out.append(rules.finding(FindingType.OFF_ROUTE, Severity.INFO, (scan.scan_id,), "region_learned"))
    elif mem.flags & FLAG_SOLD_ON_ROUTE and not any(f.type is FindingType.IMPOSSIBLE_TRAVEL for f in out):
        out.append(rules.finding(FindingType.OFF_ROUTE, Severity.INFO, (scan.scan_id,), "region_carried"))
    else:  # online orders and gifts put a tenth of genuine fruit anywhere in the country: a note, not a warning
        out.append(rules.finding(FindingType.OFF_ROUTE, Severity.INFO, (scan.scan_id,), "region", km=gap, place=place))
    clean = not mem.flags & FLAG_FLAGGED and all(f.severity < Severity.WARNING for f in out[:-1])
    if lot is not None and clean and not mem.flags & FLAG_PLACE_COUNTED:
        lot.count_place(cfg, lat, lon)
        mem.flags |= FLAG_PLACE_COUNTED


def _exported(
    cfg: EngineConfig, route: LotRoute, mem: StampMemory, scan: Scan, lot: LotPlaces | None, out: list[Finding]
) -> None:
    """An export lot's stamp scanned at home; the lot learns the place when its clean stamps keep turning up
    there (a lot turned back at the border and sold at home)."""
    lat, lon = scan.lat, scan.lon
    if lat is None or lon is None or lot is None:
        found = rules.exported(cfg, route, scan, False)
        if found is not None:
            out.append(found)
        return
    found = rules.exported(cfg, route, scan, lot.learned(cfg, lat, lon))
    if found is None:
        return
    clean = not mem.flags & FLAG_FLAGGED and all(f.severity < Severity.WARNING for f in out)
    out.append(found)
    if clean and not mem.flags & FLAG_PLACE_COUNTED:
        lot.count_place(cfg, lat, lon)
        mem.flags |= FLAG_PLACE_COUNTED


def refine_place(mem: StampMemory, device: str, lat: float, lon: float, accuracy_km: float) -> bool:
    """A phone's own position (its GPS), sent after its scan: the sighting that phone belongs to takes it when
    it is more precise than what the sighting had (usually an IP address's guess, ~200 km), so later scans
    are judged against where the fruit really was. A sighting placed outside the route (a VPN exit) keeps
    its place: the position carries no country to put it back on the route. True when `mem` changed."""
    device_id = _hash(device)
    for s in mem.sightings:
        if device_id in s.devices:
            if not s.in_route or accuracy_km >= s.accuracy_km:
                return False
            s.lat, s.lon, s.accuracy_km = lat, lon, accuracy_km
            return True
    return False


def _flag(mem: StampMemory, out: list[Finding]) -> list[Finding]:
    for f in out:
        if f.severity >= Severity.WARNING:
            mem.flags |= FLAG_FLAGGED
            break
    return out


def assess_pin(cfg: EngineConfig, mem: StampMemory, event: PinEvent, state: StampState) -> list[Finding]:
    """A scratch-off PIN entry. Confirming again on the device that confirmed first is harmless."""
    if state is not StampState.ACTIVATED:
        return []
    device = _hash(event.device)
    if event.ok:
        if not mem.pin_device:
            mem.pin_device, mem.pin_event = device, event.event_id
            return []
        if mem.pin_device == device:
            return []
        # A PIN entry is new evidence, even after the stamp's last alert of its kind was dismissed.
        return _flag(mem, _respect_dismissals(mem, [rules.pin_reused(event.event_id, mem)], True, True))
    mem.pin_wrong += 1
    found = rules.pin_guessing(cfg, event.event_id, mem)
    return _flag(mem, _respect_dismissals(mem, [found], True, True) if found is not None else [])


@dataclass(slots=True, init=False)  # made on every scan: see model.Scan
class StampOutcome:
    """One observation of one stamp, judged: its findings, the stamp alerts it opens or raises, and what
    changed for its lot's aggregate (first scanned, first flagged)."""

    findings: list[Finding]
    alerts: list[Alert]
    newly_scanned: bool
    newly_flagged: bool

    def __init__(
        self, findings: list[Finding], alerts: list[Alert], newly_scanned: bool = False, newly_flagged: bool = False
    ) -> None:
        self.findings = findings
        self.alerts = alerts
        self.newly_scanned = newly_scanned
        self.newly_flagged = newly_flagged

    @property
    def severity(self) -> Severity | None:
        findings = self.findings
        if not findings:  # most scans
            return None
        return max(f.severity for f in findings)


def assess_stamp(
    cfg: EngineConfig,
    mem: StampMemory,
    scan: Scan,
    state: StampState,
    route: LotRoute | None,
    reason: str | None = None,
    lot: LotPlaces | None = None,
) -> StampOutcome:
    """The per-stamp step: what the online resolver runs on every scan, with the stamp's stored memory."""
    before = mem.flags
    findings = assess(cfg, mem, scan, state, route, reason, lot)
    alerts = stamp_alerts(mem, scan.ts, scan.gtin, scan.serial, findings) if findings else []  # most scans: none
    outcome = StampOutcome(findings, alerts)
    if route is not None:
        _mark(mem, before, outcome)
    return outcome


def assess_stamp_pin(
    cfg: EngineConfig, mem: StampMemory, event: PinEvent, state: StampState, route: LotRoute | None
) -> StampOutcome:
    before = mem.flags
    findings = assess_pin(cfg, mem, event, state)
    outcome = StampOutcome(findings, stamp_alerts(mem, event.ts, event.gtin, event.serial, findings))
    if route is not None and findings:
        _mark(mem, before, outcome)
    return outcome


def _mark(mem: StampMemory, before: int, outcome: StampOutcome) -> None:
    outcome.newly_scanned = not before & FLAG_SCANNED
    outcome.newly_flagged = bool(mem.flags & FLAG_FLAGGED) and not before & FLAG_FLAGGED
    mem.flags |= FLAG_SCANNED


def stamp_alerts(mem: StampMemory, ts: float, gtin: str, serial: str, findings: list[Finding]) -> list[Alert]:
    """An alert per finding whose severity is above what this stamp was already alerted for."""
    alerts: list[Alert] = []
    for f in findings:
        bit = TYPE_BIT[f.type]
        if f.severity > (mem.levels >> bit) & 3:
            mem.levels = (mem.levels & ~(3 << bit)) | (int(f.severity) << bit)
            alerts.append(Alert(ts, f.type, gtin, serial, f.severity, f.evidence))
    return alerts


class Aggregates:
    """Lot and packing-house aggregates: how many of their stamps were scanned and flagged, and the escalation
    alerts that follow. Fed with each stamp step's outcome; `tem replay` keeps them in memory, the online
    worker loads and stores them around each batch."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.lots: dict[str, LotState] = {}
        self.houses: dict[str, HouseState] = {}

    def lot(self, key: str) -> LotState:
        lot = self.lots.get(key)
        if lot is None:
            lot = self.lots[key] = LotState()
        return lot

    def house(self, code: str) -> HouseState:
        house = self.houses.get(code)
        if house is None:
            house = self.houses[code] = HouseState()
        return house

    def apply(
        self, outcome: StampOutcome, scan_id: str, ts: float, gtin: str, lot_code: str, house_code: str | None
    ) -> None:
        """Count a stamp step's outcome in its lot and packing house; escalation findings and alerts are
        appended to the outcome."""
        if not (outcome.newly_scanned or outcome.newly_flagged):
            return
        key = f"{gtin}/{lot_code}"
        lot = self.lot(key)
        house = self.house(house_code) if house_code else None
        if outcome.newly_scanned:
            lot.scanned += 1
            if house is not None:
                house.scanned += 1
        if outcome.newly_flagged:
            lot.flagged += 1
            _keep(lot.evidence, scan_id)
            if house is not None:
                house.flagged += 1
                _keep(house.evidence, scan_id)
                if lot_code not in house.lots:
                    _keep(house.lots, lot_code)
        findings, alerts = outcome.findings, outcome.alerts
        e = self.config.escalation
        if lot.scanned >= e.lot_min_scanned and lot.flagged >= e.lot_min_flagged:
            share = lot.flagged / lot.scanned
            level = (
                Severity.WARNING
                if share >= e.lot_warning_share
                else Severity.INFO
                if share >= e.lot_info_share
                else None
            )
            if level is not None and level > lot.level:
                lot.level = level
                found = rules.finding(
                    FindingType.LOT_ESCALATION,
                    level,
                    tuple(lot.evidence),
                    "lot",
                    Scope.LOT,
                    key,
                    flagged=lot.flagged,
                    scanned=lot.scanned,
                    lot=lot_code,
                    share=share,
                )
                findings.append(found)
                alerts.append(Alert(ts, found.type, gtin, None, level, found.evidence, Scope.LOT, key, (lot_code,)))
        if house is not None and house_code is not None:
            self._check_house(house_code, house, ts, gtin, findings, alerts)

    def not_activated(self, issuer: str, scan_id: str, ts: float, gtin: str, outcome: StampOutcome) -> None:
        """A scan of a serial issued to `issuer` but never activated: stolen rolls show up here."""
        house = self.house(issuer)
        house.not_activated += 1
        _keep(house.evidence, scan_id)
        self._check_house(issuer, house, ts, gtin, outcome.findings, outcome.alerts)

    def _check_house(
        self, code: str, house: HouseState, ts: float, gtin: str, findings: list[Finding], alerts: list[Alert]
    ) -> None:
        e = self.config.escalation
        share = house.flagged / house.scanned if house.scanned else 0.0
        crossed = (house.scanned >= e.house_min_scanned and share >= e.house_warning_share) or (
            house.not_activated >= e.house_not_activated
        )
        if not crossed or house.level >= Severity.WARNING:
            return
        house.level = Severity.WARNING
        found = rules.finding(
            FindingType.PACKING_HOUSE_ESCALATION,
            Severity.WARNING,
            tuple(house.evidence),
            "house",
            Scope.PACKING_HOUSE,
            code,
            house=code,
            flagged=house.flagged,
            scanned=house.scanned,
            share=share,
            not_activated=house.not_activated,
        )
        findings.append(found)
        alerts.append(
            Alert(
                ts,
                found.type,
                gtin,
                None,
                Severity.WARNING,
                found.evidence,
                Scope.PACKING_HOUSE,
                code,
                tuple(house.lots),
            )
        )


class Engine:
    """Every stamp's memory in a dict, plus the aggregates. Memory grows with scanned stamps, never with events."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.stamps: dict[tuple[str, str], StampMemory] = {}
        self.aggregates = Aggregates(config)
        self._forged_seen: set[tuple[str, str]] = set()
        self._networks: dict[str, _Burst] = {}

    @property
    def lots(self) -> dict[str, LotState]:
        return self.aggregates.lots

    @property
    def houses(self) -> dict[str, HouseState]:
        return self.aggregates.houses

    def _memory(self, gtin: str, serial: str) -> StampMemory:
        mem = self.stamps.get((gtin, serial))
        if mem is None:
            mem = self.stamps[(gtin, serial)] = StampMemory()
        return mem

    def scan(
        self,
        scan: Scan,
        state: StampState,
        route: LotRoute | None,
        reason: str | None = None,
        issuer: str | None = None,
    ) -> ScanResult:
        """`state` and `route` come from the registry; `issuer` is the packing house a never-activated serial
        was issued to, when known (stolen rolls show up in its aggregate)."""
        if not scan.sig_valid:
            return self._forged(scan)
        mem = self._memory(scan.gtin, scan.serial)
        lot = self.aggregates.lot(route.key) if route is not None else None
        outcome = assess_stamp(self.config, mem, scan, state, route, reason, lot)
        if route is not None:
            self.aggregates.apply(outcome, scan.scan_id, scan.ts, route.gtin, route.lot, route.packing_house)
        elif issuer is not None and state is StampState.NOT_ACTIVATED:
            self.aggregates.not_activated(issuer, scan.scan_id, scan.ts, scan.gtin, outcome)
        return ScanResult(outcome.findings, outcome.alerts, stamp_verdict(state, mem))

    def pin(self, event: PinEvent, state: StampState, route: LotRoute | None) -> ScanResult:
        mem = self._memory(event.gtin, event.serial)
        outcome = assess_stamp_pin(self.config, mem, event, state, route)
        if route is not None and outcome.findings:
            self.aggregates.apply(outcome, event.event_id, event.ts, route.gtin, route.lot, route.packing_house)
        return ScanResult(outcome.findings, outcome.alerts, stamp_verdict(state, mem))

    def _forged(self, scan: Scan) -> ScanResult:
        found = rules.forged(scan)
        findings = [found]
        alerts: list[Alert] = []
        key = (scan.gtin, scan.serial)
        if key not in self._forged_seen:
            self._forged_seen.add(key)
            alerts.append(Alert(scan.ts, found.type, scan.gtin, scan.serial, found.severity, found.evidence))
        if scan.network:
            self._burst(scan, findings, alerts)
        return ScanResult(findings, alerts, Verdict.COUNTERFEIT)

    def _burst(self, scan: Scan, findings: list[Finding], alerts: list[Alert]) -> None:
        f = self.config.forged
        net = scan.network or ""
        state = self._networks.pop(net, None)  # re-inserted below: the dict stays ordered oldest first
        if state is None:
            state = _Burst(scan.ts)
        elif scan.ts - state.start > f.burst_window_minutes * 60:
            state.start, state.count, state.evidence = scan.ts, 0, []
        state.count += 1
        _keep(state.evidence, scan.scan_id)
        self._networks[net] = state
        if len(self._networks) > f.max_networks:
            del self._networks[next(iter(self._networks))]
        if state.count >= f.burst_count and not state.alerted:
            state.alerted = True
            found = rules.finding(
                FindingType.FORGED_BURST,
                Severity.WARNING,
                tuple(state.evidence),
                "forged_burst",
                Scope.NETWORK,
                net,
                n=state.count,
                minutes=f.burst_window_minutes,
            )
            findings.append(found)
            alerts.append(
                Alert(scan.ts, found.type, scan.gtin, None, found.severity, found.evidence, Scope.NETWORK, net)
            )


@dataclass(slots=True)
class _Burst:
    """Forged scans from one network in the current window."""

    start: float
    count: int = 0
    alerted: bool = False
    evidence: list[str] = field(default_factory=list)


def _keep(evidence: list[str], scan_id: str) -> None:
    if len(evidence) < _EVIDENCE_KEPT:
        evidence.append(scan_id)
