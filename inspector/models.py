"""Inspection records and the inspector app's login sessions."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import alerts.models  # noqa: F401  (inspections refer to alerts)
from tem.core.db import Base, UtcDateTime
from tem.core.time import utcnow


class InspectionResult(StrEnum):
    """What the inspector decided, whatever the app's verdict was."""

    GENUINE = "genuine"
    SUSPECT = "suspect"
    COUNTERFEIT = "counterfeit"
    SEIZED = "seized"


class Inspection(Base):
    """One inspection, recorded on the device (maybe offline) and synced later. `client_id` is the
    device-generated idempotency key: a retried upload finds the row it already made."""

    __tablename__ = "inspections"
    __table_args__ = (
        UniqueConstraint("organisation_id", "client_id"),
        Index("ix_inspections_inspector_at", "inspector_token_id", "inspected_at"),
        Index("ix_inspections_stamp", "gtin", "serial"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    inspector_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    inspector: Mapped[str] = mapped_column(String(200))
    payload_hash: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial: Mapped[str | None] = mapped_column(String(20))
    kid: Mapped[str | None] = mapped_column(String(8))
    # Checked again by the server on arrival: valid, bad_signature, unknown_key, key_revoked, format_error.
    signature: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(20))  # what the app showed
    verdict_source: Mapped[str] = mapped_column(String(10))  # online | offline
    result: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    scan_id: Mapped[str | None] = mapped_column(String(32))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    inspected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
