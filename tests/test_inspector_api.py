"""The inspector API: verify with live state, idempotent inspections, alerts from inspector reports, roles."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts.models import Alert
from inspector.models import Inspection
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import World
from tests.helpers import GTIN_A, ok
from tests.resolver_helpers import Stamps, flush, issue_and_activate, scans

HANOI = {"lat": "21.0285", "lon": "105.8542", "accuracy": "25"}


def _verify(world: World, uri: str, who: dict[str, str] | None = None, **params: str) -> Any:
    query = "&".join(f"{k}={quote(v)}" for k, v in {"uri": uri, **params}.items())
    return world.client.get(f"/api/v1/stamps/verify?{query}", headers=who if who is not None else world.inspector)


def _tampered(uri: str) -> str:
    """Serial 1's signature on serial 2: a copy that changed the number."""
    return uri.replace("/21/1?", "/21/2?")


def _record(uri: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "uri": uri,
        "result": "genuine",
        "verdict": "genuine",
        "verdict_source": "online",
        "note": "Chợ Long Biên, sạp 12",
        "latitude": 21.0285,
        "longitude": 105.8542,
        "accuracy_m": 25,
        "inspected_at": "2026-06-10T09:30:00+07:00",
    }
    return {**body, **extra}


def _count(settings: Settings, model: type[Any]) -> int:
    db = Database(settings.effective_database_url)
    with db.session() as session:
        value = int(session.execute(select(func.count()).select_from(model)).scalar_one())
    db.dispose()
    return value


@pytest.fixture
def stamps(world: World) -> Stamps:
    return issue_and_activate(world)


# Verify


def test_verify_shows_the_full_state_and_counts_as_an_inspector_scan(world: World, stamps: Stamps) -> None:
    body = ok(_verify(world, stamps.uris[0], **HANOI))
    assert body["verdict"] == "genuine"
    assert body["state"] == "activated"
    assert body["signature"] == "valid"
    assert body["gtin"] == GTIN_A
    assert body["serial"] == "1"
    assert body["product"]["name_en"] == "Ri6 durian"
    assert body["lot"]["code"] == "LOT-1"
    assert body["lot"]["destination_markets"] == ["CN"]
    assert body["packing_house"]["code"] == "VN-TGPH-0001"
    assert body["packing_house"]["name"] == "Cơ sở đóng gói A"
    assert body["history"]["count"] == 1
    assert body["history"]["first_place"]["latitude"] == pytest.approx(21.0285)
    assert body["alerts"] == []
    assert len(body["scan_id"]) == 26

    # A consumer scan later, then the inspector again: the history shows both, the log knows who was who.
    world.client.get(stamps.uris[0].split("8000", 1)[1], follow_redirects=False)
    flush(world.client)
    again = ok(_verify(world, stamps.uris[0], world.ministry))
    assert again["history"]["count"] == 3
    assert [s["role"] for s in again["history"]["recent_scans"]] == ["consumer", "inspector"]
    assert again["history"]["recent_scans"][1]["place"]["accuracy_km"] == pytest.approx(0.025)
    flush(world.client)
    logged = scans(world.client)
    assert [row.role for row in logged] == ["inspector", "consumer", "inspector"]
    inspector_row = logged[0]
    assert inspector_row.id == body["scan_id"]
    assert inspector_row.location_source == "device"
    assert inspector_row.latitude == pytest.approx(21.0285)
    assert inspector_row.device_id.startswith("inspector.")
    assert inspector_row.ip_hash
    assert "testclient" not in inspector_row.ip_hash


