"""The durable scan log. Written in batches by `tem worker`; on PostgreSQL it is partitioned by month."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from tem.core.db import Base, UtcDateTime


class ScanRecord(Base):
    __tablename__ = "scans"
    __table_args__ = (
        # The partition key must be part of the primary key; a scan's time never changes, so
        # (id, at) is as unique as id.
        PrimaryKeyConstraint("id", "at"),
        Index("ix_scans_stamp", "gtin", "serial", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    id: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[int] = mapped_column(BigInteger)
    kid: Mapped[str] = mapped_column(String(8))
    verdict: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))
    device_id: Mapped[str] = mapped_column(String(64))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(80))
    city: Mapped[str | None] = mapped_column(String(120))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_km: Mapped[float | None] = mapped_column(Float)
    location_source: Mapped[str | None] = mapped_column(String(16))
    lot_id: Mapped[int | None] = mapped_column(BigInteger)
    # The detection engine's findings on this scan, "type:severity" joined by commas; None: none.
    findings: Mapped[str | None] = mapped_column(String(400))
