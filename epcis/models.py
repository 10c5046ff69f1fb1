"""EPCIS events as stored: one row per event, the objects each names (so queries never parse documents), the
capture jobs, which lots each organisation holds, and the national portal's outbox.

Stamps are named by serial range, so a commissioning of a million stamps is one object row.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tem.core.db import Base, UtcDateTime
from tem.core.time import utcnow


class EventOrigin(StrEnum):
    """Where an event came from: a capture, or one of Tem's own records."""

    CAPTURE = "capture"
    STAGE = "stage"
    ACTIVATION = "activation"
    REVOCATION = "revocation"


class ObjectField(StrEnum):
    """The event field an object was named in; `MATCH_epc` and `MATCH_anyEPC` look at different fields."""

    EPC = "epc"  # epcList
    CHILD = "child"  # childEPCs
    PARENT = "parent"  # parentID
    INPUT = "input"  # inputEPCList
    OUTPUT = "output"  # outputEPCList
    CLASS = "class"  # quantityList and childQuantityList
    INPUT_CLASS = "input_class"  # inputQuantityList
    OUTPUT_CLASS = "output_class"  # outputQuantityList


class EpcisEvent(Base):
    __tablename__ = "epcis_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120), unique=True)  # ni:///sha-256;…?ver=CBV2.0
    event_type: Mapped[str] = mapped_column(String(32))
    event_time: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    record_time: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    biz_step: Mapped[str | None] = mapped_column(String(200), index=True)  # as written: a CBV name or a URI
    biz_location: Mapped[str | None] = mapped_column(String(300), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # EventOrigin
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)  # who recorded it
    capture_job_id: Mapped[int | None] = mapped_column(ForeignKey("epcis_capture_jobs.id"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event as JSON-LD, eventID included


class EventObject(Base):
    """An object one event names: a stamp or a range of stamps (gtin and serials), a lot class (gtin and lot),
    or anything else by its URI (an SSCC pallet or container). `lot_id` is the Tem lot it belongs to, if any."""

    __tablename__ = "epcis_event_objects"
    __table_args__ = (
        Index("ix_epcis_event_objects_gtin_serial", "gtin", "serial_first"),
        Index("ix_epcis_event_objects_gtin_lot", "gtin", "lot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("epcis_events.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(12))  # ObjectField
    uri: Mapped[str | None] = mapped_column(String(300), index=True)  # normalised; None for a serial range
    gtin: Mapped[str | None] = mapped_column(String(14))
    lot: Mapped[str | None] = mapped_column(String(20))
    serial_first: Mapped[int | None] = mapped_column(BigInteger)
    serial_last: Mapped[int | None] = mapped_column(BigInteger)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)


class CaptureJob(Base):
    __tablename__ = "epcis_capture_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))  # running, success, failed
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class LotCustody(Base):
    """An organisation a lot was shipped to: from then on it may record events for the lot and its stamps,
    and read them. The lot's own packing house always may, without a row here."""

    __tablename__ = "lot_custody"

    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True, index=True)
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    granted_by_event: Mapped[int | None] = mapped_column(ForeignKey("epcis_events.id", ondelete="SET NULL"))


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # the portal refused it for good; replayable by the ministry


class PortalOutbox(Base):
    """One event waiting for (or done with) the national portal. Written in the event's own transaction."""

    __tablename__ = "portal_outbox"
    __table_args__ = (Index("ix_portal_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("epcis_events.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
