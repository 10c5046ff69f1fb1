"""Detection online: the engine's per-stamp step on every scan, with the memory the scan store keeps per stamp.

The scan path runs `Detector.judge`: the stamp's memory (decoded from the store's bytes once a batch, and
updated in place) and the registry's lookup in, the consumer's verdict and the scan log entry out. Lot and
packing-house aggregates are the worker's (`resolver.aggregates`), fed by what each entry says changed; the
resale places the worker learns per lot come back here through `LearnedPlaces`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from mypy_extensions import mypyc_attr

from detection.engine import (
    EngineConfig,
    Finding,
    FindingType,
    LotState,
    PinEvent,
    Scan,
    Severity,
    StampMemory,
    StampOutcome,
    assess_stamp,
    assess_stamp_pin,
    dismiss,
    open_alert_types,
    raise_level,
    refine_place,
    stamp_verdict,
)
from detection.engine.model import Place, StampState, Verdict
from detection.ports import Lookup, MemoryStore, Saved
from detection.scans import NEWLY_FLAGGED, NEWLY_SCANNED, ScanEvent

log = logging.getLogger("tem.resolver")

# Final: compiled, read without a lookup in another module's namespace (each is read on every scan).
_WARNING: Final = Severity.WARNING
_GENUINE: Final = Verdict.GENUINE
_NEWLY_SCANNED: Final = NEWLY_SCANNED
_NEWLY_FLAGGED: Final = NEWLY_FLAGGED
_running_loop: Final = asyncio.get_running_loop


class LearnedPlaces:
    """Per lot (`gtin/lot`), what the worker learned of it: the undeclared places where its clean stamps keep
    turning up ([lat, lon, distinct stamps]) and when it reached its market. Replaced whole, never mutated, so
    readers need no lock."""

    def __init__(self) -> None:
        self._lots: dict[str, LotState] = {}

    def get(self, key: str) -> LotState | None:
        return self._lots.get(key)

    def update(self, lots: dict[str, LotState]) -> None:
        self._lots = {**self._lots, **lots}


class _LotView:
    """What `assess` sees of a lot online: its learned places (read) and a vote for a new one (passed on to
    the worker in the scan log, which counts it)."""

    __slots__ = ("arrival", "lot", "vote")

    def __init__(self, lot: LotState | None) -> None:
        self.lot = lot
        self.vote: tuple[float, float] | None = None
        self.arrival: float | None = None

    def learned(self, cfg: EngineConfig, lat: float, lon: float) -> bool:
        return self.lot is not None and self.lot.learned(cfg, lat, lon)

    def count_place(self, cfg: EngineConfig, lat: float, lon: float) -> None:
        self.vote = (lat, lon)

    def arrived_at(self) -> float:
        return self.lot.arrived if self.lot is not None else 0.0

    def note_arrival(self, ts: float) -> None:
        arrived = self.arrived_at()
        if not arrived or ts < arrived:  # only news goes to the worker
            self.arrival = ts


@dataclass(slots=True, init=False)  # made on every scan: see engine.model.Scan
class Judgement:
    verdict: Verdict
    findings: tuple[Finding, ...]  # warning and critical ones: what the consumer is told about
    event: ScanEvent  # the scan log entry, with detection's part filled in
    # The types of the stamp's open alerts at warning or above: why the verdict is what it is, when this scan's
    # own findings do not say (an earlier scan's alert is still open). Empty for a genuine verdict.
    open_alerts: tuple[FindingType, ...]

    def __init__(
        self,
        verdict: Verdict,
        findings: tuple[Finding, ...],
        event: ScanEvent,
        open_alerts: tuple[FindingType, ...] = (),
    ) -> None:
        self.verdict = verdict
        self.findings = findings
        self.event = event
        self.open_alerts = open_alerts


@functools.lru_cache(maxsize=65_536)  # phones behind one address scan again and again; hashing costs
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


# Judges one scan (with its registry lookup and one more argument) and updates the memory it is given.
# None: `Detector.judge`, called directly (a scan's judge: no bound method made, no arguments parsed).
_Judge = Callable[[ScanEvent, Lookup, StampMemory, Any], Judgement]
_Pending = tuple[ScanEvent, _Judge | None, Lookup, Any, "asyncio.Future[Judgement]"]

MAX_BATCH: Final = 64
# Judged again when another process changed the stamp meanwhile. A process whose scans of a popular stamp keep
# arriving can win every race against another one a step behind, so the loser waits a little, at random,
# before trying again (at most about a quarter of a second in all).
MAX_ATTEMPTS: Final = 24
BACKOFF_SECONDS: Final = 0.001


class _Batch:
    """Scans of one stamp in this process, judged in order from one memory and saved in one round trip. While
    it is in flight, the stamp's next scans wait in `later` and go together in the next batch, so a popular
    stamp never has two saves of this process racing each other, and its scans never wait one round trip
    each in a line. The store reports the save's outcome to the batch itself, as it would to a future."""

    __slots__ = (
        "attempt", "detector", "items", "judged", "judgements", "key", "later", "settled", "store", "version",
    )  # fmt: skip

    def __init__(self, detector: Detector, store: MemoryStore, key: tuple[str, int], items: list[_Pending]) -> None:
        self.detector = detector
        self.store = store
        self.key = key
        self.items = items
        self.later: list[_Pending] | None = None  # made when needed: most batches never have one
        self.attempt = 0
        self.judgements: list[Judgement] | None = None  # None until judged: until then, new scans join `items`
        self.judged = b""  # the memory the judgements left, encoded
        self.version = 0  # the version of the memory they were judged from
        self.settled = False

    def done(self) -> bool:
        return self.settled

    def set_result(self, saved: Saved) -> None:
        self.settled = True
        try:
            self.detector.after_save(self, saved)
        except Exception as exc:  # called from the store's reader, which must never see a failure of ours
            log.exception("judged_batch_failed gtin=%s serial=%s", *self.key)
            self.detector.after_failure(self, exc)

    def set_exception(self, exc: BaseException) -> None:
        self.settled = True
        self.detector.after_failure(self, exc)

    def cancel(self) -> bool:
        self.set_exception(asyncio.CancelledError())
        return True


