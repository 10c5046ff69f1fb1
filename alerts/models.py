"""The alert tables: one row per alert, and the history of its workflow transitions."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tem.core.db import Base, UtcDateTime
from tem.core.time import utcnow


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"

    @property
    def active(self) -> bool:
        """Open and acknowledged alerts still collect new evidence; closed ones never change again."""
        return self in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class AlertScope(StrEnum):
    STAMP = "stamp"
    LOT = "lot"
    PACKING_HOUSE = "packing_house"


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("count >= 1", name="count_positive"),
        Index("ix_alerts_stamp", "gtin", "serial"),
        Index("ix_alerts_status_last_seen", "status", "last_seen_at"),
        Index("ix_alerts_first_seen_at", "first_seen_at"),  # the ministry's reports count alerts by day raised
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    gtin: Mapped[str | None] = mapped_column(String(14))
    # Serials run to 20 digits, past a 64-bit integer: kept as their one canonical decimal spelling.
    serial: Mapped[str | None] = mapped_column(String(20))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # A lot alert is the parent of the stamp alerts beneath it; a packing-house alert, of its lot alerts.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    # Where the scan that opened it was made (ISO 3166 alpha-2), for the ministry's reports by country.
    country: Mapped[str | None] = mapped_column(String(2))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    explanation_vi: Mapped[str] = mapped_column(Text)
    explanation_en: Mapped[str] = mapped_column(Text)
    # Set while the alert is open or acknowledged, NULL once closed: the unique constraint keeps one
    # active alert per subject and type (NULLs never collide), on SQLite and PostgreSQL alike.
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AlertTransition(Base):
    """Who moved an alert from one status to another, when, and why. Never updated."""

    __tablename__ = "alert_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WebhookEvent(StrEnum):
    OPENED = "opened"
    SEVERITY_RAISED = "severity_raised"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(Base):
    """The webhook outbox: one row per alert event and configured URL, written in the alert's own
    transaction and POSTed later (with retries) by the worker. `body` is the exact JSON text sent and
    signed, so a retry sends the same bytes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING.value)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
