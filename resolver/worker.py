"""`tem worker`: moves scans from the log (Redis Stream or in-process queue) into the database, in
batches, idempotently by scan id. A location sent later by the phone updates the scan's row."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import cast

from redis.exceptions import RedisError
from sqlalchemy import Connection, Table, text, update

from detection.engine import LotState
from detection.escalation import Escalation
from detection.online import LearnedPlaces
from detection.scans import ScanEvent
from resolver.models import ScanRecord
from resolver.store import ScanStore
from resolver.store.spool import DRAIN_SECONDS, OutageLog
from tem.core import metrics
from tem.core.db import Database, insert_new

log = logging.getLogger("tem.worker")

#: How often `tem worker` publishes its figures to the store for /metrics of `tem serve` (seconds).
PUBLISH_SECONDS = 5.0

LOCATION_COLUMNS = ("country", "region", "city", "latitude", "longitude", "accuracy_km", "location_source")


def _row(event: ScanEvent) -> dict[str, object]:
    place = event.place
    return {
        "id": event.scan_id,
        "at": dt.datetime.fromtimestamp(event.at, dt.UTC),
        "gtin": event.gtin,
        "serial": event.serial,
        "kid": event.kid,
        "verdict": event.verdict.value,
        "state": event.state,
        "role": event.role.value,
        "device_id": event.device_id,
        "ip_hash": event.ip_hash,
        "country": place.country if place else None,
        "region": place.region if place else None,
        "city": place.city if place else None,
        "latitude": place.latitude if place else None,
        "longitude": place.longitude if place else None,
        "accuracy_km": place.accuracy_km if place else None,
        "location_source": place.source.value if place and place.source else None,
        "lot_id": event.lot_id,
        "findings": event.findings,
    }


#: Counts newly stored scans (their rows, as `_row` builds them) into a rollup, in the batch's transaction.
Rollup = Callable[[Connection, list[dict[str, object]]], None]


class ScanWriter:
    """Writes a batch in one transaction: new scans, later locations, and what is given to it (`tem` wires
    the ministry's rollups and detection's escalation: its alerts and aggregates). Everything but the locations
    happens only for scans not written before, so a batch read again after a crash changes nothing twice."""

    def __init__(
        self,
        db: Database,
        escalation: Escalation | None = None,
        rollups: Sequence[Rollup] = (),
        places: LearnedPlaces | None = None,
    ) -> None:
        self._db = db
        self._months: set[str] = set()
        self._postgres = db.engine.dialect.name == "postgresql"
        self._places = places
        self._escalation = escalation
        self._rollups = tuple(rollups)

    def _ensure_partitions(self, conn: Connection, rows: Sequence[dict[str, object]]) -> None:
        for row in rows:
            at = row["at"]
            assert isinstance(at, dt.datetime)
            start = at.date().replace(day=1)
            name = f"scans_{start:%Y_%m}"
            if name in self._months:
                continue
            end = (start + dt.timedelta(days=32)).replace(day=1)
            # Look first: an application role without CREATE on the schema (docs/deploy.md) may not even try.
            if conn.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is None:
                conn.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF scans "
                        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                    )
                )
            self._months.add(name)

    def learned_places(self) -> dict[str, LotState]:
        if self._escalation is None:
            return {}
        with self._db.engine.connect() as conn:
            return self._escalation.learned_places(conn)

    def write(self, events: Sequence[ScanEvent]) -> int:
        """Insert new scans (a replayed scan id is skipped), then apply later locations to their scans."""
        rows = [_row(e) for e in events if e.kind == "scan"]
        located = [_row(e) for e in events if e.kind == "location"]
        table = cast(Table, ScanRecord.__table__)
        new: set[str] = set()
        with self._db.engine.begin() as conn:
            if rows:
                if self._postgres:
                    self._ensure_partitions(conn, rows)
                new = {row.id for row in insert_new(conn, table, rows, ["id"])}
                stored = [row for row in rows if row["id"] in new]
                for rollup in self._rollups:
                    rollup(conn, stored)
            # PIN entries and forged-scan bursts are not scans: their ids are fresh each time, and they only
            # raise alerts.
            fresh = [e for e in events if (e.kind == "scan" and e.scan_id in new) or e.kind in ("pin", "forged_burst")]
            learned = self._escalation.apply(conn, fresh) if self._escalation is not None else {}
            for row in located:
                conn.execute(
                    update(table)
                    .where(table.c.id == row["id"], table.c.at == row["at"])
                    .values({col: row[col] for col in LOCATION_COLUMNS})
                )
        if learned and self._places is not None:
            self._places.update(learned)
        return len(new)


async def drain(
    store: ScanStore,
    writer: ScanWriter,
    consumer: str,
    batch: int = 500,
    block_ms: int = 1000,
    stop: asyncio.Event | None = None,
    once: bool = False,
    publish_every: float | None = None,
) -> int:
    """Write log entries to the database until stopped (or once, for tests and shutdown).

    Its figures (`tem_worker_*`, labelled with `consumer`) are counted in this process. `tem worker` is a process
    of its own: with `publish_every` it also publishes all of its process's figures to the store every so many
    seconds, where /metrics of `tem serve` reads them."""
    figures = metrics.worker_counters(consumer)
    written = 0
    next_publish = 0.0
    spool = _SpoolDrain(store, once)
    read_failed = OutageLog(log, "scan_log_read_failed")  # during an outage, not a line a second
    write_failed = OutageLog(log, "scan_batch_write_failed")
    # A batch the database refused, kept and written again (entries read from a Redis Stream stay pending, and
    # would otherwise wait a minute to be claimed again); the in-process queue takes its entries back instead.
    held: list[tuple[str, ScanEvent]] = []
    requeue = getattr(store, "requeue_unacked", None)
    try:
        while stop is None or not stop.is_set():
            figures.heartbeat.set(time.time())
            if publish_every is not None and time.monotonic() >= next_publish:
                await _publish(store, consumer)
                next_publish = time.monotonic() + publish_every
            await spool.when_due()
            entries = held or await _read(store, consumer, batch, block_ms, once, read_failed)
            held = []
            if entries is None:
                continue
            if not entries:
                if once:
                    return written
                continue
            try:
                rows = await asyncio.to_thread(writer.write, [event for _, event in entries])
            except Exception as exc:
                figures.failures.inc()
                write_failed.note(f"{type(exc).__name__} size={len(entries)}", logging.ERROR)
                if requeue is not None:
                    await requeue()
                elif not once:
                    held = entries
                await asyncio.sleep(1)
                continue
            write_failed.over()
            written += rows
            figures.batches.inc()
            figures.entries.inc(len(entries))
            figures.rows.inc(rows)
            figures.last_batch.set(time.time())
            try:
                await store.ack_log([entry_id for entry_id, _ in entries])
            except (RedisError, OSError) as exc:  # written already: unacknowledged entries come back, and are skipped
                log.warning("scan_log_ack_failed error=%s", type(exc).__name__)
        return written
    finally:
        if publish_every is not None:  # the last figures, on the way out
            with contextlib.suppress(Exception):
                await _publish(store, consumer)


async def _read(
    store: ScanStore, consumer: str, batch: int, block_ms: int, once: bool, failed: OutageLog
) -> list[tuple[str, ScanEvent]] | None:
    """The next entries of the log; None when it cannot be read now (after a second's wait)."""
    try:
        entries = await store.read_log(consumer, batch, 0 if once else block_ms)
    except (RedisError, OSError) as exc:  # Redis restarting, a network blip: the log waits there
        failed.note(type(exc).__name__)
        if once:
            raise
        await asyncio.sleep(1)
        return None
    failed.over()
    return entries


class _SpoolDrain:
    """Scans a `tem serve` on this host spooled while Redis was away (and left there if it died), pushed back
    into the stream every `DRAIN_SECONDS`."""

    def __init__(self, store: ScanStore, once: bool) -> None:
        self._drain = None if once else getattr(store, "drain_spool", None)
        self._next = 0.0

    async def when_due(self) -> None:
        if self._drain is not None and time.monotonic() >= self._next:
            await self._drain()
            self._next = time.monotonic() + DRAIN_SECONDS


async def _publish(store: ScanStore, consumer: str) -> None:
    try:
        await store.publish_worker(consumer, metrics.snapshot())
    except (RedisError, OSError) as exc:  # the figures wait for the next round; the scans matter more
        log.warning("worker_figures_publish_failed error=%s", type(exc).__name__)