@mypyc_attr(allow_interpreted_subclasses=True)  # tests make one that fails
class KnownMemories:
    """The memory (and its version) this process last stored or saw per stamp, so a repeat scan is judged and
    saved in one round trip. A stamp missing here is taken as never scanned (version 0): right for most
    scans, and when wrong the store answers the current memory.

    Two generations of plain dicts, per GTIN and keyed by serial: a put goes to the young one, and when that
    holds half the size it becomes the old one and the old one is dropped. So the stamps saved most recently
    stay (at least half the size of them), a lookup touches few objects (it runs on every scan, against a
    cache far larger than the CPU's), and entries are tuples of atomic values, which the garbage collector
    does not track."""

    def __init__(self, size: int) -> None:
        self._half = max(1, size // 2)
        self._young: dict[str, dict[int, tuple[int, bytes | None]]] = {}
        self._old: dict[str, dict[int, tuple[int, bytes | None]]] = {}
        self._young_count = 0

    def get(self, gtin: str, serial: int) -> tuple[int, bytes | None]:
        young = self._young.get(gtin)
        if young is not None and (found := young.get(serial)) is not None:
            return found
        old = self._old.get(gtin)
        return old.get(serial, _UNKNOWN) if old is not None else _UNKNOWN

    def put(self, gtin: str, serial: int, version: int, memory: bytes | None) -> None:
        young = self._young.get(gtin)
        if young is None:
            young = self._young[gtin] = {}
        before = len(young)
        young[serial] = (version, memory)
        if len(young) > before:
            self._young_count += 1
            if self._young_count >= self._half:
                self._old, self._young, self._young_count = self._young, {}, 0


_UNKNOWN: Final[tuple[int, bytes | None]] = (0, None)  # never scanned, as far as this process knows


# What a scan is told when online detection is off: the registry's state alone.
REGISTRY_VERDICT = {
    StampState.ACTIVATED: Verdict.GENUINE,
    StampState.NOT_ACTIVATED: Verdict.SUSPECT,
    StampState.UNKNOWN_SERIAL: Verdict.SUSPECT,
    StampState.REVOKED: Verdict.COUNTERFEIT,
    StampState.KEY_REVOKED: Verdict.COUNTERFEIT,
}


class Detector:
    """`online` False (TEM_ONLINE_DETECTION=false) turns the per-scan engine off: scans are answered from the
    signature and the registry alone, counted and logged unjudged; `tem replay` can judge the log later."""

    def __init__(
        self,
        config: EngineConfig,
        places: LearnedPlaces | None = None,
        known: int = 200_000,
        online: bool = True,
    ) -> None:
        self.online = online
        self.config = config
        self.places = places or LearnedPlaces()
        self.known = KnownMemories(known)
        self._tasks: set[asyncio.Task[None]] = set()
        self._batches: dict[tuple[str, int], _Batch] = {}  # per stamp, its batch waiting or in flight
        self._ready: list[_Batch] = []  # batches for the next judging round
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(
        self, store: MemoryStore, event: ScanEvent, judge: _Judge | None, lookup: Lookup, extra: Any
    ) -> asyncio.Future[Judgement]:
        """`judge(event, lookup, memory, extra)` with the stamp's memory, and saves both (see `_Batch` and
        `_judging_round`); the future gets the judgement once the save is answered."""
        loop = _running_loop()
        if loop is not self._loop:  # a new event loop (tests): what an earlier one left will never run
            self._loop, self._ready, self._batches = loop, [], {}
        future: asyncio.Future[Judgement] = loop.create_future()
        key = (event.gtin, event.serial)
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = _Batch(self, store, key, [(event, judge, lookup, extra, future)])
            self._queue(batch)
        elif batch.judgements is None and not batch.later and len(batch.items) < MAX_BATCH:
            batch.items.append((event, judge, lookup, extra, future))  # not judged yet: it goes with this one
        elif batch.later is None:
            batch.later = [(event, judge, lookup, extra, future)]
        else:
            batch.later.append((event, judge, lookup, extra, future))
        return future

    def _enqueue(self, batch: _Batch) -> None:
        if self._batches.get(batch.key) is batch:  # not a retry timer from an event loop that is gone
            self._queue(batch)

    def _queue(self, batch: _Batch) -> None:
        """Into the next judging round (a new batch is its stamp's current one: no need to check)."""
        if not self._ready:
            _running_loop().call_soon(self._judging_round)
        self._ready.append(batch)

    def _judging_round(self) -> None:
        """Every batch ready in one turn of the event loop is decoded, judged and encoded here, at the start
        of the next turn, and then their saves are started. Run back to back, the engine's code and data stay
        in the CPU's caches; run once per scan between the HTTP and Redis work of that scan, the same judging
        took about twice as long (5 against 10 µs a scan). A scan's task sleeps until its save is answered:
        it wakes once."""
        ready, self._ready = self._ready, []
        judged = []
        for batch in ready:
            try:
                key = batch.key
                version, memory = self.known.get(key[0], key[1])
                mem = StampMemory.from_bytes(memory) if memory else StampMemory()
                judgements = []
                for event, judge, lookup, extra, _future in batch.items:
                    if judge is None:
                        judgements.append(self.judge(event, lookup, mem, extra))
                    else:
                        judgements.append(judge(event, lookup, mem, extra))
                batch.judgements, batch.judged, batch.version = judgements, mem.to_bytes(), version
                judged.append(batch)
            except Exception as exc:  # this batch's scans fail; the others of the round go on
                batch.set_exception(exc)
        # Every batch judged before any save is packed: packing between judgings would cool the caches again.
        # The saves are written here, together, not at the next turn of the event loop: one more turn
        # between a scan and its write splits the scans in flight into more, smaller groups, and each
        # group costs a write and a read of its own (15 scans a write, against 25 with the engine off).
        stores: list[MemoryStore] = []  # in practice one, the scan path's
        try:
            for batch in judged:
                if batch.store not in stores:
                    stores.append(batch.store)
                    batch.store.hold_writes()
                try:
                    events = [item[0] for item in batch.items]
                    batch.store.start_save(events, batch.version, batch.judged, batch)
                except Exception as exc:  # the connection is closed: this batch's scans fail
                    if not batch.settled:
                        batch.set_exception(exc)
        finally:
            for store in stores:
                store.write_held()

    def after_save(self, batch: _Batch, saved: Saved) -> None:
        """A batch's save answered: its scans get their judgements; or, when another process changed the
        stamp meanwhile, the batch is judged again from the stamp's current memory."""
        key = batch.key
        if saved.ok:
            judgements = batch.judgements
            assert judgements is not None
            self.known.put(key[0], key[1], saved.version, batch.judged)
            items = batch.items
            for i, judgement in enumerate(judgements):  # one per item, in order
                future = items[i][4]
                if not future.done():
                    future.set_result(judgement)
            self._next(batch)
            return
        self.known.put(key[0], key[1], saved.version, saved.memory)
        self._judge_again(batch)
        room = MAX_BATCH - len(batch.items)
        later = batch.later
        if room > 0 and later:  # waited for this batch: judged with it now, in the order they came
            batch.items += later[:room]
            del later[:room]
        if batch.attempt >= MAX_ATTEMPTS:
            self._unjudged(batch, saved.memory)
        elif batch.attempt > 1:
            delay = random.uniform(0, BACKOFF_SECONDS * (batch.attempt - 1))  # noqa: S311  # jitter, not secrets
            asyncio.get_running_loop().call_later(delay, self._enqueue, batch)
        else:
            self._enqueue(batch)

    def _judge_again(self, batch: _Batch) -> None:
        """Another process changed the stamp meanwhile: the batch goes back to be judged from its current memory,
        its scans' detection fields cleared of what this judging wrote."""
        batch.attempt += 1
        batch.judgements, batch.judged, batch.settled = None, b"", False
        for item in batch.items:
            event = item[0]
            event.findings, event.alerts, event.place_vote, event.arrival_vote = None, (), None, None

    def after_failure(self, batch: _Batch, exc: BaseException) -> None:
        """Every scan of the batch answers the way it would have alone; the next batch still goes."""
        cancelled = isinstance(exc, asyncio.CancelledError)
        for _event, _judge, _lookup, _extra, future in batch.items:
            if not future.done():
                if cancelled:
                    future.cancel()
                else:
                    future.set_exception(exc)
        self._next(batch)

    def _next(self, batch: _Batch) -> None:
        later = batch.later
        if not later:
            current = self._batches.pop(batch.key, None)
            if current is not None and current is not batch:  # not this batch's stamp entry any more: put back
                self._batches[batch.key] = current
            return
        following = self._batches[batch.key] = _Batch(self, batch.store, batch.key, later[:MAX_BATCH])
        following.later = later[MAX_BATCH:] or None
        self._enqueue(following)

    def _unjudged(self, batch: _Batch, memory: bytes | None) -> None:
        task = asyncio.get_running_loop().create_task(self._answer_unjudged(batch, memory))
        self._tasks.add(task)  # a task nobody references may be collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def _answer_unjudged(self, batch: _Batch, memory: bytes | None) -> None:
        try:
            judgements = await _save_unjudged(batch.store, [item[0] for item in batch.items], memory)
        except asyncio.CancelledError as exc:  # its scans must not wait for ever
            batch.set_exception(exc)
            raise
        except Exception as exc:
            batch.set_exception(exc)
            return
        for (_event, _judge, _lookup, _extra, future), judgement in zip(batch.items, judgements, strict=True):
            if not future.done():
                future.set_result(judgement)
        self._next(batch)

    def judge(self, event: ScanEvent, lookup: Lookup, mem: StampMemory, network: str | None) -> Judgement:
        """Judges the scan and records it in `mem`, the stamp's memory."""
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
            event.role,
            network,
        )
        lot = lookup.lot
        route = lot.route if lot is not None else None
        view = _LotView(self.places.get(route.key)) if route is not None else None
        outcome = assess_stamp(self.config, mem, scan, lookup.state, route, lookup.category, view)
        return self._judgement(outcome, event, lookup, view, mem)

    def judge_pin(self, event: ScanEvent, lookup: Lookup, mem: StampMemory, ok: bool) -> Judgement:
        """A scratch-off PIN entry, logged as an entry of kind "pin"."""
        pin = PinEvent(event.scan_id, event.at, event.gtin, str(event.serial), ok, event.device_id)
        route = lookup.lot.route if lookup.lot is not None else None
        outcome = assess_stamp_pin(self.config, mem, pin, lookup.state, route)
        return self._judgement(outcome, event, lookup, None, mem)

    def _judgement(
        self, outcome: StampOutcome, event: ScanEvent, lookup: Lookup, view: _LotView | None, mem: StampMemory
    ) -> Judgement:
        """Fills in the event's detection fields. Those most scans leave at their defaults (findings, alerts, the
        place vote) are written only when set: the event is new, or reset before it is judged again
        (`_judge_again`). The verdict is the stamp's (`stamp_verdict`), not only this scan's findings'."""
        findings = outcome.findings
        lot = lookup.lot
        verdict = stamp_verdict(lookup.state, mem)
        if findings:
            event.findings = ",".join(f"{f.type.value}:{f.severity.label}" for f in findings)
            event.alerts = tuple(_alert(a.type.value, a.severity, a.evidence, f) for a, f in _alerted(outcome))
            told = tuple(f for f in findings if f.severity >= _WARNING)
        else:
            told = ()
        event.verdict = verdict
        if lot is not None:
            event.lot_code, event.house = lot.code, lot.organisation_code
        else:
            event.lot_code, event.house = None, lookup.issuer
        newly = _NEWLY_SCANNED if outcome.newly_scanned else 0
        if outcome.newly_flagged:
            newly |= _NEWLY_FLAGGED
        event.newly = newly
        if view is not None:
            event.place_vote, event.arrival_vote = view.vote, view.arrival
        # Why the word is what it is: only a word other than genuine needs it (most scans skip the walk).
        return Judgement(verdict, told, event, open_alert_types(mem) if verdict is not _GENUINE else ())


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


