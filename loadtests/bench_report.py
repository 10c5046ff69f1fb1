"""Benchmark: the ministry's one-month report over 10,000,000 scans on PostgreSQL, against a naive report.

Loads a scratch PostgreSQL database (created here, dropped at the end) with the simulator's streamed
durian season: the registry (packing houses, products, lots, orders, activations), scans via COPY until the
report month holds `--scans` of them, the rollups rebuilt from the scan log, and synthetic alerts. Then it
times the ministry dashboard (filters, every report section, the HTML) for that month, and a naive
baseline in the same run: the same scan figures as GROUP BYs straight over the scans table. Both must
agree on every number.

    .venv/bin/python -m loadtests.bench_report --scans 10000000 --write-doc
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import io
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import Connection, make_url

from alerts.models import Alert
from identity.models import Organisation
from issuer.models import Activation, Lot, Product, RollOrder, SerialRange
from loadtests.common import (
    DOC_PATH,
    BenchError,
    doc_section,
    machine_facts,
    rerun_command,
    run_context,
    say,
    write_doc,
)
from loadtests.simulator import PACKING_HOUSES, SimConfig, _gtin, stream
from ministry import pages
from ministry.models import ScanDailyStat
from ministry.rollup import VIETNAM, rebuild_rollups
from tem.core.db import Database
from tem.migrate import upgrade

SECTION = "report"
SCRIPT = "loadtests/bench_report.py"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_SECONDS = 5.0
ALERT_TYPES = ("duplicate", "impossible_travel", "off_route", "reuse_after_expiry", "inspector_counterfeit")
COPY_COLUMNS = (
    "id, at, gtin, serial, kid, verdict, state, role, device_id, ip_hash, country, region, city, "
    "latitude, longitude, accuracy_km, location_source, lot_id, findings"
)


@dataclass(slots=True)
class LotSpan:
    first: int
    last: int
    lot_id: int
    revoked_at: float | None


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise BenchError(f"over the time budget while {what}; give --budget-seconds more or --scans fewer")


def _month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(month, dt.time(), VIETNAM)
    end = dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time(), VIETNAM)
    return start, end


def _partitions(conn: Connection, month: dt.date) -> None:
    """Monthly partitions from the month before the report month to four after it (kept boxes scan late)."""
    start = (month - dt.timedelta(days=1)).replace(day=1)
    for _ in range(6):
        end = (start + dt.timedelta(days=32)).replace(day=1)
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS scans_{start:%Y_%m} PARTITION OF scans "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        start = end


def _seed_registry(conn: Connection, activations: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[LotSpan]]]:
    """Packing houses, products, lots, one roll order and range per lot, and the activations. Returns, per
    GTIN, the lots' first serials (sorted) and spans, to find a scan's lot by bisection."""
    org_ids: dict[str, int] = {}
    product_ids: dict[str, int] = {}
    for index, (code, province, _lat, _lon) in enumerate(PACKING_HOUSES):
        org_ids[code] = conn.execute(
            insert(Organisation)
            .values(kind="packing_house", name=f"Cơ sở đóng gói {code}", code=code, province=province.split(" (")[0])
            .returning(Organisation.id)
        ).scalar_one()
        gtin = _gtin(index)
        product_ids[gtin] = conn.execute(
            insert(Product)
            .values(
                organisation_id=org_ids[code],
                gtin=gtin,
                name_vi=f"Sầu riêng {code}",
                name_en=f"Durian {code}",
                name_zh="榴莲",
            )
            .returning(Product.id)
        ).scalar_one()
    spans: dict[str, list[LotSpan]] = {}
    revoked: dict[tuple[str, str], float] = {}
    for event in activations:
        if event["type"] == "revoke":
            revoked[(event["gtin"], event["first"])] = _ts(event["ts"])
    for event in activations:
        if event["type"] != "activate":
            continue
        at = dt.datetime.fromtimestamp(_ts(event["ts"]), dt.UTC)
        org = org_ids[event["packing_house"]]
        gtin, first, last = event["gtin"], int(event["first"]), int(event["last"])
        lot_id = conn.execute(
            insert(Lot)
            .values(
                organisation_id=org,
                product_id=product_ids[gtin],
                code=event["lot"],
                harvest_dates=[],
                destination_markets=["CN"],
                created_at=at,
            )
            .returning(Lot.id)
        ).scalar_one()
        order_id = conn.execute(
            insert(RollOrder)
            .values(
                organisation_id=org,
                product_id=product_ids[gtin],
                quantity=last - first + 1,
                template="durian-fruit-tag",
                status="approved",
                kid="BENCH",
                created_by="bench",
                created_at=at - dt.timedelta(days=3),
            )
            .returning(RollOrder.id)
        ).scalar_one()
        conn.execute(
            insert(SerialRange).values(
                order_id=order_id, organisation_id=org, gtin=gtin, first_serial=first, last_serial=last, kid="BENCH"
            )
        )
        conn.execute(
            insert(Activation).values(
                organisation_id=org,
                lot_id=lot_id,
                gtin=gtin,
                first_serial=first,
                last_serial=last,
                created_by="bench",
                created_at=at,
            )
        )
        spans.setdefault(gtin, []).append(LotSpan(first, last, lot_id, revoked.get((gtin, event["first"]))))
    by_gtin: dict[str, tuple[list[int], list[LotSpan]]] = {}
    for gtin, found in spans.items():
        found.sort(key=lambda span: span.first)
        by_gtin[gtin] = ([span.first for span in found], found)
    return by_gtin


def _ts(text_: str) -> float:
    return dt.datetime.fromisoformat(text_.replace("Z", "+00:00")).timestamp()


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _scan_lines(
    events: Iterator[dict[str, Any]],
    lots: dict[str, tuple[list[int], list[LotSpan]]],
    month: dt.date,
    wanted: int,
    budget: Budget,
    counts: dict[str, int],
) -> Iterator[str]:
    """COPY text lines of the stream's stored scans, until the report month holds `wanted`."""
    start, end = _month_bounds(month)
    low = start - dt.timedelta(days=31)
    high = end + dt.timedelta(days=120)
    serial_no = 0
    for event in events:
        if event["type"] != "scan" or not event["sig_valid"]:
            continue  # forged scans are refused before the scan log
        at = dt.datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        if not low <= at < high:
            continue
        gtin, serial = event["gtin"], int(event["serial"])
        lot_id: int | None = None
        state, verdict = "unknown_serial", "suspect"
        found = lots.get(gtin)
        if found is not None:
            i = bisect.bisect_right(found[0], serial) - 1
            if i >= 0 and found[1][i].first <= serial <= found[1][i].last:
                span = found[1][i]
                lot_id = span.lot_id
                state, verdict = "activated", "genuine"
                if span.revoked_at is not None and at.timestamp() >= span.revoked_at:
                    state, verdict = "revoked", "counterfeit"
        serial_no += 1
        millis = int(at.timestamp() * 1000)
        scan_id = f"{millis:012X}{serial_no:014X}"  # unique and time-ordered like a ULID; cheaper to make
        fields = (
            scan_id,
            at.isoformat(),
            gtin,
            serial,
            "BENCH",
            verdict,
            state,
            event.get("role", "consumer"),
            event["device"],
            None,
            event.get("country"),
            None,
            None,
            event.get("lat"),
            event.get("lon"),
            event.get("accuracy_km"),
            "ip",
            lot_id,
            None,
        )
        yield "\t".join(_copy_text(v) for v in fields) + "\n"
        counts["table"] += 1
        if start <= at < end:
            counts["month"] += 1
            if counts["month"] >= wanted:
                return
        if counts["table"] % 500_000 == 0:
            say(f"  {counts['table']:,} scans loaded, {counts['month']:,} in the report month")
            budget.check("loading scans")


