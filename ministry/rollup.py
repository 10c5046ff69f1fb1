"""Keep the ministry's scan rollups in step with the scan log.

`apply_scan_rollups` runs inside the worker's batch transaction with the rows it just inserted, so a
scan is counted exactly when it is stored (a replayed scan id is never passed twice). `rebuild_rollups`
recomputes a range of days from the scans table itself: for a backfill, or after a bulk load.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, bindparam, delete, text
from sqlalchemy.dialects import postgresql, sqlite

from ministry.models import ScanDailyStat, StampMonth
from tem.core.db import UtcDateTime, insert_new

#: Vietnam keeps UTC+7 all year: report days and months are local days and months.
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
NO_LOT = 0
NO_COUNTRY = ""

_STATS = cast(Table, ScanDailyStat.__table__)
_MONTHS = cast(Table, StampMonth.__table__)
StatKey = tuple[dt.date, str, int, str, str]  # day, gtin, lot_id, country, verdict


@dataclass(slots=True)
class _Counts:
    scans: int = 0
    flagged_scans: int = 0
    month_first_scans: int = 0


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(VIETNAM).date()


def _key(row: dict[str, object]) -> StatKey:
    at = row["at"]
    assert isinstance(at, dt.datetime)
    lot_id = row.get("lot_id")
    country = row.get("country")
    return (
        local_day(at),
        str(row["gtin"]),
        int(lot_id) if isinstance(lot_id, int) else NO_LOT,
        str(country).upper()[:2] if country else NO_COUNTRY,
        str(row["verdict"]),
    )


def _insert(conn: Connection) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if conn.dialect.name == "postgresql" else sqlite.Insert


def apply_scan_rollups(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Count newly stored scans (dicts as resolver.worker builds them, plus "findings") into the rollups."""
    if not rows:
        return
    counts: dict[StatKey, _Counts] = {}
    # Each stamp-month's earliest scan in this batch; if the stamp is new to that month, that scan counts it.
    earliest: dict[tuple[dt.date, str, int], tuple[dt.datetime, StatKey]] = {}
    for row in rows:
        key = _key(row)
        entry = counts.setdefault(key, _Counts())
        entry.scans += 1
        if row.get("findings"):
            entry.flagged_scans += 1
        at = row["at"]
        assert isinstance(at, dt.datetime)
        stamp = (key[0].replace(day=1), key[1], int(cast(int, row["serial"])))
        seen = earliest.get(stamp)
        if seen is None or at < seen[0]:
            earliest[stamp] = (at, key)

    insert_ = _insert(conn)
    # Only stamp-months this statement actually inserted come back: those are first scans of the month.
    # Sorted, so concurrent workers take the row locks in the same order.
    wanted = [{"month": m, "gtin": g, "serial": s} for m, g, s in sorted(earliest)]
    new = insert_new(conn, _MONTHS, wanted, ["month", "gtin", "serial"])
    for inserted in new:
        counts[earliest[(inserted.month, inserted.gtin, inserted.serial)][1]].month_first_scans += 1

    stmt = insert_(_STATS)
    upsert = stmt.on_conflict_do_update(
        index_elements=[_STATS.c.day, _STATS.c.gtin, _STATS.c.lot_id, _STATS.c.country, _STATS.c.verdict],
        set_={
            "scans": _STATS.c.scans + stmt.excluded.scans,
            "flagged_scans": _STATS.c.flagged_scans + stmt.excluded.flagged_scans,
            "month_first_scans": _STATS.c.month_first_scans + stmt.excluded.month_first_scans,
        },
    )
    conn.execute(
        upsert,
        [
            {
                "day": day,
                "gtin": gtin,
                "lot_id": lot_id,
                "country": country,
                "verdict": verdict,
                "scans": c.scans,
                "flagged_scans": c.flagged_scans,
                "month_first_scans": c.month_first_scans,
            }
            for (day, gtin, lot_id, country, verdict), c in sorted(counts.items())
        ],
    )


def rebuild_rollups(conn: Connection, first_month: dt.date, months: int = 1) -> None:
    """Recompute whole Vietnam months of rollups from the scans table (a backfill after a bulk load).

    Whole months, because a stamp's first scan of the month can lie anywhere in it. Run it while no worker
    writes scans of those months.
    """
    start = first_month.replace(day=1)
    end = start
    for _ in range(months):
        end = (end + dt.timedelta(days=32)).replace(day=1)
    since = dt.datetime.combine(start, dt.time(), VIETNAM)
    until = dt.datetime.combine(end, dt.time(), VIETNAM)
    conn.execute(delete(_STATS).where(_STATS.c.day >= start, _STATS.c.day < end))
    conn.execute(delete(_MONTHS).where(_MONTHS.c.month >= start, _MONTHS.c.month < end))
    postgres = conn.dialect.name == "postgresql"
    day = "(s.at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date" if postgres else "date(s.at, '+7 hours')"
    month = f"date_trunc('month', {day})::date" if postgres else f"date({day}, 'start of month')"
    bounds = (bindparam("since", since, type_=UtcDateTime()), bindparam("until", until, type_=UtcDateTime()))
    # The stamp's first scan of the month: the lowest (at, id), so ties are broken the same way every time.
    conn.execute(
        text(
            f"""
            INSERT INTO scan_daily_stats (day, gtin, lot_id, country, verdict, scans, flagged_scans, month_first_scans)
            SELECT day, gtin, lot_id, country, verdict, count(*),
                   sum(CASE WHEN findings IS NULL OR findings = '' THEN 0 ELSE 1 END), sum(first)
            FROM (
                SELECT {day} AS day, s.gtin, coalesce(s.lot_id, 0) AS lot_id,
                       coalesce(upper(s.country), '') AS country, s.verdict, s.findings,
                       CASE WHEN row_number() OVER (
                           PARTITION BY {month}, s.gtin, s.serial ORDER BY s.at, s.id) = 1 THEN 1 ELSE 0 END AS first
                FROM scans s WHERE s.at >= :since AND s.at < :until
            ) AS t
            GROUP BY day, gtin, lot_id, country, verdict
            """  # noqa: S608  # only the two fixed SQL snippets above are formatted in
        ).bindparams(*bounds)
    )
    conn.execute(
        text(
            f"INSERT INTO stamp_months (month, gtin, serial) "  # noqa: S608  # fixed snippets only
            f"SELECT DISTINCT {month}, s.gtin, s.serial FROM scans s WHERE s.at >= :since AND s.at < :until"
        ).bindparams(*bounds)
    )
