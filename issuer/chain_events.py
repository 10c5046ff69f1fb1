"""The registry's own records as EPCIS events (`epcis.own_events`), stored and queued for the national portal in
the same unit of work as the record itself."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from epcis import store
from epcis.models import EpcisEvent, EventOrigin, LotCustody, ObjectField
from epcis.own_events import LotRef, commissioning_event, decommissioning_event, stage_event
from epcis.store import NamedObject
from identity.models import Organisation
from issuer.models import Activation, GrowingArea, Lot, LotGrowingArea, Product, Revocation, StageRecord


def _org(session: Session, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    assert org is not None  # foreign keys guarantee it
    return org


def _harvest_point(session: Session, lot_id: int) -> tuple[float, float] | None:
    row = session.execute(
        select(GrowingArea.latitude, GrowingArea.longitude)
        .join(LotGrowingArea, LotGrowingArea.growing_area_id == GrowingArea.id)
        .where(LotGrowingArea.lot_id == lot_id, GrowingArea.latitude.is_not(None), GrowingArea.longitude.is_not(None))
        .order_by(GrowingArea.id)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row and row[0] is not None and row[1] is not None else None


def _areas(session: Session, lot_id: int) -> list[dict[str, str]]:
    """The lot's growing areas and their status in the register, for a harvest's master data."""
    rows = session.execute(
        select(GrowingArea.code, GrowingArea.status)
        .join(LotGrowingArea, LotGrowingArea.growing_area_id == GrowingArea.id)
        .where(LotGrowingArea.lot_id == lot_id)
        .order_by(GrowingArea.code)
    )
    return [{"code": code, "status": status} for code, status in rows]


def grant_custody(session: Session, lot_id: int, organisation_id: int, event_pk: int | None) -> None:
    """The lot was shipped to this organisation: it may record and read the lot's events from now on."""
    if session.get(LotCustody, (lot_id, organisation_id)) is None:
        session.add(LotCustody(lot_id=lot_id, organisation_id=organisation_id, granted_by_event=event_pk))
        session.flush()


def record_stage(session: Session, lot: Lot, gtin: str, record: StageRecord) -> None:
    org = _org(session, lot.organisation_id)
    consignee = _org(session, record.consignee_organisation_id) if record.consignee_organisation_id else None
    point: tuple[float, float] | None = None
    if record.latitude is not None and record.longitude is not None:
        point = (record.latitude, record.longitude)
    elif record.stage == "harvest":
        point = _harvest_point(session, lot.id)
    event, objects = stage_event(
        LotRef(lot.id, gtin, lot.code),
        record.stage,
        record.occurred_at,
        place=record.place,
        country=record.country,
        point=point,
        org_code=org.code,
        org_gln=org.gln,
        consignee=(consignee.code, consignee.gln) if consignee else None,
        harvest_dates=lot.harvest_dates,
        growing_areas=_areas(session, lot.id) if record.stage == "harvest" else None,
    )
    row = store.record(session, event, origin=EventOrigin.STAGE, organisation_id=org.id, objects=objects)
    if consignee is not None:
        grant_custody(session, lot.id, consignee.id, row.id)


def record_activation(session: Session, activation: Activation, lot: Lot) -> None:
    org = _org(session, activation.organisation_id)
    event, objects = commissioning_event(
        LotRef(lot.id, activation.gtin, lot.code),
        activation.first_serial,
        activation.last_serial,
        activation.created_at,
        org.gln,
    )
    store.record(session, event, origin=EventOrigin.ACTIVATION, organisation_id=org.id, objects=objects)


def record_revocation(session: Session, revocation: Revocation, lot: Lot | None, lot_gtin: str | None) -> None:
    org = _org(session, revocation.organisation_id)
    ref = LotRef(lot.id, lot_gtin or revocation.gtin, lot.code) if lot is not None else None
    event, objects = decommissioning_event(
        revocation.gtin,
        revocation.first_serial,
        revocation.last_serial,
        revocation.created_at,
        revocation.category,
        ref,
        org.gln,
    )
    if lot is None:  # a range: the lots it was activated on still learn of it
        pieces = session.execute(
            select(Activation.lot_id, Activation.first_serial, Activation.last_serial).where(
                Activation.gtin == revocation.gtin,
                Activation.first_serial <= revocation.last_serial,
                Activation.last_serial >= revocation.first_serial,
            )
        )
        objects = [
            NamedObject(
                ObjectField.EPC,
                gtin=revocation.gtin,
                serial_first=max(first, revocation.first_serial),
                serial_last=min(last, revocation.last_serial),
                lot_id=lot_id,
            )
            for lot_id, first, last in pieces
        ] or objects
    store.record(session, event, origin=EventOrigin.REVOCATION, organisation_id=org.id, objects=objects)


def _records(session: Session) -> int:
    tables = (StageRecord, Activation, Revocation)
    return sum(session.scalar(select(func.count()).select_from(table)) or 0 for table in tables)


def _own_events(session: Session) -> int:
    own = (EventOrigin.STAGE.value, EventOrigin.ACTIVATION.value, EventOrigin.REVOCATION.value)
    return session.scalar(select(func.count()).select_from(EpcisEvent).where(EpcisEvent.origin.in_(own))) or 0


def backfill(session: Session) -> int:
    """Record the events of stages, activations and revocations made before Tem kept events (before migration
    0012), and queue them for the national portal. Idempotent: an event is stored once, by its hash id. Cheap
    when there is nothing to do (two counts). Returns how many events it recorded."""
    before = _own_events(session)
    if before >= _records(session):
        return 0
    lots = {lot.id: (lot, gtin) for lot, gtin in session.execute(select(Lot, Product.gtin).join(Product))}
    for record in session.scalars(select(StageRecord).order_by(StageRecord.id)):
        lot, gtin = lots[record.lot_id]
        record_stage(session, lot, gtin, record)
    for activation in session.scalars(select(Activation).order_by(Activation.id)):
        record_activation(session, activation, lots[activation.lot_id][0])
    for revocation in session.scalars(select(Revocation).order_by(Revocation.id)):
        found = lots.get(revocation.lot_id) if revocation.lot_id is not None else None
        record_revocation(session, revocation, found[0] if found else None, found[1] if found else None)
    return _own_events(session) - before
