"""The append-only audit log of issuance, activation, revocation and key events, kept as a hash chain.

Each row carries `seq` (1, 2, 3… with no gap), `prev_hash` (the previous row's `hash`; 64 zeros for the first) and
`hash`: the SHA-256, in hex, of the row's canonical encoding (`canonical`): JSON with sorted keys and no spaces,
ASCII only, of `seq`, `at` (UTC, to the microsecond, `2026-12-08T00:24:30.123456Z`), `actor`, `action`, `subject`,
`details`, `organisation` (its id, or null) and `prev_hash`. Editing, reordering or removing a row breaks the chain
at that row (`verify`). The head (last `seq` and `hash`) is kept in `audit_head`, whose row each append locks, so
concurrent writers make one line, never a fork; `resolver.wellknown` publishes it signed.

Services flush, never commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.principal import Principal
from issuer.models import AuditEvent, AuditHead
from tem.core.time import utcnow

GENESIS = "0" * 64
HEAD_ID = 1


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    details: Any,
    organisation_id: int | None,
    prev_hash: str,
) -> bytes:
    """The bytes a row's hash covers (see the module's docstring)."""
    document = {
        "seq": seq,
        "at": _when(at),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "organisation": organisation_id,
        "prev_hash": prev_hash,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def row_hash(row: AuditEvent) -> str:
    data = canonical(
        row.seq, row.at, row.actor, row.action, row.subject, row.details, row.organisation_id, row.prev_hash
    )
    return hashlib.sha256(data).hexdigest()


def _head(session: Session) -> AuditHead:
    """The head row, locked until the unit of work ends (SQLite's writers hold the database lock already)."""
    head = session.scalars(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()).first()
    if head is None:
        head = AuditHead(id=HEAD_ID, seq=0, hash=GENESIS, at=None)
        session.add(head)
        session.flush()
    return head


def record(
    session: Session,
    actor: Principal,
    action: str,
    subject: str,
    details: dict[str, Any],
    organisation_id: int | None = None,
) -> None:
    head = _head(session)
    # What is hashed is what the JSON column gives back: a plain JSON document.
    plain = json.loads(json.dumps(details, default=str))
    at = utcnow()
    if head.at is not None and at < head.at:
        at = head.at  # the clock stepped back: keep times in chain order
    row = AuditEvent(
        at=at,
        actor=actor.actor,
        organisation_id=organisation_id if organisation_id is not None else actor.organisation_id,
        action=action,
        subject=subject,
        details=plain,
        seq=head.seq + 1,
        prev_hash=head.hash,
    )
    row.hash = row_hash(row)
    session.add(row)
    head.seq, head.hash, head.at = row.seq, row.hash, at
    session.flush()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    count: int
    head: str
    #: The first bad row (its `seq`, or the `seq` expected where one is missing) and what is wrong with it.
    bad_seq: int | None = None
    bad_id: int | None = None
    problem: str | None = None


def _rows_by_seq(session: Session, batch: int) -> Iterator[AuditEvent]:
    """Every row in `seq` order, a page at a time, so a long chain is walked in bounded memory."""
    after: int | None = None
    while True:
        statement = select(AuditEvent).order_by(AuditEvent.seq).limit(batch)
        if after is not None:
            statement = statement.where(AuditEvent.seq > after)
        page = list(session.scalars(statement))
        yield from page
        if len(page) < batch:
            return
        after = page[-1].seq
        session.expunge_all()  # bounded memory over a long chain


def verify(session: Session, batch: int = 5000) -> Verdict:
    """Walks the chain in `seq` order: every hash must match its row, link to the previous one, with no gap, and the
    last one must be the recorded head."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    last_id = 0
    for row in _rows_by_seq(session, batch):
        if row.seq != expected_seq:
            what = "is missing" if row.seq > expected_seq else "is out of order"
            return Verdict(False, count, expected_prev, expected_seq, row.id, f"row seq {expected_seq} {what}")
        if row.prev_hash != expected_prev:
            return Verdict(False, count, expected_prev, row.seq, row.id, "prev_hash does not match the row before")
        if row_hash(row) != row.hash:
            return Verdict(False, count, expected_prev, row.seq, row.id, "the row was edited: its hash does not match")
        if row.id <= last_id:
            return Verdict(False, count, expected_prev, row.seq, row.id, "the rows were reordered")
        last_id = row.id
        expected_prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    head = session.get(AuditHead, HEAD_ID)
    if head is not None and (head.seq, head.hash) != (count, expected_prev):
        if head.seq > count:
            problem = f"rows after seq {count} are missing (the head is at seq {head.seq})"
            return Verdict(False, count, expected_prev, count + 1, None, problem)
        return Verdict(False, count, expected_prev, head.seq, None, "the head does not match the last row")
    return Verdict(True, count, expected_prev)


def head(session: Session) -> tuple[int, str, dt.datetime | None]:
    """The chain's last `seq` and `hash`, and when that row was written (0, 64 zeros and None when empty)."""
    row = session.get(AuditHead, HEAD_ID)
    if row is None:
        return 0, GENESIS, None
    return row.seq, row.hash, row.at
