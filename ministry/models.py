"""Rollups of the scan log that the ministry's reports read instead of the (partitioned, huge) scans table.

Days and months are Vietnam's (UTC+7, no daylight saving): the ministry counts in local days.
Key columns are never NULL (a primary key cannot hold NULL on PostgreSQL): no lot is 0, no country ''.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from tem.core.db import Base


class ScanDailyStat(Base):
    """Scans per Vietnam day, product, lot, country and verdict. The packing house follows from the GTIN
    (a product belongs to one organisation), so it is joined at report time rather than stored."""

    __tablename__ = "scan_daily_stats"
    __table_args__ = (PrimaryKeyConstraint("day", "gtin", "lot_id", "country", "verdict"),)

    day: Mapped[dt.date] = mapped_column(Date)
    gtin: Mapped[str] = mapped_column(String(14))
    lot_id: Mapped[int] = mapped_column(BigInteger)
    country: Mapped[str] = mapped_column(String(2))
    verdict: Mapped[str] = mapped_column(String(20))
    scans: Mapped[int] = mapped_column(BigInteger)
    flagged_scans: Mapped[int] = mapped_column(BigInteger)  # scans with at least one detection finding
    # Scans that were their stamp's first scan in its Vietnam month: summed over a month, this is the exact
    # number of distinct stamps scanned that month.
    month_first_scans: Mapped[int] = mapped_column(BigInteger)


class StampMonth(Base):
    """Which stamps were scanned in which month: the membership test behind `month_first_scans`."""

    __tablename__ = "stamp_months"
    __table_args__ = (PrimaryKeyConstraint("month", "gtin", "serial"),)

    month: Mapped[dt.date] = mapped_column(Date)  # the first day of the Vietnam month
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[int] = mapped_column(BigInteger)