def test_verify_verdicts_follow_the_registry(world: World, stamps: Stamps) -> None:
    c = world.client
    forged = ok(_verify(world, _tampered(stamps.uris[0])))
    assert (forged["verdict"], forged["state"], forged["signature"]) == ("counterfeit", "forged", "bad_signature")
    assert forged["history"] is None
    assert forged["scan_id"] is None
    assert forged["product"]["gtin"] == GTIN_A  # what the fake claims to be

    not_activated = ok(_verify(world, stamps.uris[14]))
    assert (not_activated["verdict"], not_activated["state"]) == ("suspect", "not_activated")
    assert not_activated["lot"] is None

    ok(
        c.post(
            "/api/v1/revocations",
            headers=world.packer,
            json={
                "gtin": GTIN_A,
                "first_serial": 3,
                "last_serial": 3,
                "category": "recalled",
                "reason": "Cadmium above the limit",
            },
        ),
        201,
    )
    revoked = ok(_verify(world, stamps.uris[2]))
    assert (revoked["verdict"], revoked["state"]) == ("counterfeit", "revoked")
    assert "(recalled): Cadmium above the limit" in revoked["reason"]  # inspectors are officials: they see the note

    unknown_key = stamps.uris[0].replace("k=", "k=ZZ")
    assert ok(_verify(world, unknown_key))["signature"] == "unknown_key"

    for text in ("not a stamp", "https://example.vn/01/123/21/1?k=A&s=B", stamps.uris[0] + "#x"):
        malformed = ok(_verify(world, text))
        assert (malformed["verdict"], malformed["state"]) == ("unknown", "format_error")
        assert malformed["reason"].startswith("this is not a TEM stamp")
    flush(c)
    assert {row.serial for row in scans(c)} == {3, 15}  # only stamps with a genuine signature are logged


def test_verify_refuses_bad_input_and_other_roles(world: World, stamps: Stamps) -> None:
    uri = stamps.uris[0]
    c = world.client
    assert _verify(world, uri, world.packer).status_code == 403
    assert _verify(world, uri, {}).status_code == 401
    assert _verify(world, uri, {"Authorization": "Bearer tem_unknown"}).status_code == 401
    assert _verify(world, uri, {"Authorization": "Basic abc"}).status_code == 401
    for params in ({"lat": "91", "lon": "0"}, {"lat": "10"}, {"accuracy": "5"}, {"lat": "x", "lon": "1"}):
        response = _verify(world, uri, **params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["message"]
    assert c.get("/api/v1/stamps/verify", headers=world.inspector).status_code == 422
    assert _verify(world, "x" * 5000).status_code == 414  # refused before any work


# Inspections


def test_an_inspection_is_stored_once_whatever_the_retries(world: World, stamps: Stamps, settings: Settings) -> None:
    c = world.client
    body = _record(stamps.uris[0])
    first = c.post("/api/v1/inspections", headers=world.inspector, json=body)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["signature"] == "valid"
    assert created["serial"] == "1"
    assert created["result"] == "genuine"
    assert created["alert_id"] is None
    assert created["inspected_at"].startswith("2026-06-10T02:30:00")  # stored in UTC
    for _ in range(3):
        retry = c.post("/api/v1/inspections", headers=world.inspector, json=body)
        assert retry.status_code == 200
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == created
    assert _count(settings, Inspection) == 1

    # The key may come as a header instead; the same key with another body is a conflict.
    header_key = str(uuid.uuid4())
    without = {k: v for k, v in _record(stamps.uris[1]).items() if k != "client_id"}
    by_header = c.post("/api/v1/inspections", headers={**world.inspector, "Idempotency-Key": header_key}, json=without)
    assert by_header.status_code == 201
    assert by_header.json()["client_id"] == header_key
    changed = c.post("/api/v1/inspections", headers=world.inspector, json={**body, "note": "something else"})
    assert changed.status_code == 409
    assert "idempotency key" in changed.json()["error"]["message"]
    assert _count(settings, Inspection) == 2


def test_concurrent_uploads_of_one_record_store_it_once(world: World, stamps: Stamps, settings: Settings) -> None:
    body = _record(stamps.uris[0], result="counterfeit")
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def upload() -> None:
        barrier.wait()
        statuses.append(world.client.post("/api/v1/inspections", headers=world.inspector, json=body).status_code)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 200, 200, 201]
    assert _count(settings, Inspection) == 1
    db = Database(settings.effective_database_url)
    with db.session() as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.count == 1  # a retried record never bumps its alert twice
    db.dispose()


