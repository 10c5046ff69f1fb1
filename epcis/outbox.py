"""The national portal's outbox sender: every stored EPCIS event reaches the portal at least once.

`epcis.store.record` writes one `PortalOutbox` row in the event's own transaction. `deliver_due` claims due rows
under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises claimers), oldest
first, `portal_batch` at a time, and sends each batch as one document through a `PortalAdapter`:

- delivered: the rows are marked delivered;
- retry (408, 429, 5xx, timeouts, no connection): the rows wait `portal_backoff_seconds` × 2^(attempts-1), capped
  at `portal_backoff_max_seconds`, plus jitter, and never less than the portal's `Retry-After`. A transient failure
  never dead-letters, however often it happens;
- rejected: a batch of more than one event is split in two and each half sent again (bisection), so only the
  events the portal refuses on their own become dead letters (`dead`, with the reason), replayable by the ministry.

The eventIDs are stored with the events, so a batch sent twice (a sender killed after the POST, before recording it)
names the same events twice and the portal can deduplicate. `run_portal_outbox` runs it in `tem worker` and the
in-process worker; `drain` and `status` serve `tem outbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from epcis.models import EpcisEvent, OutboxStatus, PortalOutbox
from epcis.portal import EpcisCapture, Outcome, PortalAdapter, PortalAnswer
from tem.core.db import Database
from tem.core.settings import Settings
from tem.core.time import utcnow

log = logging.getLogger("tem.portal")

#: A claimed row is not due again for LEASE_FACTOR POST timeouts plus LEASE_MARGIN_SECONDS: long enough for one
#: POST and its bookkeeping (a long bisection renews it), short enough that a sender that died mid-POST holds
#: its batch back only briefly. A lease that runs out early only means a duplicate, which the eventIDs allow.
LEASE_FACTOR = 3.0
LEASE_MARGIN_SECONDS = 2.0
JITTER = 0.2  # up to +20 % on each backoff, so many senders do not retry in lockstep
REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class _Item:
    id: int
    attempts: int
    body: dict[str, Any]


@dataclass(slots=True)
class OutboxReport:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    batches: int = 0  # documents POSTed, bisection's included
    #: Set when a round stopped on a transient failure: the portal is struggling, wait before the next round.
    backing_off: bool = False

    def add(self, other: OutboxReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.dead += other.dead
        self.batches += other.batches
        self.backing_off = self.backing_off or other.backing_off


@dataclass(frozen=True, slots=True)
class OutboxFigures:
    pending: int
    delivered: int
    dead: int
    oldest_pending_age_seconds: float  # 0 when nothing is pending

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "delivered": self.delivered,
            "dead": self.dead,
            "oldest_pending_age_seconds": round(self.oldest_pending_age_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int  # the outbox row
    event_id: str
    event_type: str
    reason: str | None
    attempts: int


def backoff_seconds(
    settings: Settings, attempts: int, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """The wait after the `attempts`-th failed round: exponential with jitter, capped, never below Retry-After."""
    delay = min(settings.portal_backoff_max_seconds, settings.portal_backoff_seconds * 2.0 ** max(attempts - 1, 0))
    spread = rng.random() if rng is not None else random.random()  # noqa: S311  (jitter, not a secret)
    delay *= 1 + JITTER * spread
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def adapter_for(settings: Settings) -> PortalAdapter:
    """The adapter the settings name. Raises ValueError without TEM_PORTAL_URL."""
    if not settings.portal_url:
        raise ValueError("TEM_PORTAL_URL is not set")
    return EpcisCapture(settings.portal_url, settings.portal_token, settings.portal_timeout_seconds)


def _lease(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.portal_timeout_seconds * LEASE_FACTOR + LEASE_MARGIN_SECONDS)


@contextlib.contextmanager
def _unit(db: Database) -> Iterator[Session]:
    """A unit of work for the outbox's own bookkeeping. On PostgreSQL its commit does not wait for the disk
    (`synchronous_commit = off`): a server crash may forget the last few marks, and the events they concern are
    then sent again, which at-least-once delivery allows; the wait saved is most of a batch's database time."""
    with db.session() as session:
        if db.engine.dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        yield session