def _load_scans(url: str, lines: Iterator[str]) -> None:
    """COPY in 8 MB chunks over one psycopg connection: no row objects, no ORM."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY scans ({COPY_COLUMNS}) FROM STDIN") as copy,
    ):
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line)
            if buffer.tell() > 8_000_000:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _seed_alerts(conn: Connection, month: dt.date, count: int, seed: int) -> None:
    """Alerts spread over the month's lots, types, severities and statuses, in batches."""
    rng = random.Random(seed)
    lots = conn.execute(select(Lot.id, Lot.organisation_id, Product.gtin).join(Product)).all()
    start, end = _month_bounds(month)
    span = (end - start).total_seconds()
    batch: list[dict[str, Any]] = []
    for number in range(count):
        lot_id, org, gtin = rng.choice(lots)
        at = start + dt.timedelta(seconds=rng.uniform(0, span))
        status = rng.choice(("open", "open", "acknowledged", "resolved", "false_positive"))
        batch.append(
            {
                "type": rng.choice(ALERT_TYPES),
                "severity": rng.choice(("info", "warning", "warning", "critical")),
                "status": status,
                "scope": "stamp",
                "gtin": gtin,
                "serial": str(rng.randint(1000, 10**6)),
                "lot_id": lot_id,
                "organisation_id": org,
                "country": rng.choice(("CN", "CN", "CN", "VN", "HK")),
                "count": 1,
                "first_seen_at": at,
                "last_seen_at": at,
                "evidence": [],
                "explanation_vi": "Tem được quét ở nhiều nơi.",
                "explanation_en": "The stamp was scanned in many places.",
                "open_key": f"bench|{number}" if status in ("open", "acknowledged") else None,
                "created_at": at,
                "updated_at": at,
            }
        )
        if len(batch) == 5000:
            conn.execute(insert(Alert), batch)
            batch = []
    if batch:
        conn.execute(insert(Alert), batch)