def test_counterfeit_and_seized_results_open_alerts_for_the_ministry(world: World, stamps: Stamps) -> None:
    c = world.client
    online = ok(_verify(world, stamps.uris[4], **HANOI))
    made = ok(
        c.post(
            "/api/v1/inspections",
            headers=world.inspector,
            json=_record(stamps.uris[4], result="counterfeit", verdict="genuine", scan_id=online["scan_id"]),
        ),
        201,
    )
    assert made["alert_id"] is not None
    alert = ok(c.get(f"/api/v1/alerts/{made['alert_id']}", headers=world.ministry))
    assert (alert["type"], alert["severity"], alert["status"]) == ("inspector_counterfeit", "critical", "open")
    assert (alert["gtin"], alert["serial"], alert["lot"], alert["packing_house"]) == (
        GTIN_A,
        "5",
        "LOT-1",
        "VN-TGPH-0001",
    )
    assert alert["evidence"] == [online["scan_id"], f"inspection:{made['id']}"]
    assert "counterfeit" in alert["explanation_en"]
    assert "hàng giả" in alert["explanation_vi"]
    assert "Long Biên" not in alert["explanation_en"]  # the inspector's note stays with the ministry
    assert "inspector" in alert["transitions"][0]["actor"]

    # The packing house whose stamp it is sees it; the other does not.
    assert [a["id"] for a in ok(c.get("/api/v1/alerts", headers=world.packer))] == [alert["id"]]
    assert ok(c.get("/api/v1/alerts", headers=world.other_packer)) == []

    # A second report on the same stamp bumps the same alert; seized is its own alert type.
    second = ok(
        c.post("/api/v1/inspections", headers=world.inspector, json=_record(stamps.uris[4], result="counterfeit")), 201
    )
    assert second["alert_id"] == made["alert_id"]
    seized = ok(
        c.post("/api/v1/inspections", headers=world.inspector, json=_record(stamps.uris[4], result="seized")), 201
    )
    assert seized["alert_id"] != made["alert_id"]
    bumped = ok(c.get(f"/api/v1/alerts/{made['alert_id']}", headers=world.ministry))
    assert bumped["count"] == 2
    seized_alert = ok(c.get(f"/api/v1/alerts/{seized['alert_id']}", headers=world.ministry))
    assert (seized_alert["type"], seized_alert["severity"]) == ("inspector_seized", "warning")

    # Verify now shows the alerts, and the critical one makes the stamp counterfeit for inspectors.
    after = ok(_verify(world, stamps.uris[4]))
    assert after["verdict"] == "counterfeit"
    assert {a["type"] for a in after["alerts"]} == {"inspector_counterfeit", "inspector_seized"}
    assert after["alerts"][0]["severity"] == "critical"

    # A fake code that is not even a TEM stamp still reaches the ministry.
    fake = ok(
        c.post(
            "/api/v1/inspections",
            headers=world.inspector,
            json=_record("HTTP://FAKE.EXAMPLE/qr/123", result="counterfeit"),
        ),
        201,
    )
    assert fake["signature"] == "format_error"
    assert fake["gtin"] is None
    fake_alert = ok(c.get(f"/api/v1/alerts/{fake['alert_id']}", headers=world.ministry))
    assert fake_alert["packing_house"] is None
    assert "not a valid TEM stamp" in fake_alert["explanation_en"]
    assert fake_alert["id"] not in [a["id"] for a in ok(c.get("/api/v1/alerts", headers=world.packer))]

    # A forged stamp claiming this packing house's GTIN is shown to that packing house too.
    forged = ok(
        c.post(
            "/api/v1/inspections",
            headers=world.inspector,
            json=_record(_tampered(stamps.uris[0]), result="counterfeit"),
        ),
        201,
    )
    assert forged["signature"] == "bad_signature"
    forged_alert = ok(c.get(f"/api/v1/alerts/{forged['alert_id']}", headers=world.packer))
    assert forged_alert["lot"] is None
    assert forged_alert["serial"] == "2"