def _ids(db: Database, ids: Sequence[int]) -> ColumnElement[bool]:
    """`portal_outbox.id` among `ids`: one array parameter on PostgreSQL (a short statement it can prepare),
    an IN list elsewhere."""
    if db.engine.dialect.name == "postgresql":
        return PortalOutbox.id == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return PortalOutbox.id.in_(list(ids))


def _claim(db: Database, settings: Settings, now: dt.datetime, limit: int) -> list[_Item]:
    """Take up to `limit` due rows, oldest first, and push their next attempt past a lease (one statement)."""
    due = (
        select(PortalOutbox.id)
        .where(PortalOutbox.status == OutboxStatus.PENDING.value, PortalOutbox.next_attempt_at <= now)
        .order_by(PortalOutbox.next_attempt_at, PortalOutbox.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claim = (
        update(PortalOutbox)
        .where(PortalOutbox.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + _lease(settings))
        .returning(PortalOutbox.id, PortalOutbox.attempts, PortalOutbox.event_pk)
        .execution_options(synchronize_session=False)
    )
    with _unit(db) as session:
        rows = sorted(session.execute(claim).all())
        if not rows:
            return []
        pks = [row.event_pk for row in rows]
        events = select(EpcisEvent.id, EpcisEvent.body).where(
            EpcisEvent.id == any_(bindparam("pks", pks, type_=ARRAY(Integer)))
            if db.engine.dialect.name == "postgresql"
            else EpcisEvent.id.in_(pks)
        )
        bodies: dict[int, dict[str, Any]] = {row.id: row.body for row in session.execute(events)}
    return [_Item(row.id, row.attempts, bodies[row.event_pk]) for row in rows if row.event_pk in bodies]


def _extend(db: Database, settings: Settings, items: Sequence[_Item]) -> None:
    with _unit(db) as session:
        session.execute(
            update(PortalOutbox)
            .where(_ids(db, [item.id for item in items]), PortalOutbox.status == OutboxStatus.PENDING.value)
            .values(next_attempt_at=utcnow() + _lease(settings))
            .execution_options(synchronize_session=False)
        )


def _by_attempts(items: Sequence[_Item]) -> dict[int, list[int]]:
    """Row ids grouped by their attempts so far: a batch is usually one group, so one UPDATE."""
    groups: dict[int, list[int]] = {}
    for item in items:
        groups.setdefault(item.attempts, []).append(item.id)
    return groups


def _delivered(db: Database, items: Sequence[_Item]) -> None:
    now = utcnow()
    with _unit(db) as session:
        for attempts, ids in _by_attempts(items).items():
            session.execute(
                update(PortalOutbox)
                .where(_ids(db, ids))
                .values(status=OutboxStatus.DELIVERED.value, attempts=attempts + 1, delivered_at=now, last_error=None)
                .execution_options(synchronize_session=False)
            )


def _dead(db: Database, item: _Item, reason: str) -> None:
    with _unit(db) as session:
        session.execute(
            update(PortalOutbox)
            .where(PortalOutbox.id == item.id)
            .values(status=OutboxStatus.DEAD.value, attempts=item.attempts + 1, last_error=reason[:REASON_CHARS])
        )


def _retry(db: Database, settings: Settings, items: Sequence[_Item], answer: PortalAnswer) -> None:
    now = utcnow()
    with _unit(db) as session:
        for attempts, ids in _by_attempts(items).items():
            wait = backoff_seconds(settings, attempts + 1, answer.retry_after)
            session.execute(
                update(PortalOutbox)
                .where(_ids(db, ids))
                .values(
                    attempts=attempts + 1,
                    next_attempt_at=now + dt.timedelta(seconds=wait),
                    last_error=answer.reason[:REASON_CHARS],
                )
                .execution_options(synchronize_session=False)
            )


def _send_batch(db: Database, settings: Settings, adapter: PortalAdapter, items: list[_Item]) -> OutboxReport:
    """Send one claimed batch; on a rejection, bisect until each refused event stands alone."""
    report = OutboxReport()
    lease = _lease(settings).total_seconds()
    started = time.monotonic()
    stack: list[list[_Item]] = [items]
    while stack:
        part = stack.pop()
        if time.monotonic() - started > lease / 2:  # a long bisection: keep the rest of the batch leased
            _extend(db, settings, [item for chunk in (part, *stack) for item in chunk])
            started = time.monotonic()
        answer = adapter.send([item.body for item in part])
        report.batches += 1
        if answer.outcome is Outcome.DELIVERED:
            _delivered(db, part)
            report.delivered += len(part)
        elif answer.outcome is Outcome.REJECTED and len(part) > 1:
            middle = len(part) // 2
            stack.extend((part[middle:], part[:middle]))  # the first half is sent first
        elif answer.outcome is Outcome.REJECTED:
            _dead(db, part[0], answer.reason)
            report.dead += 1
            log.warning("portal_dead_letter outbox=%s reason=%s", part[0].id, answer.reason)
        else:  # the portal is struggling: this part and the rest of the batch wait, and the round ends
            rest = [item for chunk in (part, *stack) for item in chunk]
            _retry(db, settings, rest, answer)
            report.retrying += len(rest)
            report.backing_off = True
            log.info(
                "portal_retry_scheduled events=%s reason=%s retry_after=%s",
                len(rest),
                answer.reason,
                answer.retry_after,
            )
            break
    return report


def deliver_due(
    db: Database,
    settings: Settings,
    *,
    adapter: PortalAdapter | None = None,
    now: dt.datetime | None = None,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[OutboxReport], None] | None = None,
) -> OutboxReport:
    """Send what is due, one claimed batch at a time, until nothing is due, a transient failure, `max_batches`
    claims or `should_stop()`. Blocking: run it in a thread. Without an adapter, one is built from the settings."""
    report = OutboxReport()
    if adapter is None and not settings.portal_url:
        return report
    own = adapter is None
    portal = adapter or adapter_for(settings)
    claims = 0
    try:
        while max_batches is None or claims < max_batches:
            if should_stop is not None and should_stop():
                break
            items = _claim(db, settings, now or utcnow(), settings.portal_batch)
            if not items:
                break
            claims += 1
            batch = _send_batch(db, settings, portal, items)
            report.add(batch)
            if on_batch is not None:
                on_batch(batch)
            if batch.backing_off:
                break
    finally:
        if own:
            portal.close()
    if report.delivered or report.dead:
        log.info("portal_round delivered=%s dead=%s retrying=%s", report.delivered, report.dead, report.retrying)
    return report


async def run_portal_outbox(db: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Deliver due events every `portal_poll_seconds` until stopped. Does nothing without TEM_PORTAL_URL."""
    if not settings.portal_url:
        return
    adapter = adapter_for(settings)
    stopping = threading.Event()  # asyncio.Event is not for other threads: mirror it for the sender's thread
    try:
        while not stop.is_set():
            try:
                await asyncio.to_thread(deliver_due, db, settings, adapter=adapter, should_stop=stopping.is_set)
            except Exception:
                log.exception("portal_delivery_round_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.portal_poll_seconds)
    finally:
        stopping.set()
        adapter.close()


def status(db: Database, now: dt.datetime | None = None) -> OutboxFigures:
    """Counts by state and the age of the oldest pending event."""
    with db.session() as session:
        return figures(session, now)


def figures(session: Session, now: dt.datetime | None = None) -> OutboxFigures:
    by_status = select(PortalOutbox.status, func.count()).group_by(PortalOutbox.status)
    counts: dict[str, int] = {row[0]: row[1] for row in session.execute(by_status)}
    oldest = session.scalar(
        select(func.min(PortalOutbox.created_at)).where(PortalOutbox.status == OutboxStatus.PENDING.value)
    )
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite's MIN() comes back as text, unzoned
            oldest = oldest.replace(tzinfo=dt.UTC)
        age = max(0.0, ((now or utcnow()) - oldest).total_seconds())
    return OutboxFigures(
        pending=int(counts.get(OutboxStatus.PENDING.value, 0)),
        delivered=int(counts.get(OutboxStatus.DELIVERED.value, 0)),
        dead=int(counts.get(OutboxStatus.DEAD.value, 0)),
        oldest_pending_age_seconds=age,
    )


def pending_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(PortalOutbox).where(PortalOutbox.status == OutboxStatus.PENDING.value)
        )
        or 0
    )


def next_due(session: Session) -> dt.datetime | None:
    """When the earliest pending row is next due (None when nothing is pending)."""
    when = session.scalar(
        select(func.min(PortalOutbox.next_attempt_at)).where(PortalOutbox.status == OutboxStatus.PENDING.value)
    )
    if isinstance(when, str):  # SQLite's MIN() of a datetime column
        when = dt.datetime.fromisoformat(when)
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when


def dead_letters(session: Session, limit: int = 1000, offset: int = 0) -> list[DeadLetter]:
    rows = session.execute(
        select(
            PortalOutbox.id, EpcisEvent.event_id, EpcisEvent.event_type, PortalOutbox.last_error, PortalOutbox.attempts
        )
        .join(EpcisEvent, EpcisEvent.id == PortalOutbox.event_pk)
        .where(PortalOutbox.status == OutboxStatus.DEAD.value)
        .order_by(PortalOutbox.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [DeadLetter(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def replay_dead(session: Session, ids: Sequence[int] | None) -> list[int]:
    """Put dead letters back to pending, due now (`ids`, or every one with None). Returns the ids replayed;
    an id that is not a dead letter is left as it is. Runs in the caller's unit of work."""
    query = select(PortalOutbox.id).where(PortalOutbox.status == OutboxStatus.DEAD.value)
    if ids is not None:
        if not ids:
            return []
        query = query.where(PortalOutbox.id.in_(list(ids)))
    replayed = list(session.scalars(query.order_by(PortalOutbox.id)))
    for start in range(0, len(replayed), 1000):
        chunk = replayed[start : start + 1000]
        session.execute(
            update(PortalOutbox)
            .where(PortalOutbox.id.in_(chunk))
            .values(status=OutboxStatus.PENDING.value, next_attempt_at=utcnow(), last_error=None)
        )
    session.flush()
    if replayed:
        log.info("portal_dead_letters_replayed count=%s", len(replayed))
    return replayed


@dataclass(slots=True)
class DrainResult:
    report: OutboxReport = field(default_factory=OutboxReport)
    figures: OutboxFigures | None = None
    timed_out: bool = False


def drain(
    db: Database,
    settings: Settings,
    *,
    timeout: float,
    adapter: PortalAdapter | None = None,
    on_batch: Callable[[OutboxReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainResult:
    """Deliver until nothing is pending (dead letters stay dead) or `timeout` seconds pass, waiting out backoffs.
    Raises ValueError without TEM_PORTAL_URL (and no adapter given)."""
    own = adapter is None
    portal = adapter or adapter_for(settings)
    result = DrainResult()
    deadline = time.monotonic() + timeout
    try:
        while True:
            result.report.add(
                deliver_due(
                    db, settings, adapter=portal, on_batch=on_batch, should_stop=lambda: time.monotonic() >= deadline
                )
            )
            with db.session() as session:
                due = next_due(session)
            if due is None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                result.timed_out = True
                break
            wait = (due - utcnow()).total_seconds()
            if wait > 0:
                sleep(min(wait, left, 5.0))
    finally:
        if own:
            portal.close()
    result.figures = status(db)
    if result.figures.pending:
        result.timed_out = True
    return result
