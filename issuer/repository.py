"""Every SQL statement the issuer runs lives here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session, defer

from identity.models import Organisation
from issuer.models import (
    Activation,
    AreaEvidence,
    DiaryEntry,
    FarmerHousehold,
    GrowingArea,
    Lot,
    LotDocument,
    LotGrowingArea,
    LotHousehold,
    Product,
    Revocation,
    RollOrder,
    SerialCounter,
    SerialRange,
    StageRecord,
)

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def scoped(stmt: S, column: InstrumentedAttribute[int], organisation_id: int | None) -> S:
    """Limit to one organisation's rows; None means every organisation (the ministry)."""
    if organisation_id is None:
        return stmt
    return stmt.where(column == organisation_id)


def organisation_by_code(session: Session, code: str) -> Organisation | None:
    return session.scalars(select(Organisation).where(Organisation.code == code.strip().upper())).first()


def organisation_codes(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Organisation.id, Organisation.code).where(Organisation.id.in_(ids)))
    return dict(rows.all())


def organisation_by_gln(session: Session, gln: str) -> Organisation | None:
    return session.scalars(select(Organisation).where(Organisation.gln == gln)).first()


def product_by_gtin(session: Session, gtin: str, organisation_id: int | None) -> Product | None:
    stmt = select(Product).where(Product.gtin == gtin)
    return session.scalars(scoped(stmt, Product.organisation_id, organisation_id)).first()


def products(session: Session, organisation_id: int | None) -> Sequence[Product]:
    stmt = select(Product).order_by(Product.id)
    return session.scalars(scoped(stmt, Product.organisation_id, organisation_id)).all()


def growing_areas(session: Session, organisation_id: int | None) -> Sequence[GrowingArea]:
    stmt = select(GrowingArea).order_by(GrowingArea.id)
    return session.scalars(scoped(stmt, GrowingArea.organisation_id, organisation_id)).all()


def growing_areas_by_code(session: Session, organisation_id: int, codes: Iterable[str]) -> dict[str, GrowingArea]:
    rows = session.scalars(
        select(GrowingArea).where(GrowingArea.organisation_id == organisation_id, GrowingArea.code.in_(list(codes)))
    )
    return {row.code: row for row in rows}


def households(
    session: Session, organisation_id: int | None, ids: Iterable[int] | None = None
) -> list[tuple[FarmerHousehold, str]]:
    stmt = (
        select(FarmerHousehold, GrowingArea.code)
        .join(GrowingArea, GrowingArea.id == FarmerHousehold.growing_area_id)
        .order_by(FarmerHousehold.id)
    )
    if ids is not None:
        stmt = stmt.where(FarmerHousehold.id.in_(list(ids)))
    rows = session.execute(scoped(stmt, FarmerHousehold.organisation_id, organisation_id))
    return [(household, code) for household, code in rows]


def lots(session: Session, organisation_id: int | None, code: str | None = None) -> list[tuple[Lot, str]]:
    stmt = select(Lot, Product.gtin).join(Product, Product.id == Lot.product_id).order_by(Lot.id)
    if code is not None:
        stmt = stmt.where(Lot.code == code)
    rows = session.execute(scoped(stmt, Lot.organisation_id, organisation_id))
    return [(lot, gtin) for lot, gtin in rows]


def lot_by_id(session: Session, lot_id: int, organisation_id: int | None) -> tuple[Lot, str] | None:
    stmt = select(Lot, Product.gtin).join(Product, Product.id == Lot.product_id).where(Lot.id == lot_id)
    row = session.execute(scoped(stmt, Lot.organisation_id, organisation_id)).first()
    return (row[0], row[1]) if row else None


def lot_growing_area_codes(session: Session, lot_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(LotGrowingArea.lot_id, GrowingArea.code)
        .join(GrowingArea, GrowingArea.id == LotGrowingArea.growing_area_id)
        .where(LotGrowingArea.lot_id.in_(lot_ids))
        .order_by(GrowingArea.code)
    )
    out: dict[int, list[str]] = {lot_id: [] for lot_id in lot_ids}
    for lot_id, code in rows:
        out[lot_id].append(code)
    return out


def lot_household_rows(session: Session, lot_ids: Sequence[int]) -> dict[int, list[tuple[FarmerHousehold, str]]]:
    rows = session.execute(
        select(LotHousehold.lot_id, FarmerHousehold, GrowingArea.code)
        .join(FarmerHousehold, FarmerHousehold.id == LotHousehold.household_id)
        .join(GrowingArea, GrowingArea.id == FarmerHousehold.growing_area_id)
        .where(LotHousehold.lot_id.in_(lot_ids))
        .order_by(FarmerHousehold.id)
    )
    out: dict[int, list[tuple[FarmerHousehold, str]]] = {lot_id: [] for lot_id in lot_ids}
    for lot_id, household, code in rows:
        out[lot_id].append((household, code))
    return out


def stages(session: Session, lot_ids: Sequence[int]) -> dict[int, list[StageRecord]]:
    rows = session.scalars(
        select(StageRecord).where(StageRecord.lot_id.in_(lot_ids)).order_by(StageRecord.occurred_at, StageRecord.id)
    )
    out: dict[int, list[StageRecord]] = {lot_id: [] for lot_id in lot_ids}
    for row in rows:
        out[row.lot_id].append(row)
    return out