def record_and_judge(
    store: MemoryStore, detector: Detector, event: ScanEvent, lookup: Lookup, network: str | None
) -> Awaitable[Judgement]:
    """Judge a scan from the stamp's memory and save both in one round trip; judged again from the stamp's
    current memory when it changed meanwhile (another process scanned it). Not a coroutine: the scan path
    awaits the detector's future itself."""
    if not detector.online:
        return _record_unjudged(store, event, lookup)
    return detector.submit(store, event, None, lookup, network)


async def _record_unjudged(store: MemoryStore, event: ScanEvent, lookup: Lookup) -> Judgement:
    event.verdict = REGISTRY_VERDICT[lookup.state]
    lot = lookup.lot
    event.lot_code, event.house = (lot.code, lot.organisation_code) if lot is not None else (None, lookup.issuer)
    await store.save_judged((event,), None, b"")
    return Judgement(event.verdict, (), event)


async def refine_memory(
    store: MemoryStore, detector: Detector, gtin: str, serial: int, device: str, place: Place
) -> bool:
    """A phone's GPS fix for its earlier scan refines the place of its sighting in the stamp's memory (see
    `engine.refine_place`), under the same version check as a scan. True when the memory changed."""
    if not detector.online or place.latitude is None or place.longitude is None or place.accuracy_km is None:
        return False
    lat, lon, accuracy = place.latitude, place.longitude, place.accuracy_km
    return await update_memory(
        store, detector, gtin, serial, lambda mem: refine_place(mem, device, lat, lon, accuracy), create=False
    )


