"""Every SQL statement about alerts lives here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.models import Alert, AlertScope, AlertStatus, AlertTransition, DeliveryStatus, WebhookDelivery
from detection.engine.model import Severity
from identity.models import Organisation
from issuer.models import Lot

ACTIVE = (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    organisation_id: int | None = None  # None: every organisation (the ministry)
    province: str | None = None  # only the packing houses of this province (a province officer)
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    scope: str | None = None
    gtin: str | None = None
    serial: str | None = None
    lot_id: int | None = None
    parent_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    offset: int = 0


AlertRow = tuple[Alert, str | None, str | None]  # the alert, its packing house's code, its lot's code


def _with_names() -> Select[Alert, str, str]:
    return (
        select(Alert, Organisation.code, Lot.code)
        .outerjoin(Organisation, Organisation.id == Alert.organisation_id)
        .outerjoin(Lot, Lot.id == Alert.lot_id)
    )


def active_by_key(session: Session, key: str) -> Alert | None:
    """The open or acknowledged alert for this subject and type, locked until the transaction ends."""
    return session.scalars(select(Alert).where(Alert.open_key == key).with_for_update()).first()


def lock(session: Session, alert_id: int, province: str | None = None) -> Alert | None:
    """The alert, locked until the transaction ends; with `province`, only if its packing house is there."""
    stmt = select(Alert).where(Alert.id == alert_id)
    if province is not None:
        stmt = stmt.join(Organisation, Organisation.id == Alert.organisation_id).where(
            Organisation.province == province
        )
    return session.scalars(stmt.with_for_update(of=Alert)).first()


def alerts(session: Session, where: AlertFilter) -> list[AlertRow]:
    stmt = _with_names()
    if where.organisation_id is not None:
        stmt = stmt.where(Alert.organisation_id == where.organisation_id)
    if where.province is not None:  # the outer join on the packing house: an alert of none is left out
        stmt = stmt.where(Organisation.province == where.province)
    if where.statuses:
        stmt = stmt.where(Alert.status.in_(where.statuses))
    if where.types:
        stmt = stmt.where(Alert.type.in_(where.types))
    if where.severities:
        stmt = stmt.where(Alert.severity.in_(where.severities))
    if where.scope is not None:
        stmt = stmt.where(Alert.scope == where.scope)
    if where.gtin is not None:
        stmt = stmt.where(Alert.gtin == where.gtin)
    if where.serial is not None:
        stmt = stmt.where(Alert.serial == where.serial)
    if where.lot_id is not None:
        stmt = stmt.where(Alert.lot_id == where.lot_id)
    if where.parent_id is not None:
        stmt = stmt.where(Alert.parent_id == where.parent_id)
    if where.since is not None:
        stmt = stmt.where(Alert.last_seen_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(Alert.last_seen_at < where.until)
    stmt = stmt.order_by(Alert.last_seen_at.desc(), Alert.id.desc()).limit(where.limit).offset(where.offset)
    return [(row[0], row[1], row[2]) for row in session.execute(stmt)]


def alert(session: Session, alert_id: int, organisation_id: int | None, province: str | None = None) -> AlertRow | None:
    stmt = _with_names().where(Alert.id == alert_id)
    if organisation_id is not None:
        stmt = stmt.where(Alert.organisation_id == organisation_id)
    if province is not None:
        stmt = stmt.where(Organisation.province == province)
    row = session.execute(stmt).first()
    return (row[0], row[1], row[2]) if row else None


def transitions(session: Session, alert_id: int) -> Sequence[AlertTransition]:
    return session.scalars(
        select(AlertTransition).where(AlertTransition.alert_id == alert_id).order_by(AlertTransition.id)
    ).all()


def children(session: Session, parent_id: int, limit: int = 200) -> Sequence[Alert]:
    return session.scalars(select(Alert).where(Alert.parent_id == parent_id).order_by(Alert.id).limit(limit)).all()


def set_parent(session: Session, parent_id: int, child_ids: Sequence[int]) -> int:
    result = session.execute(update(Alert).where(Alert.id.in_(child_ids)).values(parent_id=parent_id))
    return int(getattr(result, "rowcount", 0) or 0)


def by_ids(session: Session, ids: Sequence[int]) -> Sequence[Alert]:
    return session.scalars(select(Alert).where(Alert.id.in_(ids))).all()


def active_for_stamp(
    session: Session, gtin: str, serial: str, lot_id: int | None, organisation_id: int | None, limit: int = 20
) -> list[AlertRow]:
    """Open or acknowledged alerts about this stamp, its lot and its packing house; most severe first."""
    about = [and_(Alert.scope == AlertScope.STAMP.value, Alert.gtin == gtin, Alert.serial == serial)]
    if lot_id is not None:
        about.append(and_(Alert.scope == AlertScope.LOT.value, Alert.lot_id == lot_id))
    if organisation_id is not None:
        about.append(and_(Alert.scope == AlertScope.PACKING_HOUSE.value, Alert.organisation_id == organisation_id))
    rows = session.execute(
        _with_names()
        .where(Alert.status.in_(ACTIVE), or_(*about))
        .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    found: list[AlertRow] = [(row[0], row[1], row[2]) for row in rows]
    return sorted(found, key=lambda row: -Severity.from_label(row[0].severity))


def organisation_id(session: Session, code: str) -> int | None:
    return session.scalars(select(Organisation.id).where(Organisation.code == code)).first()


def unlinked_beneath(session: Session, parent: Alert, limit: int = 500) -> list[int]:
    """The active alerts not yet linked beneath a lot alert (its stamp alerts) or a packing-house alert (its
    lot alerts)."""
    query = select(Alert.id).where(Alert.parent_id.is_(None), Alert.open_key.is_not(None), Alert.id != parent.id)
    if parent.scope == AlertScope.LOT and parent.lot_id is not None:
        query = query.where(Alert.scope == AlertScope.STAMP, Alert.lot_id == parent.lot_id)
    elif parent.scope == AlertScope.PACKING_HOUSE and parent.organisation_id is not None:
        query = query.where(Alert.scope == AlertScope.LOT, Alert.organisation_id == parent.organisation_id)
    else:
        return []
    return list(session.scalars(query.limit(limit)))


def pending_deliveries(session: Session) -> int:
    """Webhook deliveries not yet made (waiting or retrying), for /metrics: the outbox's depth."""
    count = session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.PENDING.value)
    )
    return int(count or 0)
