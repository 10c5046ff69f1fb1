"""What the trace page shows about a lot, read with plain SQL and cached until the registry changes."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, exists, func, select

from epcis.models import EpcisEvent, EventObject, EventOrigin
from epcis.store import document
from identity.models import Organisation
from issuer import activation_gates
from issuer.activation_gates import DiarySummary
from issuer.models import (
    DiaryEntry,
    FarmerHousehold,
    GrowingArea,
    Lot,
    LotDocument,
    LotFile,
    LotGrowingArea,
    LotHousehold,
    Product,
    StageRecord,
)
from tem.core.db import Database
from tem.core.time import utcnow


@dataclass(frozen=True, slots=True)
class Area:
    code: str
    province: str
    hectares: float | None
    latitude: float | None
    longitude: float | None
    status: str = "active"  # the register's status today: active, suspended or revoked


@dataclass(frozen=True, slots=True)
class StageView:
    """One stage of the chain: the packing house's (`stage` is a `issuer.models.Stage`), or an event another
    actor captured (`stage` is `step_` and its CBV business step). `recorded_by` names who recorded it."""

    stage: str
    occurred_at: dt.datetime
    place: str | None
    country: str | None
    recorded_by: str


MAX_CAPTURED_STAGES = 200  # a trace page lists the first ones; the EPCIS query has them all
MAX_PUBLIC_EVENTS = 2000
#: Captured events do not change the registry's version, so a cached lot is read again after this long.
LOT_TTL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class DocumentView:
    kind: str
    number: str
    issued_on: dt.date | None
    issuer: str | None
    summary: str | None


@dataclass(frozen=True, slots=True)
class FileView:
    """A document file the packing house uploaded: what kind, when, and the start of its SHA-256. Never the
    file or its name: the file is served only to its packing house and the ministry."""

    kind: str
    uploaded_at: dt.datetime
    sha256_prefix: str


@dataclass(frozen=True, slots=True)
class LotView:
    lot_id: int
    code: str
    gtin: str
    product: dict[str, str]
    variety: str | None
    harvest_dates: tuple[str, ...]
    packing_date: dt.date | None
    destinations: tuple[str, ...]
    packing_house_name: str
    packing_house_code: str
    packing_house_province: str
    areas: tuple[Area, ...]
    household_names: tuple[str, ...]
    show_household_names: bool
    stages: tuple[StageView, ...]
    documents: tuple[DocumentView, ...]
    files: tuple[FileView, ...] = ()
    diaries: tuple[DiarySummary, ...] = ()  # each growing area's farming diary for this lot's season


@dataclass(frozen=True, slots=True)
class ProductView:
    """What the product page shows about a GTIN: the product and the packing house that registered it."""

    gtin: str
    name: dict[str, str]
    variety: str | None
    packing_house_name: str
    packing_house_code: str
    packing_house_province: str


def load_product(db: Database, gtin: str) -> ProductView | None:
    with db.engine.connect() as conn:
        row = conn.execute(
            select(
                Product.name_vi,
                Product.name_en,
                Product.name_zh,
                Product.variety,
                Organisation.name,
                Organisation.code,
                Organisation.province,
            )
            .join(Organisation, Organisation.id == Product.organisation_id)
            .where(Product.gtin == gtin)
        ).first()
    if row is None:
        return None
    name_vi, name_en, name_zh, variety, org_name, org_code, province = row
    return ProductView(gtin, {"vi": name_vi, "en": name_en, "zh": name_zh}, variety, org_name, org_code, province)


def _diaries(
    conn: Connection, lot_id: int, harvest_dates: list[str], pesticide_file: Path | None
) -> list[DiarySummary]:
    """Each of the lot's areas that keeps a diary: its season's sprays and whether their intervals were kept."""
    rows = conn.execute(
        select(
            GrowingArea.code,
            DiaryEntry.id,
            DiaryEntry.date,
            DiaryEntry.kind,
            DiaryEntry.active_ingredients,
            DiaryEntry.phi_days,
            DiaryEntry.corrects,
        )
        .join(GrowingArea, GrowingArea.id == DiaryEntry.growing_area_id)
        .join(LotGrowingArea, LotGrowingArea.growing_area_id == DiaryEntry.growing_area_id)
        .where(LotGrowingArea.lot_id == lot_id)
        .order_by(GrowingArea.code, DiaryEntry.date, DiaryEntry.id)
    ).all()
    by_area: dict[str, list[DiaryEntry]] = {}
    for area, id_, date, kind, ingredients, phi_days, corrects in rows:
        entry = DiaryEntry(
            id=id_, date=date, kind=kind, active_ingredients=ingredients, phi_days=phi_days, corrects=corrects
        )
        by_area.setdefault(area, []).append(entry)
    days = [dt.date.fromisoformat(d) for d in harvest_dates]
    harvest = min(days) if days else None
    pesticides = activation_gates.load(pesticide_file)
    return [activation_gates.summarise(area, entries, harvest, pesticides) for area, entries in by_area.items()]


def load_lot(db: Database, gtin: str, code: str, pesticide_file: Path | None = None) -> LotView | None:
    with db.engine.connect() as conn:
        row = conn.execute(
            select(
                Lot.id,
                Lot.code,
                Lot.harvest_dates,
                Lot.packing_date,
                Lot.destination_markets,
                Lot.show_household_names,
                Product.name_vi,
                Product.name_en,
                Product.name_zh,
                Product.variety,
                Organisation.name.label("org_name"),
                Organisation.code.label("org_code"),
                Organisation.province.label("org_province"),
            )
            .join(Product, Product.id == Lot.product_id)
            .join(Organisation, Organisation.id == Lot.organisation_id)
            .where(Product.gtin == gtin, Lot.code == code)
        ).first()
        if row is None:
            return None
        lot_id = row.id
        areas = conn.execute(
            select(
                GrowingArea.code,
                GrowingArea.province,
                GrowingArea.area_hectares,
                GrowingArea.latitude,
                GrowingArea.longitude,
                GrowingArea.status,
            )
            .join(LotGrowingArea, LotGrowingArea.growing_area_id == GrowingArea.id)
            .where(LotGrowingArea.lot_id == lot_id)
            .order_by(GrowingArea.code)
        ).all()
        households = (
            conn.execute(
                select(FarmerHousehold.name)
                .join(LotHousehold, LotHousehold.household_id == FarmerHousehold.id)
                .where(LotHousehold.lot_id == lot_id)
                .order_by(FarmerHousehold.id)
            )
            .scalars()
            .all()
        )
        stages = [
            StageView(stage, when, place, country, row.org_name)
            for stage, when, place, country in conn.execute(
                select(StageRecord.stage, StageRecord.occurred_at, StageRecord.place, StageRecord.country)
                .where(StageRecord.lot_id == lot_id)
                .order_by(StageRecord.occurred_at, StageRecord.id)
            )
        ]
        captured = conn.execute(
            select(EpcisEvent.biz_step, EpcisEvent.event_time, Organisation.name)
            .join(Organisation, Organisation.id == EpcisEvent.organisation_id)
            .where(
                EpcisEvent.origin == EventOrigin.CAPTURE.value,
                exists().where(EventObject.event_pk == EpcisEvent.id, EventObject.lot_id == lot_id),
            )
            .order_by(EpcisEvent.event_time, EpcisEvent.id)
            .limit(MAX_CAPTURED_STAGES)
        ).all()
        stages += [StageView(f"step_{step or 'other'}", when, None, None, name) for step, when, name in captured]
        stages.sort(key=lambda stage: stage.occurred_at)
        documents = conn.execute(
            select(
                LotDocument.kind,
                LotDocument.number,
                LotDocument.issued_on,
                LotDocument.issuer,
                LotDocument.summary,
            )
            .where(LotDocument.lot_id == lot_id)
            .order_by(LotDocument.id)
        ).all()
        files = conn.execute(
            select(LotFile.kind, LotFile.created_at, func.substr(LotFile.sha256, 1, 12))
            .where(LotFile.lot_id == lot_id)
            .order_by(LotFile.id)
        ).all()
        diaries = _diaries(conn, lot_id, list(row.harvest_dates), pesticide_file)
    return LotView(
        lot_id=lot_id,
        code=row.code,
        gtin=gtin,
        product={"vi": row.name_vi, "en": row.name_en, "zh": row.name_zh},
        variety=row.variety,
        harvest_dates=tuple(row.harvest_dates),
        packing_date=row.packing_date,
        destinations=tuple(row.destination_markets),
        packing_house_name=row.org_name,
        packing_house_code=row.org_code,
        packing_house_province=row.org_province,
        areas=tuple(Area(*a) for a in areas),
        household_names=tuple(households),
        show_household_names=row.show_household_names,
        stages=tuple(stages),
        documents=tuple(DocumentView(*d) for d in documents),
        files=tuple(FileView(*f) for f in files),
        diaries=tuple(diaries),
    )


class LotCache:
    """Lots and products as the pages show them, until the registry changes (its version)."""

    def __init__(self, db: Database, pesticide_file: Path | None = None) -> None:
        self._db = db
        self._pesticide_file = pesticide_file
        self._version = -1
        self._lots: dict[tuple[str, str], tuple[float, LotView | None]] = {}
        self._products: dict[str, ProductView | None] = {}

    def _current(self, version: int) -> None:
        if version != self._version:
            self._lots.clear()
            self._products.clear()
            self._version = version

    def product(self, version: int, gtin: str) -> ProductView | None:
        self._current(version)
        if gtin not in self._products:
            if len(self._products) > 10_000:
                self._products.clear()
            self._products[gtin] = load_product(self._db, gtin)
        return self._products[gtin]

    def get(self, version: int, gtin: str, code: str) -> LotView | None:
        self._current(version)
        key = (gtin, code)
        now = time.monotonic()
        cached = self._lots.get(key)
        if cached is None or now - cached[0] > LOT_TTL_SECONDS:
            if len(self._lots) > 10_000:
                self._lots.clear()
            cached = self._lots[key] = (now, load_lot(self._db, gtin, code, self._pesticide_file))
        return cached[1]


def lot_events_document(db: Database, lot_id: int) -> dict[str, Any]:
    """Every actor's events for a lot (Tem's own and captured ones), as an EPCIS 2.0 document."""
    with db.engine.connect() as conn:
        bodies = (
            conn.execute(
                select(EpcisEvent.body)
                .where(exists().where(EventObject.event_pk == EpcisEvent.id, EventObject.lot_id == lot_id))
                .order_by(EpcisEvent.event_time, EpcisEvent.id)
                .limit(MAX_PUBLIC_EVENTS)
            )
            .scalars()
            .all()
        )
    return document(bodies, utcnow())