def _naive(conn: Connection, month: dt.date) -> tuple[dict[str, tuple[int, int]], dict[str, int], dict[str, int]]:
    """The scan figures of the report straight from the scans table: per product scans and distinct stamps,
    scans by verdict, scans by country."""
    start, end = _month_bounds(month)
    bounds = {"since": start, "until": end}
    per_gtin = {
        gtin: (int(n), int(d))
        for gtin, n, d in conn.execute(
            text(
                "SELECT gtin, count(*), count(DISTINCT serial) FROM scans "
                "WHERE at >= :since AND at < :until GROUP BY gtin"
            ),
            bounds,
        )
    }
    verdicts = {
        v: int(n)
        for v, n in conn.execute(
            text("SELECT verdict, count(*) FROM scans WHERE at >= :since AND at < :until GROUP BY verdict"), bounds
        )
    }
    countries = {
        c or "": int(n)
        for c, n in conn.execute(
            text("SELECT country, count(*) FROM scans WHERE at >= :since AND at < :until GROUP BY country"), bounds
        )
    }
    return per_gtin, verdicts, countries


def _rollup_figures(
    conn: Connection, month: dt.date
) -> tuple[dict[str, tuple[int, int]], dict[str, int], dict[str, int]]:
    end = (month + dt.timedelta(days=32)).replace(day=1)
    in_month = (ScanDailyStat.day >= month, ScanDailyStat.day < end)
    per_gtin = {
        gtin: (int(n), int(d))
        for gtin, n, d in conn.execute(
            select(ScanDailyStat.gtin, func.sum(ScanDailyStat.scans), func.sum(ScanDailyStat.month_first_scans))
            .where(*in_month)
            .group_by(ScanDailyStat.gtin)
        )
    }
    verdicts = {
        v: int(n)
        for v, n in conn.execute(
            select(ScanDailyStat.verdict, func.sum(ScanDailyStat.scans))
            .where(*in_month)
            .group_by(ScanDailyStat.verdict)
        )
    }
    countries = {
        c: int(n)
        for c, n in conn.execute(
            select(ScanDailyStat.country, func.sum(ScanDailyStat.scans))
            .where(*in_month)
            .group_by(ScanDailyStat.country)
        )
    }
    return per_gtin, verdicts, countries