def test_who_lists_inspections(world: World, stamps: Stamps, settings: Settings) -> None:
    from identity.principal import operator
    from issuer import schemas, service

    db = Database(settings.effective_database_url)
    with db.session() as session:
        _row, token = service.create_token(
            session,
            operator("test"),
            schemas.TokenCreate(organisation="QLTT-HN", role="inspector", name="second inspector"),  # type: ignore[arg-type]
        )
    db.dispose()
    second = {"Authorization": f"Bearer {token}"}
    c = world.client
    mine = ok(c.post("/api/v1/inspections", headers=world.inspector, json=_record(stamps.uris[0])), 201)
    theirs = ok(
        c.post(
            "/api/v1/inspections",
            headers=second,
            json=_record(stamps.uris[1], result="suspect", inspected_at="2026-06-11T09:00:00+07:00"),
        ),
        201,
    )
    ministry = ok(
        c.post(
            "/api/v1/inspections",
            headers=world.ministry,
            json=_record(stamps.uris[2], inspected_at="2026-06-12T09:00:00+07:00"),
        ),
        201,
    )
    assert [i["id"] for i in ok(c.get("/api/v1/inspections", headers=world.inspector))] == [mine["id"]]
    assert [i["id"] for i in ok(c.get("/api/v1/inspections", headers=second))] == [theirs["id"]]
    every = ok(c.get("/api/v1/inspections", headers=world.ministry))
    assert [i["id"] for i in every] == [ministry["id"], theirs["id"], mine["id"]]
    # An inspector cannot look at a colleague's records through the ministry's filter.
    assert [i["id"] for i in ok(c.get(f"/api/v1/inspections?inspector_id={9999}", headers=world.inspector))] == [
        mine["id"]
    ]
    one = ok(c.get("/api/v1/inspections?result=suspect", headers=world.ministry))
    assert [i["id"] for i in one] == [theirs["id"]]
    ranged = ok(
        c.get(
            "/api/v1/inspections?since=2026-06-11T00:00:00%2B07:00&until=2026-06-12T00:00:00Z", headers=world.ministry
        )
    )
    assert [i["id"] for i in ranged] == [theirs["id"]]
    assert len(ok(c.get(f"/api/v1/inspections?gtin={GTIN_A}&limit=2", headers=world.ministry))) == 2
    # The same client id from two organisations is two records (keys are per organisation).
    shared = _record(stamps.uris[3])
    ok(c.post("/api/v1/inspections", headers=world.inspector, json=shared), 201)
    ok(c.post("/api/v1/inspections", headers=world.ministry, json=shared), 201)
    # Packers do not record or read inspections.
    assert c.get("/api/v1/inspections", headers=world.packer).status_code == 403
    assert c.post("/api/v1/inspections", headers=world.packer, json=_record(stamps.uris[0])).status_code == 403
    assert c.get("/api/v1/inspections").status_code == 401
    for bad in ("result=lost", "since=2026-06-11T00:00:00", "gtin=12", "limit=0", "inspector_id=0"):
        assert c.get(f"/api/v1/inspections?{bad}", headers=world.ministry).status_code == 422, bad


