"""Every SQL statement of the chain: who holds which lot, what a stamp or a lot class is, and event queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import CompoundSelect, Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from detection.engine.model import Role
from epcis.identifiers import GS1_HOST, parse
from epcis.models import EpcisEvent, EventObject, LotCustody, ObjectField
from identity.models import Organisation
from identity.principal import Principal
from issuer.models import Activation, Lot, Product


def held_lot_ids(session: Session, actor: Principal) -> set[int]:
    """The lots whose events the caller may record: its own packing house's, and those shipped to it."""
    own = set(session.scalars(select(Lot.id).where(Lot.organisation_id == actor.organisation_id)))
    shipped = set(session.scalars(select(LotCustody.lot_id).where(LotCustody.organisation_id == actor.organisation_id)))
    return own | shipped


def readable_lots(actor: Principal) -> Select[int] | CompoundSelect[int] | None:
    """The lots whose events the caller may read, as a subquery; None for every lot (the ministry, inspectors)."""
    if actor.role in (Role.MINISTRY, Role.INSPECTOR):
        return None
    if actor.role is Role.PROVINCE:
        return (
            select(Lot.id)
            .join(Organisation, Organisation.id == Lot.organisation_id)
            .where(Organisation.province == actor.province)
        )
    own = select(Lot.id).where(Lot.organisation_id == actor.organisation_id)
    shipped = select(LotCustody.lot_id).where(LotCustody.organisation_id == actor.organisation_id)
    return own.union(shipped)


def activated_pieces(session: Session, gtin: str, first: int, last: int) -> list[tuple[int, str]]:
    """The lots (id, code) whose activations cover serials first..last of a GTIN, in serial order."""
    rows = session.execute(
        select(Activation.lot_id, Lot.code)
        .join(Lot, Lot.id == Activation.lot_id)
        .where(Activation.gtin == gtin, Activation.first_serial <= last, Activation.last_serial >= first)
        .order_by(Activation.first_serial)
    )
    return [(lot_id, code) for lot_id, code in rows]


def lot_by_class(session: Session, gtin: str, code: str) -> int | None:
    return session.scalar(
        select(Lot.id).join(Product, Product.id == Lot.product_id).where(Product.gtin == gtin, Lot.code == code)
    )


def lot_code(session: Session, lot_id: int) -> str:
    return session.scalar(select(Lot.code).where(Lot.id == lot_id)) or str(lot_id)


def first_harvest(session: Session, lot_id: int) -> dt.date | None:
    lot = session.get(Lot, lot_id)
    dates = sorted(dt.date.fromisoformat(d) for d in (lot.harvest_dates if lot else []) if d)
    return dates[0] if dates else None


def organisation_by_party(session: Session, party: str) -> int | None:
    """An organisation named as a source or destination: by its GLN, or by Tem's `urn:tem:org:{code}`."""
    if party.startswith("urn:tem:org:"):
        code = party.removeprefix("urn:tem:org:").strip().upper()
        return session.scalar(select(Organisation.id).where(Organisation.code == code))
    if party.startswith("urn:epc:id:pgln:") or party.startswith("urn:epc:id:sgln:"):
        return None  # EPC URN forms: Tem's organisations give their GLN as Digital Link
    try:
        ident = parse(party)
    except ValueError:
        return None
    if ident.uri.startswith(f"{GS1_HOST}/414/"):
        gln = ident.uri.rsplit("/", 1)[1]
        return session.scalar(select(Organisation.id).where(Organisation.gln == gln))
    return None


@dataclass(frozen=True, slots=True)
class EventQuery:
    event_types: Sequence[str] = ()
    ge_time: dt.datetime | None = None
    lt_time: dt.datetime | None = None
    biz_steps: Sequence[str] = ()
    biz_locations: Sequence[str] = ()
    match_epc: Sequence[str] = ()
    match_any_epc: Sequence[str] = ()
    match_epc_class: Sequence[str] = ()
    match_any_epc_class: Sequence[str] = ()
    lot_id: int | None = None


EPC_FIELDS = (ObjectField.EPC.value, ObjectField.CHILD.value)
ANY_EPC_FIELDS = (*EPC_FIELDS, ObjectField.PARENT.value, ObjectField.INPUT.value, ObjectField.OUTPUT.value)
CLASS_FIELDS = (ObjectField.CLASS.value,)
ANY_CLASS_FIELDS = (*CLASS_FIELDS, ObjectField.INPUT_CLASS.value, ObjectField.OUTPUT_CLASS.value)


def _names(uris: Sequence[str], fields: Sequence[str], classes: bool) -> object:
    """Events naming any of these URIs in these fields: a stamp by its GTIN and serial (so a range counts),
    a lot class by GTIN and lot, anything else by its normalised URI."""
    alternatives = []
    for uri in uris:
        ident = parse(uri)
        if not classes and ident.serial is not None:
            test = and_(
                EventObject.gtin == ident.gtin,
                EventObject.serial_first <= ident.serial,
                EventObject.serial_last >= ident.serial,
            )
        elif classes and ident.gtin is not None:
            test = and_(
                EventObject.gtin == ident.gtin,
                EventObject.lot == ident.lot if ident.lot is not None else EventObject.lot.is_(None),
                EventObject.serial_first.is_(None),
            )
        else:
            test = EventObject.uri == ident.uri
        alternatives.append(test)
    return exists().where(EventObject.event_pk == EpcisEvent.id, EventObject.field.in_(fields), or_(*alternatives))


def events(session: Session, actor: Principal | None, query: EventQuery, after_id: int, limit: int) -> list[EpcisEvent]:
    """Events matching the query that the caller may read (None: the public, for `lot_id` only), oldest
    recorded first, after a page position."""
    stmt = select(EpcisEvent).where(EpcisEvent.id > after_id).order_by(EpcisEvent.id).limit(limit)
    if query.event_types:
        stmt = stmt.where(EpcisEvent.event_type.in_(query.event_types))
    if query.ge_time is not None:
        stmt = stmt.where(EpcisEvent.event_time >= query.ge_time)
    if query.lt_time is not None:
        stmt = stmt.where(EpcisEvent.event_time < query.lt_time)
    if query.biz_steps:
        stmt = stmt.where(EpcisEvent.biz_step.in_(query.biz_steps))
    if query.biz_locations:
        stmt = stmt.where(EpcisEvent.biz_location.in_(query.biz_locations))
    for uris, fields, classes in (
        (query.match_epc, EPC_FIELDS, False),
        (query.match_any_epc, ANY_EPC_FIELDS, False),
        (query.match_epc_class, CLASS_FIELDS, True),
        (query.match_any_epc_class, ANY_CLASS_FIELDS, True),
    ):
        if uris:
            stmt = stmt.where(_names(uris, fields, classes))  # type: ignore[arg-type]
    if query.lot_id is not None:
        stmt = stmt.where(exists().where(EventObject.event_pk == EpcisEvent.id, EventObject.lot_id == query.lot_id))
    if actor is not None:
        lots = readable_lots(actor)
        if lots is not None:
            stmt = stmt.where(
                or_(
                    EpcisEvent.organisation_id == actor.organisation_id,
                    exists().where(EventObject.event_pk == EpcisEvent.id, EventObject.lot_id.in_(lots)),
                )
            )
    return list(session.scalars(stmt))


def recorder_names(session: Session, org_ids: set[int]) -> dict[int, tuple[str, str]]:
    if not org_ids:
        return {}
    rows = session.execute(
        select(Organisation.id, Organisation.name, Organisation.kind).where(Organisation.id.in_(org_ids))
    )
    return {org_id: (name, kind) for org_id, name, kind in rows}