def _fill(db: Database, url: str, args: argparse.Namespace, month: dt.date, budget: Budget) -> dict[str, Any]:
    """Registry, scans (COPY), rollups rebuilt from the log, alerts."""
    lots_wanted = max(50, round(args.scans / (6000 * args.scan_rate * 1.6)))
    config = SimConfig(
        seed=args.seed, lots=lots_wanted, consumer_scan_rate=args.scan_rate, season_days=args.season_days
    )
    events = stream(config)
    registry: list[dict[str, Any]] = []
    for event in events:  # every activation comes before the first scan
        if event["type"] == "scan":
            break
        registry.append(event)
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        _partitions(conn, month)
        lots = _seed_registry(conn, registry)
    say(f"registry: {len(registry):,} events, {sum(len(v[1]) for v in lots.values()):,} lots")
    counts = {"table": 0, "month": 0}
    _load_scans(url, _scan_lines(events, lots, month, args.scans, budget, counts))
    load_s = time.perf_counter() - t0
    if counts["month"] < args.scans:
        raise BenchError(f"the simulation ran out at {counts['month']:,} scans in the month; raise --scan-rate")
    say(f"loaded {counts['table']:,} scans ({counts['month']:,} in {args.month}) in {load_s:.0f} s")
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        rebuild_rollups(conn, month)
        _seed_alerts(conn, month, args.alerts, args.seed)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        rollup_rows = conn.execute(select(func.count()).select_from(ScanDailyStat)).scalar_one()
    rebuild_s = time.perf_counter() - t0
    say(f"rollups rebuilt and {args.alerts:,} alerts added in {rebuild_s:.0f} s")
    budget.check("rebuilding the rollups")
    return {
        "scans_table": counts["table"],
        "scans_month": counts["month"],
        "lots": lots_wanted,
        "load_s": load_s,
        "rebuild_s": rebuild_s,
        "rollup_rows": rollup_rows,
    }


