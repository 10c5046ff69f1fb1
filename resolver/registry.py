"""The resolver's view of the registry: keys, issued/activated/revoked ranges and lot summaries, held in
memory and rebuilt when the registry changes. Plain SQL rows, no ORM objects."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError
from sqlalchemy import func, select

from crypto import KeyStatus, PublicKey
from detection.ports import LotRef, RevocationCategory
from identity.models import Organisation
from issuer.models import (
    Activation,
    AuditEvent,
    GrowingArea,
    Lot,
    LotGrowingArea,
    Product,
    Revocation,
    RollOrder,
    SerialRange,
    SigningKey,
    StageRecord,
)
from resolver.lot_route import DEPARTURE_STAGES, VIETNAM_TIME, LotFacts, build_route
from resolver.ranges import ActivatedRange, IssuedRange, RangeIndex, RevokedRange
from tem.core.db import Database

log = logging.getLogger("tem.resolver")

#: The shape of the rows shared in Redis, in their key: a process never reads rows of another shape (during a
#: rolling upgrade, old and new processes each share their own). 2: revoked rows carry their category. 3: issued
#: rows carry whether their labels have a scratch-off PIN panel.
ROWS_FORMAT = 3


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    keyset: dict[str, PublicKey]
    ranges: RangeIndex
    loaded_at: float


def _load_rows(db: Database, pin_templates: frozenset[str] = frozenset()) -> tuple[int, dict[str, Any]]:
    """Everything the hot path needs, read in one transaction. The audit log's newest id is the version:
    every registry change writes an audit event. PIN_TEMPLATES names the label templates with a PIN panel."""
    with db.engine.connect() as conn:
        version = conn.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one()
        keys = conn.execute(
            select(
                SigningKey.kid,
                SigningKey.public_key,
                SigningKey.status,
                SigningKey.not_before,
                SigningKey.not_after,
            )
        ).all()
        issued = conn.execute(
            select(
                SerialRange.gtin,
                SerialRange.first_serial,
                SerialRange.last_serial,
                Organisation.code,
                SerialRange.order_id,
                RollOrder.template,
            )
            .join(Organisation, Organisation.id == SerialRange.organisation_id)
            .join(RollOrder, RollOrder.id == SerialRange.order_id)
        ).all()
        # An order printed with a template other than its own (`?template=`): its print events say which.
        printed = conn.execute(
            select(AuditEvent.subject, AuditEvent.details).where(AuditEvent.action == "order.printed")
        ).all()
        activated = conn.execute(
            select(
                Activation.gtin,
                Activation.first_serial,
                Activation.last_serial,
                Lot.id,
                Lot.code,
                Organisation.code,
                Activation.created_at,
            )
            .join(Lot, Lot.id == Activation.lot_id)
            .join(Organisation, Organisation.id == Activation.organisation_id)
        ).all()
        lots = conn.execute(
            select(
                Lot.id,
                Lot.destination_markets,
                Lot.border_gates,
                Lot.destination_places,
                Organisation.province,
                Product.shelf_life_days,
                Lot.packing_date,
            )
            .join(Organisation, Organisation.id == Lot.organisation_id)
            .join(Product, Product.id == Lot.product_id)
            .where(Lot.id.in_(select(Activation.lot_id)))
        ).all()
        # The lots' recorded stages at origin: time on the road counts from the earliest (see `build_route`).
        staged = conn.execute(
            select(StageRecord.lot_id, func.min(StageRecord.occurred_at))
            .where(StageRecord.stage.in_(DEPARTURE_STAGES))
            .where(StageRecord.lot_id.in_(select(Activation.lot_id)))
            .group_by(StageRecord.lot_id)
        ).all()
        located = conn.execute(
            select(LotGrowingArea.lot_id, GrowingArea.latitude, GrowingArea.longitude)
            .join(GrowingArea, GrowingArea.id == LotGrowingArea.growing_area_id)
            .where(GrowingArea.latitude.is_not(None), GrowingArea.longitude.is_not(None))
            .where(LotGrowingArea.lot_id.in_(select(Activation.lot_id)))
        ).all()
        revoked = conn.execute(
            select(
                Revocation.gtin,
                Revocation.first_serial,
                Revocation.last_serial,
                Revocation.category,
                Revocation.reason,
            )
        ).all()
    stages: dict[int, dt.datetime] = {row[0]: row[1] for row in staged}
    pin_orders = {
        subject
        for subject, details in printed
        if isinstance(details, dict) and details.get("template") in pin_templates
    }
    return int(version), {
        "keys": [
            [k, bytes(pk).hex(), s, nb.isoformat() if nb else None, na.isoformat() if na else None]
            for k, pk, s, nb, na in keys
        ],
        "issued": [
            [g, f, last, org, template in pin_templates or f"order:{order_id}" in pin_orders]
            for g, f, last, org, order_id, template in issued
        ],
        "activated": [[*r[:6], r[6].isoformat()] for r in activated],
        "lots": {
            str(lot_id): [
                markets,
                gates,
                places,
                province,
                shelf,
                [[a, b] for i, a, b in located if i == lot_id],
                _departed(packed, stages.get(lot_id)),
            ]
            for lot_id, markets, gates, places, province, shelf, packed in lots
        },
        "revoked": [list(r) for r in revoked],
    }


def _departed(packed: dt.date | None, staged: dt.datetime | None) -> str | None:
    """The earliest of the lot's packing date (its first moment in Vietnam's time zone, the earliest it can
    mean) and its recorded packing, shipping and border stages, as ISO text; None when neither is known."""
    times = [] if staged is None else [staged if staged.tzinfo else staged.replace(tzinfo=dt.UTC)]
    if packed is not None:
        times.append(dt.datetime.combine(packed, dt.time(), VIETNAM_TIME))
    return min(times).isoformat() if times else None


def _snapshot(version: int, rows: dict[str, Any]) -> Snapshot:
    def when(text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text) if text else None

    keyset = {
        kid: PublicKey(kid, bytes.fromhex(pk), KeyStatus(status), when(nb), when(na))
        for kid, pk, status, nb, na in rows["keys"]
    }
    lots = rows["lots"]

    def lot_ref(gtin: str, lot_id: int, code: str, org: str, activated_at: str) -> LotRef:
        markets, gates, places, province, shelf, located, *later = lots[str(lot_id)]
        departed = later[0] if later else None  # a snapshot a process of the previous version published
        facts = LotFacts(lot_id, code, gtin, org, province, markets, gates, places, located, shelf, when(departed))
        return LotRef(lot_id, code, org, build_route(facts, dt.datetime.fromisoformat(activated_at)))

    ranges = RangeIndex(
        issued=((g, IssuedRange(f, last, org, pin)) for g, f, last, org, pin in rows["issued"]),
        activated=(
            (g, ActivatedRange(f, last, lot_ref(g, lot_id, code, org, at)))
            for g, f, last, lot_id, code, org, at in rows["activated"]
        ),
        revoked=(
            (g, RevokedRange(f, last, _category(category), note)) for g, f, last, category, note in rows["revoked"]
        ),
        revoked_kids=(kid for kid, key in keyset.items() if key.status is KeyStatus.REVOKED),
    )
    return Snapshot(version, keyset, ranges, time.monotonic())


def _category(value: str) -> RevocationCategory:
    """A category this process does not know (written by a newer one) reads as "other", never as an error."""
    try:
        return RevocationCategory(value)
    except ValueError:
        return RevocationCategory.OTHER


def _current_version(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one())


class RegistryCache:
    """Rebuilt from the database when the audit log moves on. With Redis, the rows are shared there so
    many workers rebuild from one database read."""

    def __init__(
        self,
        db: Database,
        redis: Redis | RedisCluster | None = None,
        prefix: str = "tem",
        poll_seconds: float = 1.0,
        pin_templates: frozenset[str] = frozenset(),
    ) -> None:
        self._db = db
        self._pin_templates = pin_templates
        self._redis = redis
        self._prefix = prefix
        self._poll_seconds = poll_seconds
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()
        self._checked_at = 0.0
        self._poll: asyncio.Task[None] | None = None
        self.dirty = True

    @property
    def snapshot(self) -> Snapshot:
        assert self._snapshot is not None, "RegistryCache.refresh() runs before serving"
        return self._snapshot

    async def current(self) -> Snapshot:
        """The snapshot, rebuilt first if this process changed the registry. When the poll interval has
        passed, one background check asks the database whether another process changed it: scans never
        wait for that query, and concurrent scans never repeat it."""
        snapshot = self._snapshot
        if self.dirty or snapshot is None:
            await self.refresh()
            return self.snapshot
        if time.monotonic() - self._checked_at >= self._poll_seconds and self._poll is None:
            self._checked_at = time.monotonic()
            self._poll = asyncio.get_running_loop().create_task(self._check())
        return snapshot

    async def _check(self) -> None:
        try:
            await self.refresh(force=False)
        except Exception:  # the database is away: keep serving the last snapshot, try again next interval
            log.warning("registry_poll_failed", exc_info=True)
        finally:
            self._poll = None

    async def close(self) -> None:
        poll, self._poll = self._poll, None
        if poll is not None:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll

    async def refresh(self, force: bool = True) -> None:
        async with self._lock:
            self._checked_at = time.monotonic()
            self.dirty = False
            version = await asyncio.to_thread(_current_version, self._db)
            if not force and self._snapshot is not None and self._snapshot.version == version:
                return
            shared = await self._shared_rows(version)
            if shared is not None:
                self._snapshot = _snapshot(version, shared)
            else:
                version, rows = await asyncio.to_thread(_load_rows, self._db, self._pin_templates)
                await self._share(version, rows)
                self._snapshot = _snapshot(version, rows)
            log.info("registry_cache_rebuilt version=%s", version)

    def _shared_key(self, version: int) -> str:
        return f"{self._prefix}:registry:{ROWS_FORMAT}:{version}"

    async def _shared_rows(self, version: int) -> dict[str, Any] | None:
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._shared_key(version))
        except (RedisError, OSError) as exc:  # the shared copy is a shortcut: the database has the rows
            log.warning("registry_share_unavailable error=%s", type(exc).__name__)
            return None
        return json.loads(raw) if raw else None

    async def _share(self, version: int, rows: dict[str, Any]) -> None:
        if self._redis is not None:
            try:
                await self._redis.set(self._shared_key(version), json.dumps(rows), ex=86_400)
            except (RedisError, OSError) as exc:
                log.warning("registry_share_unavailable error=%s", type(exc).__name__)
