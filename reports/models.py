"""A consumer's report of a fake, with its photo (re-encoded, without metadata) kept in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

import alerts.models  # noqa: F401  (reports refer to alerts)
import issuer.models  # noqa: F401  (and to lots)
from tem.core.db import Base, UtcDateTime
from tem.core.time import utcnow


class ConsumerReport(Base):
    """One report. Never an IP address: `network` is the keyed hash of the sender's /24 (IPv6: /48), so that the
    ministry can see several reports came from one place without knowing who sent them."""

    __tablename__ = "consumer_reports"
    __table_args__ = (
        Index("ix_consumer_reports_stamp", "gtin", "serial"),
        Index("ix_consumer_reports_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    gtin: Mapped[str] = mapped_column(String(14))
    # Serials run to 20 digits, past a 64-bit integer: kept as their one canonical decimal spelling (as alerts do).
    serial: Mapped[str] = mapped_column(String(20))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    # What the page the form came from told the person: "suspect" or "counterfeit".
    verdict: Mapped[str] = mapped_column(String(20))
    # Where the fruit was bought, in the person's words; the phone's position only if they chose to share it.
    place: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    # The country of the sender's address (edge header or IP database), as scans record it.
    country: Mapped[str | None] = mapped_column(String(2))
    network: Mapped[str | None] = mapped_column(String(32))
    # A phone number or e-mail address, given only if the person wants to be contacted: ministry eyes only.
    contact: Mapped[str | None] = mapped_column(String(100))
    # JPEG, at most 1600 px on its longest side, no EXIF, GPS, ICC profile or comments. Loaded only when asked for.
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    photo_width: Mapped[int | None] = mapped_column(Integer)
    photo_height: Mapped[int | None] = mapped_column(Integer)
