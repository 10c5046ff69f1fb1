"""The ministry's scan rollups: counted incrementally batch by batch, and the same when rebuilt from the log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql

from detection.scans import new_scan_id
from ministry.models import ScanDailyStat
from ministry.rollup import apply_scan_rollups, rebuild_rollups
from resolver.models import ScanRecord
from tem.core.db import Database
from tem.core.settings import Settings
from tests.helpers import GTIN_A, GTIN_B

VN = dt.timezone(dt.timedelta(hours=7))


def scan(at: dt.datetime, serial: int, gtin: str = GTIN_A, **extra: Any) -> dict[str, object]:
    row: dict[str, object] = {
        "id": new_scan_id(at.timestamp()),
        "at": at.astimezone(dt.UTC),
        "gtin": gtin,
        "serial": serial,
        "kid": "K1",
        "verdict": "genuine",
        "state": "activated",
        "role": "consumer",
        "device_id": "d1",
        "ip_hash": None,
        "country": "CN",
        "region": None,
        "city": None,
        "latitude": None,
        "longitude": None,
        "accuracy_km": None,
        "location_source": None,
        "lot_id": 3,
        "findings": None,
    }
    row.update(extra)
    return row


def _stats(db: Database) -> list[tuple[object, ...]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(
                ScanDailyStat.day,
                ScanDailyStat.gtin,
                ScanDailyStat.lot_id,
                ScanDailyStat.country,
                ScanDailyStat.verdict,
                ScanDailyStat.scans,
                ScanDailyStat.flagged_scans,
                ScanDailyStat.month_first_scans,
            ).order_by(*ScanDailyStat.__table__.primary_key.columns)
        )
        return [tuple(r) for r in rows]


# A June in Vietnam time: the first scan is 30 June 23:30 in Vietnam but still 30 June in UTC; the second
# is 1 July 00:30 in Vietnam (30 June 17:30 UTC), so it counts in July.
BATCHES = [
    [
        scan(dt.datetime(2026, 6, 30, 23, 30, tzinfo=VN), 1),
        scan(dt.datetime(2026, 7, 1, 0, 30, tzinfo=VN), 1),
        scan(dt.datetime(2026, 7, 1, 9, 0, tzinfo=VN), 2, country=None, lot_id=None, verdict="suspect"),
    ],
    [
        scan(dt.datetime(2026, 7, 1, 10, 0, tzinfo=VN), 1, findings="duplicate:warning"),
        scan(dt.datetime(2026, 7, 2, 10, 0, tzinfo=VN), 2, country=None, lot_id=None, verdict="suspect"),
        scan(dt.datetime(2026, 7, 2, 11, 0, tzinfo=VN), 7, gtin=GTIN_B, country="vn"),
    ],
]
EXPECTED = [
    (dt.date(2026, 6, 30), GTIN_A, 3, "CN", "genuine", 1, 0, 1),
    (dt.date(2026, 7, 1), GTIN_A, 0, "", "suspect", 1, 0, 1),
    (dt.date(2026, 7, 1), GTIN_A, 3, "CN", "genuine", 2, 1, 1),
    (dt.date(2026, 7, 2), GTIN_A, 0, "", "suspect", 1, 0, 0),
    (dt.date(2026, 7, 2), GTIN_B, 3, "VN", "genuine", 1, 0, 1),
]


def test_batches_roll_up_by_vietnam_day_with_exact_distinct_stamps_per_month(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        for batch in BATCHES:
            with db.engine.begin() as conn:
                apply_scan_rollups(conn, batch)
        with db.engine.begin() as conn:
            apply_scan_rollups(conn, [])
        assert _stats(db) == EXPECTED
    finally:
        db.dispose()


def test_a_rebuild_from_the_scan_log_matches_the_incremental_counts(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        rows = [row for batch in BATCHES for row in batch]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                for month in ("2026_06", "2026_07"):
                    start = f"{month[:4]}-{month[5:]}-01"
                    end = "2026-07-01" if month.endswith("06") else "2026-08-01"
                    conn.execute(
                        text(f"CREATE TABLE scans_{month} PARTITION OF scans FOR VALUES FROM ('{start}') TO ('{end}')")
                    )
                conn.execute(postgresql.insert(ScanRecord.__table__), rows)
            else:
                conn.execute(insert(ScanRecord.__table__), rows)
            # Stale numbers for July are replaced, June's are left alone.
            apply_scan_rollups(conn, [scan(dt.datetime(2026, 7, 20, tzinfo=VN), 99)])
            rebuild_rollups(conn, dt.date(2026, 7, 1))
        assert _stats(db) == EXPECTED[1:]
    finally:
        db.dispose()
