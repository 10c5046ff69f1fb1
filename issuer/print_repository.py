"""The SQL that printing needs beyond issuer/repository.py."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import Organisation
from issuer.models import Activation, Lot


def organisation_by_id(session: Session, organisation_id: int) -> Organisation | None:
    return session.get(Organisation, organisation_id)


def lots_overlapping(session: Session, gtin: str, first: int, last: int) -> list[tuple[int, int, str]]:
    """Activated ranges of these serials with their lot codes, in serial order."""
    rows = session.execute(
        select(Activation.first_serial, Activation.last_serial, Lot.code)
        .join(Lot, Lot.id == Activation.lot_id)
        .where(Activation.gtin == gtin, Activation.first_serial <= last, Activation.last_serial >= first)
        .order_by(Activation.first_serial)
    )
    return [(a, b, code) for a, b, code in rows]
