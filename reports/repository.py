"""Every SQL statement of the reports domain lives here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from reports.models import ConsumerReport

_HAS_PHOTO = ConsumerReport.photo.is_not(None).label("has_photo")


def add(session: Session, report: ConsumerReport) -> None:
    session.add(report)
    session.flush()


def reports(
    session: Session, alert_id: int | None, gtin: str | None, serial: str | None, limit: int, offset: int
) -> Sequence[tuple[ConsumerReport, bool]]:
    """Newest first, without their photos (whether each has one is read instead)."""
    stmt = select(ConsumerReport, _HAS_PHOTO)
    if alert_id is not None:
        stmt = stmt.where(ConsumerReport.alert_id == alert_id)
    if gtin is not None:
        stmt = stmt.where(ConsumerReport.gtin == gtin)
    if serial is not None:
        stmt = stmt.where(ConsumerReport.serial == serial)
    stmt = stmt.order_by(ConsumerReport.created_at.desc(), ConsumerReport.id.desc()).limit(limit).offset(offset)
    return [(row[0], bool(row[1])) for row in session.execute(stmt)]


def report(session: Session, report_id: int) -> tuple[ConsumerReport, bool] | None:
    row = session.execute(select(ConsumerReport, _HAS_PHOTO).where(ConsumerReport.id == report_id)).first()
    return (row[0], bool(row[1])) if row is not None else None


def photo(session: Session, report_id: int) -> bytes | None:
    return session.scalar(select(ConsumerReport.photo).where(ConsumerReport.id == report_id))
