"""`tem worker`'s side of the scan log: an entry reads back as the scan it was written from, and a batch is
written once with every column as logged, on SQLite and on PostgreSQL (where it travels as one JSON document)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from detection.engine.model import LocationSource, Place, Role, Verdict
from detection.scans import ScanEvent, new_scan_id
from resolver.models import ScanRecord
from resolver.worker import ScanWriter
from tem.core.db import Database
from tem.core.settings import Settings
from tests.helpers import GTIN_A


def _event(serial: int, at: float, place: Place | None, findings: str | None = None) -> ScanEvent:
    return ScanEvent(
        scan_id=new_scan_id(at),
        at=at,
        gtin=GTIN_A,
        serial=serial,
        kid="K1",
        state="activated",
        verdict=Verdict.SUSPECT if findings else Verdict.GENUINE,
        role=Role.CONSUMER,
        device_id="AbCdEfGhIjKlMnOpQrStUv.1a2b3c4d",
        ip_hash="0123456789abcdef0123456789abcdef",
        place=place,
        lot_id=3,
        findings=findings,
    )


def test_a_batch_is_written_once_with_every_value_as_logged(settings: Settings) -> None:
    shanghai = Place("CN", "上海市", '上海 "浦东" \\ 新区', 31.230416, 121.473701, 0.015, LocationSource.DEVICE)
    events = [
        _event(1, 1_780_272_000.123, shanghai, "travel:critical,duplicate:warning"),
        _event(2, 1_780_272_001.5, Place("VN", None, "Hà Nội", None, None, 200.0, LocationSource.IP_DATABASE)),
        _event(3, 1_780_272_002.0, None),
    ]
    db = Database(settings.effective_database_url)
    try:
        writer = ScanWriter(db)
        assert writer.write(events) == 3
        assert writer.write([*events, _event(4, 1_780_272_003.0, None)]) == 1  # read again: only the new one
        with db.engine.connect() as conn:
            rows = {row.serial: row for row in conn.execute(select(ScanRecord))}
    finally:
        db.dispose()
    assert sorted(rows) == [1, 2, 3, 4]
    first = rows[1]
    assert first.id == events[0].scan_id
    assert first.at == dt.datetime(2026, 6, 1, 0, 0, 0, 123000, tzinfo=dt.UTC)
    assert (first.country, first.region, first.city) == ("CN", "上海市", '上海 "浦东" \\ 新区')
    assert (first.latitude, first.longitude, first.accuracy_km) == (31.230416, 121.473701, 0.015)
    assert (first.location_source, first.verdict, first.role) == ("device", "suspect", "consumer")
    assert first.findings == "travel:critical,duplicate:warning"
    assert (first.device_id, first.ip_hash, first.lot_id, first.kid) == (
        "AbCdEfGhIjKlMnOpQrStUv.1a2b3c4d",
        "0123456789abcdef0123456789abcdef",
        3,
        "K1",
    )
    assert (rows[2].city, rows[2].latitude, rows[2].accuracy_km, rows[2].location_source) == (
        "Hà Nội",
        None,
        200.0,
        "ip_db",
    )
    assert (rows[3].country, rows[3].latitude, rows[3].findings) == (None, None, None)


def test_a_scan_log_entry_reads_back_as_the_scan_it_was_written_from() -> None:
    judged = _event(5, 1_780_272_000.25, Place("CN", "上海市", "浦东", 31.2, 121.5, 0.02, LocationSource.DEVICE))
    judged.findings, judged.newly, judged.place_vote = "travel:critical", 3, (31.2, 121.5)
    judged.alerts = ({"type": "travel", "severity": "critical", "evidence": [judged.scan_id], "en": "far", "vi": "xa"},)
    judged.lot_code, judged.house = "TG2606A", "VN-TGPH-0001"
    plain = _event(6, 1_780_272_001.0, None)
    assert ScanEvent.from_json(judged.to_json()) == judged
    assert ScanEvent.from_json(plain.to_json()) == plain
    assert b"findings" not in plain.to_json()  # detection's fields only when set
    assert b"region" not in Place("VN", None, "Hà Nội").to_json().encode()  # a place without its unset fields