def documents(session: Session, lot_ids: Sequence[int]) -> dict[int, list[LotDocument]]:
    rows = session.scalars(select(LotDocument).where(LotDocument.lot_id.in_(lot_ids)).order_by(LotDocument.id))
    out: dict[int, list[LotDocument]] = {lot_id: [] for lot_id in lot_ids}
    for row in rows:
        out[row.lot_id].append(row)
    return out


def orders(
    session: Session, organisation_id: int | None, order_id: int | None = None
) -> list[tuple[RollOrder, str, SerialRange | None]]:
    stmt = (
        select(RollOrder, Product.gtin, SerialRange)
        .join(Product, Product.id == RollOrder.product_id)
        .outerjoin(SerialRange, SerialRange.order_id == RollOrder.id)
        .order_by(RollOrder.id)
    )
    if order_id is not None:
        stmt = stmt.where(RollOrder.id == order_id)
    rows = session.execute(scoped(stmt, RollOrder.organisation_id, organisation_id))
    return [(order, gtin, serial_range) for order, gtin, serial_range in rows]


def lock_order(session: Session, order_id: int) -> RollOrder | None:
    return session.scalars(select(RollOrder).where(RollOrder.id == order_id).with_for_update()).first()


def lock_gtin(session: Session, gtin: str) -> None:
    """Serialise allocation and activation per GTIN: one counter row, locked until commit."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(SerialCounter).values(gtin=gtin, next_serial=1).on_conflict_do_nothing())
    session.execute(select(SerialCounter.gtin).where(SerialCounter.gtin == gtin).with_for_update())


def allocate(session: Session, gtin: str, quantity: int) -> tuple[int, int]:
    lock_gtin(session, gtin)
    next_free = session.execute(
        update(SerialCounter)
        .where(SerialCounter.gtin == gtin)
        .values(next_serial=SerialCounter.next_serial + quantity)
        .returning(SerialCounter.next_serial)
    ).scalar_one()
    return next_free - quantity, next_free - 1


def issued_overlapping(session: Session, gtin: str, first: int, last: int) -> Sequence[SerialRange]:
    return session.scalars(
        select(SerialRange)
        .where(SerialRange.gtin == gtin, SerialRange.first_serial <= last, SerialRange.last_serial >= first)
        .order_by(SerialRange.first_serial)
    ).all()


def activations_overlapping(session: Session, gtin: str, first: int, last: int) -> Sequence[Activation]:
    return session.scalars(
        select(Activation)
        .where(Activation.gtin == gtin, Activation.first_serial <= last, Activation.last_serial >= first)
        .order_by(Activation.first_serial)
    ).all()


def revocations_overlapping(session: Session, gtin: str, first: int, last: int) -> Sequence[Revocation]:
    return session.scalars(
        select(Revocation)
        .where(Revocation.gtin == gtin, Revocation.first_serial <= last, Revocation.last_serial >= first)
        .order_by(Revocation.first_serial)
    ).all()


def activations(session: Session, organisation_id: int | None) -> list[tuple[Activation, str]]:
    stmt = select(Activation, Lot.code).join(Lot, Lot.id == Activation.lot_id).order_by(Activation.id)
    rows = session.execute(scoped(stmt, Activation.organisation_id, organisation_id))
    return [(activation, code) for activation, code in rows]


def activations_of_lot(session: Session, lot_id: int) -> Sequence[Activation]:
    return session.scalars(
        select(Activation).where(Activation.lot_id == lot_id).order_by(Activation.first_serial)
    ).all()


def revocations(session: Session, organisation_id: int | None) -> list[tuple[Revocation, str | None]]:
    stmt = select(Revocation, Lot.code).outerjoin(Lot, Lot.id == Revocation.lot_id).order_by(Revocation.id)
    rows = session.execute(scoped(stmt, Revocation.organisation_id, organisation_id))
    return [(revocation, code) for revocation, code in rows]


def count_rows(session: Session, model: type[object]) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# The farming diary and an area's evidence files


def diary_entries(session: Session, area_id: int) -> Sequence[DiaryEntry]:
    query = select(DiaryEntry).where(DiaryEntry.growing_area_id == area_id)
    return session.scalars(query.order_by(DiaryEntry.date, DiaryEntry.id)).all()


def diary_entry(session: Session, entry_id: int) -> DiaryEntry | None:
    return session.get(DiaryEntry, entry_id)


def diary_entries_of_areas(session: Session, area_ids: Iterable[int]) -> dict[int, list[DiaryEntry]]:
    ids = list(area_ids)
    found: dict[int, list[DiaryEntry]] = {i: [] for i in ids}
    if not ids:
        return found
    query = select(DiaryEntry).where(DiaryEntry.growing_area_id.in_(ids)).order_by(DiaryEntry.date, DiaryEntry.id)
    for entry in session.scalars(query):
        found[entry.growing_area_id].append(entry)
    return found


def area_evidence(session: Session, area_id: int) -> Sequence[AreaEvidence]:
    query = select(AreaEvidence).options(defer(AreaEvidence.data)).where(AreaEvidence.growing_area_id == area_id)
    return session.scalars(query.order_by(AreaEvidence.id)).all()
