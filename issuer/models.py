"""The registry's tables. Serials are stored as ranges: a million stamps is a handful of rows."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tem.core.db import Base, UtcDateTime
from tem.core.time import utcnow


class OrderStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Stage(StrEnum):
    HARVEST = "harvest"
    RECEIVING = "receiving"
    PACKING = "packing"
    SHIPPING = "shipping"
    BORDER_CROSSING = "border_crossing"
    IMPORT = "import"


class SigningKey(Base):
    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(8), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_fingerprint: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    not_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class GrowingArea(Base):
    __tablename__ = "growing_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Unique nationally: the code is what importers check, whichever packing house registered it.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    province: Mapped[str] = mapped_column(String(80))
    crop: Mapped[str] = mapped_column(String(80))
    variety: Mapped[str | None] = mapped_column(String(80))
    area_hectares: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # A GeoJSON Polygon or MultiPolygon (WGS84), validated by issuer.geometry; the area measured from it.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    measured_hectares: Mapped[float | None] = mapped_column(Float)
    # GrowingAreaStatus: active, suspended or revoked; who changed it last, when and why.
    status: Mapped[str] = mapped_column(String(12), default="active", server_default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    status_changed_by: Mapped[str | None] = mapped_column(String(200))


class GrowingAreaStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class FarmerHousehold(Base):
    __tablename__ = "farmer_households"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    growing_area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    variety: Mapped[str | None] = mapped_column(String(80))
    # How long the packed product keeps: fresh durian days to weeks, frozen months. None: the default.
    shelf_life_days: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LotGrowingArea(Base):
    __tablename__ = "lot_growing_areas"

    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    growing_area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), primary_key=True)


class LotHousehold(Base):
    __tablename__ = "lot_households"

    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("farmer_households.id"), primary_key=True)


class Lot(Base):
    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    harvest_dates: Mapped[list[str]] = mapped_column(JSON)
    packing_date: Mapped[dt.date | None] = mapped_column(Date)
    quantity: Mapped[int | None] = mapped_column(Integer)
    quantity_unit: Mapped[str | None] = mapped_column(String(20))
    destination_markets: Mapped[list[str]] = mapped_column(JSON)
    # The declared route, for detection: border gate names (see resolver.routes) and destination
    # cities or hubs as {"name", "lat", "lon", "country"}. Empty: any gate, anywhere in the markets.
    border_gates: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    destination_places: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list, server_default="[]")
    # Household names are personal data; the trace page shows them only when the lot says so.
    show_household_names: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class StageRecord(Base):
    __tablename__ = "stage_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    place: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    note: Mapped[str | None] = mapped_column(Text)
    # Where it happened, when known: the EPCIS event's read point is this geo URI.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # A shipping stage's consignee: from then on it may record events for the lot (`epcis.models.LotCustody`).
    consignee_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RollOrder(Base):
    __tablename__ = "roll_orders"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    template: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    kid: Mapped[str | None] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(200))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SerialCounter(Base):
    """Next free serial per GTIN. Allocation locks this one row, so ranges never overlap."""

    __tablename__ = "serial_counters"

    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    next_serial: Mapped[int] = mapped_column(BigInteger)


class SerialRange(Base):
    __tablename__ = "serial_ranges"
    __table_args__ = (
        CheckConstraint("first_serial >= 1 AND last_serial >= first_serial", name="ordered"),
        Index("ix_serial_ranges_gtin_first", "gtin", "first_serial", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("roll_orders.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    first_serial: Mapped[int] = mapped_column(BigInteger)
    last_serial: Mapped[int] = mapped_column(BigInteger)
    kid: Mapped[str] = mapped_column(String(8))


class Activation(Base):
    __tablename__ = "activations"
    __table_args__ = (
        CheckConstraint("first_serial >= 1 AND last_serial >= first_serial", name="ordered"),
        Index("ix_activations_gtin_first", "gtin", "first_serial", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    first_serial: Mapped[int] = mapped_column(BigInteger)
    last_serial: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Revocation(Base):
    __tablename__ = "revocations"
    __table_args__ = (
        CheckConstraint("first_serial >= 1 AND last_serial >= first_serial", name="ordered"),
        Index("ix_revocations_gtin_first", "gtin", "first_serial"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    first_serial: Mapped[int] = mapped_column(BigInteger)
    last_serial: Mapped[int] = mapped_column(BigInteger)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    # What consumers are told (a `detection.ports.RevocationCategory`); `reason` is the packing house's own
    # words, for itself, the ministry, inspectors and the audit log, never for a consumer.
    category: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AuditEvent(Base):
    """Append-only, and a hash chain (`issuer.audit`): each row's `hash` covers its fields and the `prev_hash` of
    the row before it, by `seq`. On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE, and the application's
    role is granted only INSERT and SELECT (docs/deploy.md)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row (id 1): the audit chain's last `seq` and `hash`. Appending locks it, so the chain stays linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class DocumentKind(StrEnum):
    PHYTOSANITARY = "phytosanitary"
    LAB_RESULT = "lab_result"


class LotDocument(Base):
    """A phytosanitary certificate or lab result a packing house attaches to a lot; shown on the trace page."""

    __tablename__ = "lot_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(80))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    issuer: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LotFile(Base):
    """A lot document uploaded as a file through the portal: a phytosanitary certificate or lab result, as the
    packing house scanned or received it (PDF, JPEG or PNG), kept with its SHA-256 and size. The file itself is
    served only to its packing house and the ministry; the trace page shows only that it is on file."""

    __tablename__ = "lot_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(20))  # DocumentKind
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DiaryKind(StrEnum):
    SPRAY = "spray"
    FERTILISER = "fertiliser"
    IRRIGATION = "irrigation"
    PRUNING = "pruning"
    HARVEST = "harvest"
    OTHER = "other"


class DiaryEntry(Base):
    """One line of a growing area's farming diary, recorded by its packing house on the household's behalf.
    Append-only: a correction is a new entry whose `corrects` names the entry it replaces (kept and listed)."""

    __tablename__ = "diary_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    growing_area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # DiaryKind
    product: Mapped[str | None] = mapped_column(String(200))
    active_ingredients: Mapped[list[str]] = mapped_column(JSON, default=list)
    dose: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(20))
    # As recorded; None for a spray means the data file's default PHI for its ingredients (the longest).
    phi_days: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    corrects: Mapped[int | None] = mapped_column(ForeignKey("diary_entries.id"), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AreaEvidence(Base):
    """Evidence that a growing area is what it says (satellite imagery, a survey report), kept with its
    SHA-256: groundwork for checking declared areas against public imagery (docs/areas.md)."""

    __tablename__ = "area_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    growing_area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(20))  # imagery or report
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    captured_on: Mapped[dt.date | None] = mapped_column(Date)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
