"""Detection online: the engine's per-stamp step on every scan, with the memory the scan store keeps per stamp.

The scan path runs `Detector.judge`: the stamp's memory (bytes from the store) and the registry's lookup in,
the consumer's verdict, the new memory and the scan log entry out. Lot and packing-house aggregates are the
worker's (`resolver.aggregates`), fed by what each entry says changed; the resale places the worker learns
per lot come back here through `LearnedPlaces`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from resolver.engine import (
    EngineConfig,
    Finding,
    LotState,
    PinEvent,
    Role,
    Scan,
    Severity,
    StampMemory,
    StampOutcome,
    assess_stamp,
    assess_stamp_pin,
    verdict_for,
)
from resolver.ranges import Lookup, StampState
from resolver.scans import NEWLY_FLAGGED, NEWLY_SCANNED, ScanEvent, StampHistory, Verdict
from resolver.scans import Role as ScanRole
from resolver.store import Saved, ScanStore, StampBusy

T = TypeVar("T")

_ROLE = {ScanRole.CONSUMER: Role.CONSUMER, ScanRole.INSPECTOR: Role.INSPECTOR, ScanRole.DISTRIBUTOR: Role.DISTRIBUTOR}


class LearnedPlaces:
    """Per lot (`gtin/lot`), the undeclared places where its clean stamps keep turning up, as the worker
    learned them: [lat, lon, distinct stamps]. Replaced whole, never mutated, so readers need no lock."""

    def __init__(self) -> None:
        self._places: dict[str, list[list[float]]] = {}

    def get(self, key: str) -> list[list[float]]:
        return self._places.get(key, [])

    def update(self, places: dict[str, list[list[float]]]) -> None:
        self._places = {**self._places, **places}


class _LotView:
    """What `assess` sees of a lot online: its learned places (read) and a vote for a new one (passed on to
    the worker in the scan log, which counts it)."""

    __slots__ = ("places", "vote")

    def __init__(self, places: list[list[float]]) -> None:
        self.places = places
        self.vote: tuple[float, float] | None = None

    def learned(self, cfg: EngineConfig, lat: float, lon: float) -> bool:
        return LotState(places=self.places).learned(cfg, lat, lon)

    def count_place(self, cfg: EngineConfig, lat: float, lon: float) -> None:
        self.vote = (lat, lon)


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    findings: tuple[Finding, ...]  # warning and critical ones: what the consumer is told about
    event: ScanEvent  # the scan log entry, with detection's part filled in
    memory: bytes


def network_of(ip: str | None, salt: bytes) -> str | None:
    """A hashed /24 (IPv4) or /48 (IPv6): a household or office shares one; forged bursts come from one.
    Addresses are never kept, only this. None when there is no usable address."""
    if ip and ip.count(".") == 3 and ":" not in ip:
        prefix = ip.rsplit(".", 1)[0]  # the common case, without ipaddress's cost
    else:
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 visitor
        prefix = str(ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 48}", strict=False))
    return hashlib.blake2b(prefix.encode(), key=salt, digest_size=8).hexdigest()


class StampTurns:
    """Scans of one stamp in this process take turns here, so each is judged from the memory the one before
    it stored (from `KnownMemories`), instead of all judging from the same version and all but one being
    judged again after a round trip. Across processes the store's version check still rules."""

    def __init__(self) -> None:
        self._turns: dict[tuple[str, int], list[Any]] = {}  # stamp -> [lock, scans waiting or judging]

    @asynccontextmanager
    async def turn(self, gtin: str, serial: int) -> AsyncIterator[None]:
        key = (gtin, serial)
        entry = self._turns.get(key)
        if entry is None:
            entry = self._turns[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._turns[key]


class KnownMemories:
    """The memory (and its version) this process last stored or saw per stamp, so a repeat scan is judged and
    saved in one round trip. A stamp missing here is taken as never scanned (version 0): right for most
    scans, and when wrong the store answers the current memory. The oldest entries make room for new ones;
    entries are tuples of atomic values, which the garbage collector does not track."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[tuple[str, int], tuple[int, bytes | None]] = {}

    def get(self, gtin: str, serial: int) -> tuple[int, bytes | None]:
        return self._entries.get((gtin, serial), (0, None))

    def put(self, gtin: str, serial: int, version: int, memory: bytes | None) -> None:
        entries = self._entries
        entries.pop((gtin, serial), None)
        entries[(gtin, serial)] = (version, memory)
        if len(entries) > self._size:
            del entries[next(iter(entries))]


class Detector:
    def __init__(self, config: EngineConfig, places: LearnedPlaces | None = None, known: int = 200_000) -> None:
        self.config = config
        self.places = places or LearnedPlaces()
        self.turns = StampTurns()
        self.known = KnownMemories(known)

    def judge(self, event: ScanEvent, lookup: Lookup, memory: bytes | None, network: str | None) -> Judgement:
        mem = StampMemory.from_bytes(memory) if memory else StampMemory()
        place = event.place
        scan = Scan(
            event.scan_id,
            event.at,
            event.gtin,
            str(event.serial),
            True,
            (place.country or "") if place else "",
            place.latitude if place else None,
            place.longitude if place else None,
            place.accuracy_km if place else None,
            event.device_id,
            _ROLE[event.role],
            network,
        )
        lot = lookup.lot
        route = lot.route if lot is not None else None
        view = _LotView(self.places.get(route.key)) if route is not None else None
        outcome = assess_stamp(self.config, mem, scan, lookup.state, route, lookup.reason, view)
        return self._judgement(outcome, event, lookup, mem, view)

    def judge_pin(self, event: ScanEvent, lookup: Lookup, memory: bytes | None, ok: bool) -> Judgement:
        """A scratch-off PIN entry, logged as an entry of kind "pin"."""
        mem = StampMemory.from_bytes(memory) if memory else StampMemory()
        pin = PinEvent(event.scan_id, event.at, event.gtin, str(event.serial), ok, event.device_id)
        route = lookup.lot.route if lookup.lot is not None else None
        outcome = assess_stamp_pin(self.config, mem, pin, lookup.state, route)
        return self._judgement(outcome, event, lookup, mem, None)

    def _judgement(
        self, outcome: StampOutcome, event: ScanEvent, lookup: Lookup, mem: StampMemory, view: _LotView | None
    ) -> Judgement:
        findings = outcome.findings
        severity = outcome.severity
        lot = lookup.lot
        logged = replace(
            event,
            verdict=verdict_for(severity),
            findings=",".join(f"{f.type.value}:{f.severity.label}" for f in findings) or None,
            alerts=tuple(_alert(a.type.value, a.severity, a.evidence, f) for a, f in _alerted(outcome)),
            lot_code=lot.code if lot is not None else None,
            house=lot.organisation_code if lot is not None else lookup.issuer,
            newly=(NEWLY_SCANNED if outcome.newly_scanned else 0) | (NEWLY_FLAGGED if outcome.newly_flagged else 0),
            place_vote=view.vote if view is not None else None,
        )
        told = tuple(f for f in findings if f.severity >= Severity.WARNING)
        return Judgement(logged.verdict, told, logged, mem.to_bytes())

    def base_verdict(self, state: StampState) -> Verdict:
        """The verdict when there is no history to judge: what the registry says alone."""
        return Verdict.GENUINE if state is StampState.ACTIVATED else verdict_for(_STATE_SEVERITY[state])


_STATE_SEVERITY = {
    StampState.NOT_ACTIVATED: Severity.WARNING,
    StampState.UNKNOWN_SERIAL: Severity.WARNING,
    StampState.REVOKED: Severity.CRITICAL,
    StampState.KEY_REVOKED: Severity.CRITICAL,
}


def _alerted(outcome: StampOutcome) -> list[tuple[Any, Finding]]:
    """Each alert with the finding that raised it, for its explanation."""
    return [
        (a, next(f for f in outcome.findings if f.type is a.type and f.severity is a.severity)) for a in outcome.alerts
    ]


def _alert(kind: str, severity: Severity, evidence: tuple[str, ...], finding: Finding) -> dict[str, Any]:
    return {
        "type": kind,
        "severity": severity.label,
        "evidence": list(evidence),
        "en": finding.explanation_en,
        "vi": finding.explanation_vi,
    }


MAX_ATTEMPTS = 8  # judged again when another process changed the stamp meanwhile


async def record_and_judge(
    store: ScanStore, detector: Detector, event: ScanEvent, lookup: Lookup, network: str | None
) -> tuple[Judgement, StampHistory]:
    """Judge a scan from the stamp's memory and save both in one round trip; judged again from the stamp's
    current memory when it changed meanwhile (another process scanned it)."""
    judgement, saved = await _save(
        store, detector, event, lambda memory: detector.judge(event, lookup, memory, network)
    )
    return judgement, saved.history or StampHistory()


async def judge_pin(store: ScanStore, detector: Detector, event: ScanEvent, lookup: Lookup, ok: bool) -> Judgement:
    judgement, _saved = await _save(
        store, detector, event, lambda memory: detector.judge_pin(event, lookup, memory, ok)
    )
    return judgement


async def _save(
    store: ScanStore, detector: Detector, event: ScanEvent, judge: Callable[[bytes | None], Judgement]
) -> tuple[Judgement, Saved]:
    gtin, serial = event.gtin, event.serial
    async with detector.turns.turn(gtin, serial):
        version, memory = detector.known.get(gtin, serial)
        for _ in range(MAX_ATTEMPTS):
            judgement = judge(memory)
            saved = await store.save_judged(judgement.event, version, judgement.memory)
            if saved.ok:
                detector.known.put(gtin, serial, saved.version, judgement.memory)
                return judgement, saved
            version, memory = saved.version, saved.memory
            detector.known.put(gtin, serial, version, memory)
    raise StampBusy(f"stamp {gtin}/{serial} kept changing while its scan was judged")
