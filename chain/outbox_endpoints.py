"""The ministry's view of the national portal's outbox: how many events wait, went or were refused, the dead
letters with the portal's reason, and a replay of one (docs/national-portal.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from epcis import outbox
from epcis.models import OutboxStatus, PortalOutbox
from identity.dependencies import DbSession, Ministry
from tem.core.bounds import DbId
from tem.core.errors import Conflict, NotFound

router = APIRouter(prefix="/api/v1/portal-outbox", tags=["national portal"])

OutboxId = DbId


class DeadLetterRead(BaseModel):
    id: int
    event_id: str
    event_type: str
    reason: str | None
    attempts: int


class OutboxRead(BaseModel):
    pending: int
    delivered: int
    dead: int
    oldest_pending_age_seconds: float
    dead_letters: list[DeadLetterRead]


class ReplayRead(BaseModel):
    id: int
    status: str


@router.get("", response_model=OutboxRead, summary="Counts, and the dead letters with the portal's reason")
def read_outbox(
    session: DbSession,
    actor: Ministry,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> object:
    figures = outbox.figures(session)
    letters = outbox.dead_letters(session, limit=limit, offset=offset)
    return OutboxRead(
        pending=figures.pending,
        delivered=figures.delivered,
        dead=figures.dead,
        oldest_pending_age_seconds=round(figures.oldest_pending_age_seconds, 3),
        dead_letters=[
            DeadLetterRead(
                id=item.id,
                event_id=item.event_id,
                event_type=item.event_type,
                reason=item.reason,
                attempts=item.attempts,
            )
            for item in letters
        ],
    )


@router.post("/{outbox_id}/replay", response_model=ReplayRead, summary="Send a dead letter to the portal again")
def replay(session: DbSession, actor: Ministry, outbox_id: OutboxId) -> object:
    row = session.get(PortalOutbox, outbox_id)
    if row is None:
        raise NotFound("no such outbox item")
    if row.status != OutboxStatus.DEAD.value:
        raise Conflict(f"outbox item {outbox_id} is {row.status}, not a dead letter")
    outbox.replay_dead(session, [outbox_id])
    return ReplayRead(id=outbox_id, status=OutboxStatus.PENDING.value)
