"""Benchmark: the national portal's outbox sender (`epcis.outbox.deliver_due`), in events per second, against the
fake portal of the tests (`tests/fake_portal.py`) on loopback.

Machines here are noisy, so the sender is stated as a ratio against a baseline measured in the same run: the same
events, in the same batches, built into the same EPCIS documents and POSTed straight with one httpx client, with
no database at all (the floor any sender pays for the HTTP and the JSON). The sender adds what makes delivery
durable: claiming each batch under a lease, reading the events' bodies, and recording the outcome.

The events are stored first (`epcis.store.record`, not timed). The fake portal skips its JSON-schema check by
default (it would dominate both sides alike); `--validate` turns it on.

    python -m loadtests.bench_outbox [--events 20000] [--batch 100] [--database-url URL] [--validate]

Exit status: 0 measured, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from epcis import outbox
from epcis.models import EpcisEvent, EventOrigin, OutboxStatus, PortalOutbox
from epcis.store import document, record
from identity.models import Organisation
from tem.core.db import Database
from tem.core.settings import Settings
from tem.core.time import utcnow
from tem.migrate import upgrade
from tests.fake_portal import FakePortal

TOKEN = "bench-portal-token"  # noqa: S105  (the fake portal's)


def _event(number: int) -> dict[str, Any]:
    when = dt.datetime(2026, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=7))) + dt.timedelta(seconds=number)
    return {
        "type": "ObjectEvent",
        "eventTime": when.isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "epcList": [],
        "quantityList": [
            {"epcClass": f"https://example.org/01/09506000134352/10/LOT{number}", "quantity": 20, "uom": "KGM"}
        ],
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
    }


def store_events(db: Database, count: int) -> None:
    with db.session() as session:
        org = Organisation(kind="packing_house", name="Bench", code="VN-BENCH-0001", province="Tiền Giang")
        session.add(org)
        session.flush()
        for number in range(count):
            record(session, _event(number), origin=EventOrigin.STAGE, organisation_id=org.id, objects=[])
            if number % 2000 == 1999:
                session.flush()
                session.expunge_all()
                session.add(org)


def baseline(db: Database, url: str, batch: int) -> tuple[int, float]:
    """The same documents, POSTed straight: bodies read up front (not timed), no database while sending."""
    with db.session() as session:
        bodies = list(session.scalars(select(EpcisEvent.body).order_by(EpcisEvent.id)))
    headers = {"Content-Type": "application/ld+json", "Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=30) as client:
        started = time.perf_counter()
        for start in range(0, len(bodies), batch):
            content = orjson.dumps(document(bodies[start : start + batch], utcnow()))
            response = client.post(f"{url}/capture", content=content, headers=headers)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return len(bodies), elapsed


def sender(db: Database, settings: Settings) -> tuple[int, float]:
    started = time.perf_counter()
    report = outbox.deliver_due(db, settings)
    elapsed = time.perf_counter() - started
    if outbox.status(db).pending:
        raise RuntimeError("the sender left events pending")
    return report.delivered, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--validate", action="store_true", help="the fake portal checks the JSON schema")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tem-bench-outbox-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'tem.sqlite3'}"
        upgrade(url)
        db = Database(url)
        portal = FakePortal(TOKEN, validate=args.validate).start()
        try:
            with db.session() as session:
                if session.scalar(select(PortalOutbox.id).limit(1)) is not None:
                    print("error: the database already holds outbox rows: give an empty one", file=sys.stderr)
                    return 2
            stored = time.perf_counter()
            store_events(db, args.events)
            print(f"stored {args.events} events in {time.perf_counter() - stored:.1f} s (not timed below)")
            settings = Settings(
                database_url=url,
                portal_url=portal.url,
                portal_token=TOKEN,
                portal_batch=args.batch,
                portal_timeout_seconds=30,
            )
            base_events, base_seconds = baseline(db, portal.url, args.batch)
            portal.received.clear()
            sent_events, sent_seconds = sender(db, settings)
            with db.session() as session:
                delivered = session.scalar(
                    select(PortalOutbox.id).where(PortalOutbox.status != OutboxStatus.DELIVERED.value).limit(1)
                )
            assert delivered is None
            assert len(portal.received) == args.events, len(portal.received)
        finally:
            portal.stop()
            db.dispose()
    base_rate = base_events / base_seconds
    sent_rate = sent_events / sent_seconds
    dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"database: {dialect}; batch: {args.batch} events per document; schema check: {args.validate}")
    print(f"baseline (httpx POSTs, no database): {base_events} events in {base_seconds:.2f} s = {base_rate:,.0f} ev/s")
    print(f"outbox sender (claim, POST, record):  {sent_events} events in {sent_seconds:.2f} s = {sent_rate:,.0f} ev/s")
    print(f"ratio sender / baseline: {sent_rate / base_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