def test_bad_inspection_records_are_refused_with_a_message(world: World, stamps: Stamps) -> None:
    c = world.client
    uri = stamps.uris[0]
    now = dt.datetime.now(dt.UTC)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (_record(uri, result="arrested"), {}),
        (_record(uri, verdict="maybe"), {}),
        (_record(uri, verdict_source="psychic"), {}),
        (_record(uri, inspected_at="2026-06-10T09:30:00"), {}),
        (_record(uri, inspected_at=(now + dt.timedelta(days=3)).isoformat()), {}),
        (_record(uri, inspected_at=(now - dt.timedelta(days=400)).isoformat()), {}),
        (_record(uri, latitude=None), {}),
        (_record(uri, latitude=None, longitude=None), {}),
        (_record(uri, latitude=95), {}),
        (_record(uri, note="x" * 2001), {}),
        ({**_record(uri), "uri": ""}, {}),
        ({**_record(uri), "uri": "H" * 2049}, {}),
        (_record(uri, client_id="short"), {}),
        (_record(uri, client_id="has spaces in it"), {}),
        (_record(uri, scan_id="not-a-scan-id"), {}),
        (_record(uri, extra_field=1), {}),
        ({k: v for k, v in _record(uri).items() if k != "client_id"}, {}),
        ({k: v for k, v in _record(uri).items() if k != "client_id"}, {"Idempotency-Key": "bad key!"}),
        (_record(uri, client_id="aaaaaaaa-1"), {"Idempotency-Key": "bbbbbbbb-2"}),
        (_record(uri), {"Idempotency-Key": "k" * 65}),
    ]
    for body, headers in cases:
        response = c.post("/api/v1/inspections", headers={**world.inspector, **headers}, json=body)
        assert response.status_code == 422, (body, headers, response.text)
        assert response.json()["error"]["message"]
    broken = c.post(
        "/api/v1/inspections", headers={**world.inspector, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert broken.status_code == 400


# The app's session cookie


def _login(client: TestClient, token_header: dict[str, str]) -> Any:
    token = token_header["Authorization"].removeprefix("Bearer ")
    return client.post("/inspect/login", json={"token": token}, headers={"X-Tem-Inspect": "1"})


def test_login_exchanges_the_token_for_an_opaque_session_cookie(
    world: World, stamps: Stamps, settings: Settings
) -> None:
    c = world.client
    response = _login(c, world.inspector)
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["role"] == "inspector"
    assert me["organisation"] == "QLTT-HN"
    cookie = response.headers["set-cookie"]
    parts = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in parts
    assert "samesite=strict" in parts
    assert "path=/" in parts
    assert "secure" not in parts  # plain http in this test; see the https test below
    assert any(p.startswith("max-age=") and 0 < int(p.split("=")[1]) <= 12 * 3600 for p in parts)
    assert any(p.startswith("expires=") for p in parts)
    session_id = cookie.split(";")[0].split("=", 1)[1]
    token = world.inspector["Authorization"].removeprefix("Bearer ")
    assert session_id != token
    assert token not in cookie
    db = Database(settings.effective_database_url)
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT session_hash FROM inspector_sessions").scalars().all()
    db.dispose()
    assert len(stored) == 1
    assert session_id not in stored[0]

    # The cookie works for the inspector routes (reads freely; writes need the app's header).
    assert ok(c.get("/inspect/me"))["name"] == me["name"]
    assert ok(_verify(world, stamps.uris[0], {}))["verdict"] == "genuine"
    plain = c.post("/api/v1/inspections", json=_record(stamps.uris[0]))
    assert plain.status_code == 403
    assert "x-tem-inspect" in plain.json()["error"]["message"]
    ok(c.post("/api/v1/inspections", json=_record(stamps.uris[0]), headers={"X-Tem-Inspect": "1"}), 201)
    # The cookie is an inspector's: it does not open the ministry's or the packers' routes.
    assert c.get("/api/v1/alerts").status_code == 403
    assert c.get("/api/v1/lots").status_code == 403  # a session has its token's role, and no more

    logout = c.post("/inspect/logout")
    assert logout.status_code == 204
    assert 'tem_inspect=""' in logout.headers["set-cookie"] or "max-age=0" in logout.headers["set-cookie"].lower()
    c.cookies.set("tem_inspect", session_id)  # someone kept the old cookie: it no longer works
    assert c.get("/inspect/me").status_code == 401
    assert _verify(world, stamps.uris[0], {}).status_code == 401


def test_login_is_for_inspectors_and_the_ministry(world: World) -> None:
    c = world.client
    assert _login(c, world.packer).status_code == 403
    assert _login(c, {"Authorization": "Bearer tem_not_a_real_token"}).status_code == 401
    assert ok(_login(c, world.ministry))["role"] == "ministry"
    assert c.post("/inspect/login", json={"token": "tem_whatever_1234"}).status_code == 403  # no app header
    assert c.post("/inspect/login", json={"token": ""}, headers={"X-Tem-Inspect": "1"}).status_code == 422
    assert c.post("/inspect/login", json={}, headers={"X-Tem-Inspect": "1"}).status_code == 422
    c.cookies.clear()
    c.cookies.set("tem_inspect", "x" * 43)
    assert c.get("/inspect/me").status_code == 401


def test_sessions_expire_and_die_with_their_token(world: World, settings: Settings) -> None:
    c = world.client
    ok(_login(c, world.inspector))
    db = Database(settings.effective_database_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE api_tokens SET revoked_at = created_at WHERE role = 'inspector'")
    assert c.get("/inspect/me").status_code == 401
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE api_tokens SET revoked_at = NULL")
    assert c.get("/inspect/me").status_code == 200
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE inspector_sessions SET expires_at = created_at")
    db.dispose()
    assert c.get("/inspect/me").status_code == 401


def test_the_cookie_is_secure_behind_https(settings: Settings, world: World) -> None:
    from tem.app import create_app

    with TestClient(create_app(settings), base_url="https://inspect.example.vn") as secure_client:
        response = _login(secure_client, world.inspector)
        assert response.status_code == 200
        assert "secure" in [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
