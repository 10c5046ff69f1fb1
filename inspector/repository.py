"""Every SQL statement of the inspector API lives here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import Organisation
from inspector.models import Inspection
from issuer.models import Lot, Product
from resolver.models import ScanRecord

# Inspections


def inspection_by_key(session: Session, organisation_id: int, client_id: str) -> Inspection | None:
    return session.scalars(
        select(Inspection).where(Inspection.organisation_id == organisation_id, Inspection.client_id == client_id)
    ).first()


def inspections(
    session: Session,
    inspector_token_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    result: str | None,
    gtin: str | None,
    limit: int,
    offset: int,
) -> Sequence[Inspection]:
    stmt = select(Inspection)
    if inspector_token_id is not None:
        stmt = stmt.where(Inspection.inspector_token_id == inspector_token_id)
    if since is not None:
        stmt = stmt.where(Inspection.inspected_at >= since)
    if until is not None:
        stmt = stmt.where(Inspection.inspected_at < until)
    if result is not None:
        stmt = stmt.where(Inspection.result == result)
    if gtin is not None:
        stmt = stmt.where(Inspection.gtin == gtin)
    stmt = stmt.order_by(Inspection.inspected_at.desc(), Inspection.id.desc()).limit(limit).offset(offset)
    return session.scalars(stmt).all()


# What a verified stamp is about


def product_and_owner(session: Session, gtin: str) -> tuple[Product, Organisation] | None:
    row = session.execute(
        select(Product, Organisation)
        .join(Organisation, Organisation.id == Product.organisation_id)
        .where(Product.gtin == gtin)
    ).first()
    return (row[0], row[1]) if row else None


def organisation_by_code(session: Session, code: str) -> Organisation | None:
    return session.scalars(select(Organisation).where(Organisation.code == code)).first()


def lot(session: Session, lot_id: int) -> Lot | None:
    return session.get(Lot, lot_id)


def recent_scans(session: Session, gtin: str, serial: int, limit: int = 10) -> list[dict[str, Any]]:
    """The stamp's latest scans from the durable log (it trails the live state by the worker's delay)."""
    rows = session.execute(
        select(
            ScanRecord.id,
            ScanRecord.at,
            ScanRecord.role,
            ScanRecord.verdict,
            ScanRecord.country,
            ScanRecord.city,
            ScanRecord.latitude,
            ScanRecord.longitude,
            ScanRecord.accuracy_km,
        )
        .where(ScanRecord.gtin == gtin, ScanRecord.serial == serial)
        .order_by(ScanRecord.at.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]