def _measure(db: Database, args: argparse.Namespace, month: dt.date) -> dict[str, Any]:
    """The dashboard for the month, `--repeat` times; then the naive baseline once, and both must agree."""
    last_day = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    params = [("since", month.isoformat()), ("until", last_day.isoformat())]
    timings = []
    page = ""
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        with db.session() as session:
            page = pages.dashboard_page(session, params, "vi", csrf="")
        timings.append(time.perf_counter() - t0)
    say(f"report: {', '.join(f'{t:.3f}' for t in timings)} s")
    with db.engine.connect() as conn:
        t0 = time.perf_counter()
        naive = _naive(conn, month)
        naive_s = time.perf_counter() - t0
        rolled = _rollup_figures(conn, month)
    say(f"naive GROUP BY over the scans table: {naive_s:.2f} s")
    if naive != rolled:
        raise BenchError(f"the rollups disagree with the scans table: {naive} != {rolled}")
    return {
        "report_s": timings,
        "html_bytes": len(page.encode()),
        "naive_s": naive_s,
        "products": len(naive[0]),
        "stamps_month": sum(d for _n, d in naive[0].values()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """In a scratch database, dropped whatever happens."""
    budget = Budget(args.budget_seconds)
    month = dt.date.fromisoformat(args.month + "-01")
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    name = f"tem_bench_report_{uuid.uuid4().hex[:8]}"
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        db = Database(url)
        try:
            result = _fill(db, url, args, month, budget)
            result.update(_measure(db, args, month))
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return result


def _doc(args: argparse.Namespace, argv: list[str] | None, result: dict[str, Any], when: dt.datetime) -> str:
    median = statistics.median(result["report_s"])
    worst = max(result["report_s"])
    ratio = result["naive_s"] / median
    passed = "PASS" if worst < TARGET_SECONDS else "FAIL"
    lines = [
        "## Ministry report: one month over 10,000,000 scans, against a naive GROUP BY",
        "",
        f"**Requirement.** The ministry dashboard for one month over {args.scans:,} scans on PostgreSQL renders in "
        f"< {TARGET_SECONDS:.0f} s.",
        "",
        "**What is measured.** A scratch PostgreSQL database is loaded with the simulator's streamed season "
        "(`loadtests.simulator.stream`, no event held in memory): the registry, then scans by `COPY` until the "
        f"report month holds {args.scans:,}; the rollups are rebuilt from the scan log (`rebuild_rollups`) and "
        f"{args.alerts:,} synthetic alerts are added. *Report*: `ministry.pages.dashboard_page` for the "
        "month, end to end (filters, every section, the HTML), in process, "
        f"{args.repeat} times. *Baseline*: the report's scan figures (per product scans and distinct stamps, "
        "scans by verdict, scans by country) as plain GROUP BYs over the month's partition of `scans`, "
        "once. The two must agree on every number. *Ratio*: baseline seconds over the report's median.",
        "",
        *run_context(
            rerun_command("loadtests.bench_report", argv),
            when,
            machine_facts(f"PostgreSQL {result.get('server', '?')}; psycopg {psycopg.__version__}"),
        ),
        "",
        "**Raw figures.**",
        "",
        "| scans in the table | scans in the month | distinct stamps in the month | lots | rollup rows | load s "
        "| rollup rebuild s | report s (each run) | report HTML KB | naive GROUP BY s |",
        "|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|",
        f"| {result['scans_table']:,} | {result['scans_month']:,} | {result['stamps_month']:,} | {result['lots']:,} | "
        f"{result['rollup_rows']:,} | {result['load_s']:.0f} | {result['rebuild_s']:.0f} | "
        f"{', '.join(f'{t:.3f}' for t in result['report_s'])} | {result['html_bytes'] / 1024:.0f} | "
        f"{result['naive_s']:.2f} |",
        "",
        "**Against the same-run baseline.**",
        "",
        f"- Report for one month, slowest run: **{worst:.3f} s** (target < {TARGET_SECONDS:.0f} s): **{passed}**.",
        f"- The naive GROUP BY over the scans table alone took **{ratio:,.0f}×** the whole report's median "
        f"({result['naive_s']:.2f} s against {median:.3f} s), and it grows with the scans; the report grows with "
        "days × products × lots × countries.",
    ]
    return doc_section(SECTION, SCRIPT, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL server; a scratch database is made")
    parser.add_argument("--scans", type=int, default=10_000_000, help="scans in the report month")
    parser.add_argument("--month", default="2026-06", help="the report month, YYYY-MM")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scan-rate", type=float, default=0.2, help="consumer scan rate of the simulation")
    parser.add_argument("--season-days", type=float, default=22.0, help="lots are activated over this many days")
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget-seconds", type=float, default=3600.0, help="give up past this")
    parser.add_argument("--write-doc", action="store_true", help=f"rewrite this benchmark's section of {DOC_PATH.name}")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("the benchmark needs PostgreSQL (the scans table is partitioned there)")
    when = dt.datetime.now(dt.UTC)
    try:
        result = run(args)
    except BenchError as exc:
        say(f"benchmark failed: {exc}")
        return 1
    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        result["server"] = conn.execute(text("SHOW server_version")).scalar_one().split()[0]
    engine.dispose()
    print(json.dumps(result, indent=2))
    if args.write_doc:
        write_doc(DOC_PATH, SECTION, _doc(args, argv, result, when))
        say(f"wrote the {SECTION} section of {DOC_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