async def change_alert_level(
    store: MemoryStore, detector: Detector, gtin: str, serial: int, kind: FindingType, severity: Severity | None
) -> bool:
    """The stamp's memory follows its alerts: an alert of `kind` closed (`severity` None: `engine.dismiss`) or
    opened from outside the engine (an inspector's report: `engine.raise_level`). So the verdict every caller
    reads (`stamp_verdict`) agrees with the alerts the ministry sees. True when the memory changed."""
    if severity is None:
        return await update_memory(store, detector, gtin, serial, lambda mem: dismiss(mem, kind), create=False)
    return await update_memory(store, detector, gtin, serial, lambda mem: raise_level(mem, kind, severity))


async def update_memory(
    store: MemoryStore,
    detector: Detector,
    gtin: str,
    serial: int,
    change: Callable[[StampMemory], bool],
    create: bool = True,
) -> bool:
    """`change` applied to the stamp's memory, under the same version check as a scan, tried again from the
    current memory when another scan got there first. `create` False: a stamp never judged is left alone."""
    version, memory = detector.known.get(gtin, serial)
    if memory is None:
        version, memory = await store.load_memory(gtin, serial)
    for _attempt in range(MAX_ATTEMPTS):
        if memory is None and not create:
            return False
        mem = StampMemory.from_bytes(memory) if memory else StampMemory()
        if not change(mem):
            return False
        changed = mem.to_bytes()
        saved = await store.store_memory(gtin, serial, version, changed)
        if saved.ok:
            detector.known.put(gtin, serial, saved.version, changed)
            return True
        version, memory = saved.version, saved.memory
    return False


async def judge_pin(store: MemoryStore, detector: Detector, event: ScanEvent, lookup: Lookup, ok: bool) -> Judgement:
    return await detector.submit(store, event, detector.judge_pin, lookup, ok)


async def _save_unjudged(store: MemoryStore, events: list[ScanEvent], memory: bytes | None) -> list[Judgement]:
    """A stamp so hot that other processes changed it under every attempt: its scans are still answered and
    logged, counted but not judged, with the verdict its memory already carries (the highest severity it was
    alerted for). Telling a consumer to try again would only add to the crowd."""
    mem = StampMemory.from_bytes(memory) if memory else StampMemory()
    judgements = []
    for event in events:
        event.verdict = stamp_verdict(StampState(event.state), mem)
        event.findings, event.alerts, event.newly, event.place_vote, event.arrival_vote = None, (), 0, None, None
        judgements.append(Judgement(event.verdict, (), event))
    log.warning("stamp_busy_unjudged gtin=%s serial=%s scans=%s", events[0].gtin, events[0].serial, len(events))
    await store.save_judged(events, None, b"")
    return judgements
