"""What the trace page shows about a lot, read with plain SQL and cached until the registry changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from identity.models import Organisation
from issuer.models import (
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
from resolver.linkset import lot_path
from tem.core.db import Database


@dataclass(frozen=True, slots=True)
class Area:
    code: str
    province: str
    hectares: float | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class StageView:
    stage: str
    occurred_at: dt.datetime
    place: str | None
    country: str | None


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


def load_lot(db: Database, gtin: str, code: str) -> LotView | None:
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
        stages = conn.execute(
            select(StageRecord.stage, StageRecord.occurred_at, StageRecord.place, StageRecord.country)
            .where(StageRecord.lot_id == lot_id)
            .order_by(StageRecord.occurred_at, StageRecord.id)
        ).all()
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
        stages=tuple(StageView(*s) for s in stages),
        documents=tuple(DocumentView(*d) for d in documents),
        files=tuple(FileView(*f) for f in files),
    )


class LotCache:
    """Lots and products as the pages show them, until the registry changes (its version)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._version = -1
        self._lots: dict[tuple[str, str], LotView | None] = {}
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
        if key not in self._lots:
            if len(self._lots) > 10_000:
                self._lots.clear()
            self._lots[key] = load_lot(self._db, gtin, code)
        return self._lots[key]


def epcis_document(base: str, lot: LotView) -> dict[str, Any]:
    """The lot's stage records as an EPCIS 2.0 document: one class-level ObjectEvent per stage."""
    lot_uri = base + lot_path(lot.gtin, lot.code)
    business_step = {
        "harvest": "commissioning",
        "receiving": "receiving",
        "packing": "packing",
        "shipping": "shipping",
        "border_crossing": "departing",
        "import": "arriving",
    }
    events = []
    for stage in lot.stages:
        when = stage.occurred_at if stage.occurred_at.tzinfo else stage.occurred_at.replace(tzinfo=dt.UTC)
        event: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventTime": when.isoformat(),
            "eventTimeZoneOffset": when.strftime("%z")[:3] + ":" + when.strftime("%z")[3:],
            "action": "ADD" if stage.stage == "harvest" else "OBSERVE",
            "bizStep": business_step.get(stage.stage, "other"),
            "quantityList": [{"epcClass": lot_uri}],
        }
        if stage.place or stage.country:
            event["readPoint"] = {"id": f"{base}/places/{lot.packing_house_code}/{stage.stage}"}
        events.append(event)
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": dt.datetime.now(dt.UTC).isoformat(),
        "epcisBody": {"eventList": events},
    }
