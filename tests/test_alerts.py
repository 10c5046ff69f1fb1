"""Alerts: dedup and bumping through the service, the ministry's workflow, parent links, and who sees what."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts import service
from alerts.models import Alert, AlertTransition
from detection.findings import SYSTEM_ACTOR
from tem.core.db import Database
from tem.core.errors import InvalidInput, NotFound
from tem.core.settings import Settings
from tests.alert_support import open_alert
from tests.conftest import World
from tests.helpers import GTIN_A, GTIN_B, ok, setup_packer

T0 = dt.datetime(2026, 6, 10, 8, 0, tzinfo=dt.UTC)


def _org_ids(settings: Settings) -> dict[str, int]:
    from identity.models import Organisation

    db = Database(settings.effective_database_url)
    with db.session() as session:
        ids = {code: id_ for id_, code in session.execute(select(Organisation.id, Organisation.code))}
    db.dispose()
    return ids


def _open(settings: Settings, **kwargs: Any) -> service.AlertChange:
    defaults: dict[str, Any] = {
        "type": "duplicate",
        "severity": "warning",
        "gtin": GTIN_A,
        "serial": 7,
        "lot_id": None,
        "organisation_id": None,
        "evidence": ["01J0000000000000000000000A"],
        "explanation_vi": "Tem được quét từ nhiều thiết bị.",
        "explanation_en": "The stamp was scanned from many devices.",
        "at": T0,
    }
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            change = open_alert(session, **{**defaults, **kwargs})
            session.expunge(change.alert)
        return change
    finally:
        db.dispose()


@pytest.fixture
def orgs(world: World, settings: Settings) -> dict[str, int]:
    return _org_ids(settings)


def test_the_same_finding_bumps_one_open_alert(world: World, settings: Settings, orgs: dict[str, int]) -> None:
    org = orgs["VN-TGPH-0001"]
    first = _open(settings, organisation_id=org)
    assert first.opened
    second = _open(
        settings,
        organisation_id=org,
        evidence=["01J0000000000000000000000B", "01J0000000000000000000000A"],
        at=T0 + dt.timedelta(hours=2),
    )
    assert not second.opened
    assert not second.raised
    assert second.alert.id == first.alert.id
    third = _open(settings, organisation_id=org, severity="critical", explanation_en="Now seen in two countries.")
    assert third.raised
    assert third.alert.id == first.alert.id

    body = ok(world.client.get(f"/api/v1/alerts/{first.alert.id}", headers=world.ministry))
    assert body["count"] == 3
    assert body["severity"] == "critical"
    assert body["explanation_en"] == "Now seen in two countries."
    assert body["evidence"] == ["01J0000000000000000000000A", "01J0000000000000000000000B"]
    assert body["first_seen_at"].startswith("2026-06-10T08:00:00")
    assert body["last_seen_at"].startswith("2026-06-10T10:00:00")
    assert body["serial"] == "7"
    assert body["scope"] == "stamp"
    assert body["packing_house"] == "VN-TGPH-0001"
    assert [t["to_status"] for t in body["transitions"]] == ["open"]

    # A lower severity later never lowers the alert, and another type or stamp is another alert.
    lower = _open(settings, organisation_id=org, severity="info")
    assert lower.alert.severity == "critical"
    assert _open(settings, organisation_id=org, type="impossible_travel").opened
    assert _open(settings, organisation_id=org, serial=8).opened


def test_evidence_is_capped_but_the_count_is_exact(world: World, settings: Settings) -> None:
    for batch in range(3):
        change = _open(settings, evidence=[f"scan-{batch}-{i}" for i in range(60)])
    assert change.alert.count == 3
    assert len(change.alert.evidence) == service.MAX_EVIDENCE
    assert change.alert.evidence[0] == "scan-0-0"
    assert change.alert.evidence[-1] == "scan-2-59"


def test_a_closed_alert_stays_closed_and_a_new_finding_opens_a_fresh_one(world: World, settings: Settings) -> None:
    first = _open(settings)
    c = world.client
    ok(
        c.post(
            f"/api/v1/alerts/{first.alert.id}/transitions",
            headers=world.ministry,
            json={"to": "false_positive", "comment": "A family sharing one box."},
        )
    )
    again = _open(settings)
    assert again.opened
    assert again.alert.id != first.alert.id
    old = ok(c.get(f"/api/v1/alerts/{first.alert.id}", headers=world.ministry))
    assert old["status"] == "false_positive"
    assert old["count"] == 1


def test_concurrent_findings_end_in_one_alert(world: World, settings: Settings) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            _open(settings, evidence=[f"scan-{i}"])
        except BaseException as exc:
            errors.append(exc)

    running = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert not errors
    db = Database(settings.effective_database_url)
    with db.session() as session:
        rows = session.scalars(select(Alert)).all()
        assert len(rows) == 1
        assert rows[0].count == threads
        assert sorted(rows[0].evidence) == sorted(f"scan-{i}" for i in range(threads))
        assert session.execute(select(func.count()).select_from(AlertTransition)).scalar_one() == 1
    db.dispose()


def test_bad_findings_are_refused(world: World, settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        _open(settings, type="Not A Type")
    with pytest.raises(InvalidInput):
        _open(settings, severity="fatal")
    with pytest.raises(InvalidInput):
        _open(settings, serial="0123")
    with pytest.raises(InvalidInput):
        _open(settings, gtin=None)
    with pytest.raises(InvalidInput):
        _open(settings, gtin=None, serial=None)
    with pytest.raises(InvalidInput):
        _open(settings, gtin="12345678901234")
    with pytest.raises(InvalidInput):
        _open(settings, at=dt.datetime(2026, 6, 1))  # the naive time is the point


def test_workflow_records_who_when_and_why(world: World, settings: Settings) -> None:
    alert_id = _open(settings).alert.id
    c = world.client
    path = f"/api/v1/alerts/{alert_id}/transitions"
    acked = ok(c.post(path, headers=world.ministry, json={"to": "acknowledged"}))
    assert acked["status"] == "acknowledged"
    # An acknowledged alert still collects new evidence.
    assert _open(settings).alert.id == alert_id
    # Closing needs a reason; moving back to open is not a transition.
    for body in ({"to": "resolved"}, {"to": "resolved", "comment": "  "}, {"to": "open"}, {"to": "closed"}):
        response = c.post(path, headers=world.ministry, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"]
    resolved = ok(c.post(path, headers=world.ministry, json={"to": "resolved", "comment": "Seized 40 fake boxes."}))
    assert resolved["status"] == "resolved"
    steps = resolved["transitions"]
    assert [(s["from_status"], s["to_status"]) for s in steps] == [
        (None, "open"),
        ("open", "acknowledged"),
        ("acknowledged", "resolved"),
    ]
    assert steps[2]["comment"] == "Seized 40 fake boxes."
    assert "ministry BNNMT" in steps[2]["actor"]
    assert steps[0]["actor"] == SYSTEM_ACTOR
    # Closed is final: a second close is a conflict, not a 500.
    again = c.post(path, headers=world.ministry, json={"to": "false_positive", "comment": "changed my mind"})
    assert again.status_code == 409
    assert "resolved" in again.json()["error"]["message"]
    assert (
        c.post("/api/v1/alerts/999999/transitions", headers=world.ministry, json={"to": "acknowledged"}).status_code
        == 404
    )


def test_an_open_alert_can_be_closed_directly(world: World, settings: Settings) -> None:
    alert_id = _open(settings).alert.id
    body = ok(
        world.client.post(
            f"/api/v1/alerts/{alert_id}/transitions",
            headers=world.ministry,
            json={"to": "false_positive", "comment": "Test scans by the packing house."},
        )
    )
    assert body["status"] == "false_positive"


def test_who_sees_and_works_alerts(world: World, settings: Settings, orgs: dict[str, int]) -> None:
    own = _open(settings, organisation_id=orgs["VN-TGPH-0001"]).alert.id
    other = _open(settings, organisation_id=orgs["VN-DLPH-0002"], gtin=GTIN_B).alert.id
    orphan = _open(settings, gtin=None, serial=None, subject="HTTP://FAKE.EXAMPLE/x", organisation_id=None).alert.id
    c = world.client

    assert {a["id"] for a in ok(c.get("/api/v1/alerts", headers=world.ministry))} == {own, other, orphan}
    assert [a["id"] for a in ok(c.get("/api/v1/alerts", headers=world.packer))] == [own]
    assert [a["id"] for a in ok(c.get("/api/v1/alerts", headers=world.other_packer))] == [other]
    # A packer cannot widen its view with a filter, and another house's alert is simply not there.
    assert ok(c.get(f"/api/v1/alerts?gtin={GTIN_B}", headers=world.packer)) == []
    assert c.get(f"/api/v1/alerts/{other}", headers=world.packer).status_code == 404
    assert ok(c.get(f"/api/v1/alerts/{own}", headers=world.packer))["id"] == own
    # Packers read; only the ministry works alerts.
    forbidden = c.post(f"/api/v1/alerts/{own}/transitions", headers=world.packer, json={"to": "acknowledged"})
    assert forbidden.status_code == 403
    # Inspectors see alerts only through verify; nobody without a token sees anything.
    assert c.get("/api/v1/alerts", headers=world.inspector).status_code == 403
    assert c.get(f"/api/v1/alerts/{own}", headers=world.inspector).status_code == 403
    assert c.get("/api/v1/alerts").status_code == 401
    assert c.get("/api/v1/alerts", headers={"Authorization": "Bearer tem_nope"}).status_code == 401
    assert c.post(f"/api/v1/alerts/{own}/transitions", json={"to": "acknowledged"}).status_code == 401


def test_list_filters(world: World, settings: Settings, orgs: dict[str, int]) -> None:
    org = orgs["VN-TGPH-0001"]
    a = _open(settings, organisation_id=org, serial=1, severity="critical", at=T0).alert.id
    b = _open(settings, organisation_id=org, serial=2, type="off_route", at=T0 + dt.timedelta(days=1)).alert.id
    c_id = _open(settings, organisation_id=org, serial=3, severity="info", at=T0 + dt.timedelta(days=2)).alert.id
    c = world.client
    ok(c.post(f"/api/v1/alerts/{c_id}/transitions", headers=world.ministry, json={"to": "acknowledged"}))

    def ids(query: str) -> list[int]:
        return [x["id"] for x in ok(c.get(f"/api/v1/alerts?{query}", headers=world.ministry))]

    assert ids("") == [c_id, b, a]  # newest activity first
    assert ids("status=open") == [b, a]
    assert ids("status=open&status=acknowledged") == [c_id, b, a]
    assert ids("type=off_route") == [b]
    assert ids("severity=critical&severity=info") == [c_id, a]
    assert ids("serial=2") == [b]
    assert ids(f"gtin={GTIN_A[1:]}") == [c_id, b, a]  # a GTIN-13 is padded like everywhere else
    assert ids("scope=lot") == []
    assert ids("since=2026-06-11T00:00:00Z") == [c_id, b]
    assert ids("until=2026-06-11T00:00:00%2B00:00") == [a]
    assert ids("limit=1&offset=1") == [b]
    for bad in (
        "status=nope",
        "severity=fatal",
        "scope=planet",
        "serial=0012",
        "gtin=123",
        "type=Bad%20Type",
        "limit=0",
        "limit=501",
        "since=2026-06-11T00:00:00",
        "since=yesterday",
        "lot_id=0",
    ):
        response = c.get(f"/api/v1/alerts?{bad}", headers=world.ministry)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["message"]
    assert c.get("/api/v1/alerts/0", headers=world.ministry).status_code == 422
    assert c.get("/api/v1/alerts/99999999999999", headers=world.ministry).status_code == 422
    assert c.get("/api/v1/alerts/12345", headers=world.ministry).status_code == 404


def test_lot_and_packing_house_alerts_link_to_the_alerts_beneath(
    world: World, settings: Settings, orgs: dict[str, int]
) -> None:
    c = world.client
    made = setup_packer(c, world.packer)
    lot_id = made["lot"]["id"]
    org = orgs["VN-TGPH-0001"]
    stamps = [_open(settings, organisation_id=org, lot_id=lot_id, serial=n).alert.id for n in (1, 2, 3)]
    lot_alert = _open(
        settings,
        type="lot_escalation",
        severity="critical",
        gtin=None,
        serial=None,
        lot_id=lot_id,
        organisation_id=org,
        evidence=[],
    ).alert
    assert lot_alert.scope == "lot"
    house = _open(
        settings, type="packing_house_escalation", gtin=None, serial=None, organisation_id=org, evidence=[]
    ).alert
    assert house.scope == "packing_house"

    db = Database(settings.effective_database_url)
    with db.session() as session:
        assert service.link_children(session, lot_alert.id, stamps) == 3
        assert service.link_children(session, house.id, [lot_alert.id]) == 1
        with pytest.raises(InvalidInput):
            service.link_children(session, stamps[0], [lot_alert.id])  # a lot alert cannot sit under a stamp
        with pytest.raises(NotFound):
            service.link_children(session, lot_alert.id, [123456])
    db.dispose()
    # A later stamp finding can name its parent when it opens.
    fourth = _open(settings, organisation_id=org, lot_id=lot_id, serial=4, parent_id=lot_alert.id).alert.id

    body = ok(c.get(f"/api/v1/alerts/{lot_alert.id}", headers=world.ministry))
    assert body["parent_id"] == house.id
    assert body["lot"] == "LOT-1"
    assert [child["id"] for child in body["children"]] == [*stamps, fourth]
    assert ok(c.get(f"/api/v1/alerts/{stamps[0]}", headers=world.packer))["parent_id"] == lot_alert.id
    listed = ok(c.get(f"/api/v1/alerts?parent_id={lot_alert.id}", headers=world.packer))
    assert sorted(a["id"] for a in listed) == sorted([*stamps, fourth])
    top = ok(c.get(f"/api/v1/alerts/{house.id}", headers=world.packer))
    assert [child["id"] for child in top["children"]] == [lot_alert.id]


def test_alert_routes_are_in_the_api_docs(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/alerts" in paths
    assert "/api/v1/alerts/{alert_id}/transitions" in paths
