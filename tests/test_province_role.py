"""The `province` role: a province authority's officer reads and works the alerts of its own province's packing
houses (API and the ministry's pages), never another province's, and none of the ministry's own actions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from identity.models import Organisation
from identity.principal import operator
from issuer import schemas, service
from tem.core.db import Database
from tem.core.errors import InvalidInput
from tem.core.settings import Settings
from tests.alert_support import open_alert
from tests.conftest import World

VN = dt.timezone(dt.timedelta(hours=7))
JUNE = {"since": "2026-06-01", "until": "2026-06-30", "lang": "en"}


def _token(db: Database, settings: Settings, kind: str, code: str, province: str, role: str) -> dict[str, str]:
    with db.session() as session:
        service.create_organisation(
            session,
            settings,
            operator("test"),
            schemas.OrganisationCreate(kind=kind, name=f"Sở {province}", code=code, province=province),  # type: ignore[arg-type]
        )
        _row, token = service.create_token(
            session,
            operator("test"),
            schemas.TokenCreate(organisation=code, role=role, name=f"{role} {code}"),  # type: ignore[arg-type]
        )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def data(world: World, settings: Settings) -> dict[str, Any]:
    """House A is in Tiền Giang (filed under Đồng Tháp), house B in Đắk Lắk; one alert on each in June 2026, and a
    province officer of Đồng Tháp."""
    db = Database(settings.effective_database_url)
    officer = _token(db, settings, "province_authority", "SO-DT", "Tiền Giang", "province")
    with db.session() as session:
        orgs = {code: i for i, code in session.execute(select(Organisation.id, Organisation.code))}
        ids = {}
        for name, code, day in (("own", "VN-TGPH-0001", 10), ("other", "VN-DLPH-0002", 12)):
            ids[name] = open_alert(
                session,
                type="off_route",
                severity="warning",
                organisation_id=orgs[code],
                evidence=[],
                explanation_vi="Lô hàng đi sai tuyến.",
                explanation_en="The lot went off its route.",
                at=dt.datetime(2026, 6, day, 12, tzinfo=VN),
            ).alert.id
    db.dispose()
    return {"ids": ids, "officer": officer, "db": db}


def test_only_a_province_authority_holds_the_province_role(world: World, settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    with pytest.raises(InvalidInput, match="province_authority"):
        _token(db, settings, "packing_house", "VN-TGPH-0009", "Đắk Lắk", "province")
    db.dispose()


def test_the_api_shows_a_province_officer_its_own_province_only(world: World, data: dict[str, Any]) -> None:
    client, officer, ids = world.client, data["officer"], data["ids"]
    listed = client.get("/api/v1/alerts", headers=officer)
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()] == [ids["own"]]
    assert listed.json()[0]["packing_house"] == "VN-TGPH-0001"
    assert client.get(f"/api/v1/alerts/{ids['own']}", headers=officer).status_code == 200
    assert client.get(f"/api/v1/alerts/{ids['other']}", headers=officer).status_code == 404
    # Its own filters narrow, never widen.
    assert (
        client.get("/api/v1/alerts", headers=officer, params={"scope": "packing_house"}).json()[0]["id"] == ids["own"]
    )
    # The ministry sees both; a packer still sees only its own.
    assert {a["id"] for a in client.get("/api/v1/alerts", headers=world.ministry).json()} == set(ids.values())
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=world.other_packer).json()] == [ids["other"]]
    assert client.get(f"/api/v1/alerts/{ids['own']}", headers=world.other_packer).status_code == 404


def test_a_province_officer_works_its_own_alerts(world: World, data: dict[str, Any]) -> None:
    client, officer, ids = world.client, data["officer"], data["ids"]
    moved = client.post(f"/api/v1/alerts/{ids['own']}/transitions", headers=officer, json={"to": "acknowledged"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "acknowledged"
    assert moved.json()["transitions"][-1]["actor"].endswith("province SO-DT")
    other = client.post(f"/api/v1/alerts/{ids['other']}/transitions", headers=officer, json={"to": "acknowledged"})
    assert other.status_code == 404
    assert client.get(f"/api/v1/alerts/{ids['other']}", headers=world.ministry).json()["status"] == "open"
    # Packers still only read.
    refused = client.post(f"/api/v1/alerts/{ids['own']}/transitions", headers=world.packer, json={"to": "resolved"})
    assert refused.status_code == 403


def test_the_ministry_pages_show_a_province_officer_its_own_province_only(world: World, data: dict[str, Any]) -> None:
    client, officer, ids = world.client, data["officer"], data["ids"]
    page = client.get("/ministry", headers=officer, params=JUNE)
    assert page.status_code == 200, page.text
    assert f"/ministry/alerts/{ids['own']}" in page.text
    assert f"/ministry/alerts/{ids['other']}" not in page.text
    assert "VN-DLPH-0002" not in page.text  # not even in the packing-house filter
    assert 'data-testid="admin-links"' not in page.text
    assert "/ministry/export/" not in page.text
    # Asking for another province shows its own still.
    asked = client.get("/ministry", headers=officer, params={**JUNE, "province": "Đắk Lắk"})
    assert f"/ministry/alerts/{ids['other']}" not in asked.text
    assert f"/ministry/alerts/{ids['own']}" in asked.text
    ministry = client.get("/ministry", headers=world.ministry, params=JUNE).text
    assert f"/ministry/alerts/{ids['other']}" in ministry
    assert 'data-testid="admin-links"' in ministry

    assert client.get(f"/ministry/alerts/{ids['own']}", headers=officer).status_code == 200
    missing = client.get(f"/ministry/alerts/{ids['other']}", headers=officer)
    assert missing.status_code == 404
    assert "off its route" not in missing.text


def test_a_province_officer_logs_in_and_works_an_alert_with_the_form(world: World, data: dict[str, Any]) -> None:
    client, ids = world.client, data["ids"]
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/ministry/login").text)
    assert found is not None
    token = data["officer"]["Authorization"].removeprefix("Bearer ")
    answer = client.post("/ministry/login", data={"token": token, "csrf": found.group(1)}, follow_redirects=False)
    assert answer.status_code == 303
    client.cookies.set("tem_inspect", answer.cookies["tem_inspect"])
    page = client.get(f"/ministry/alerts/{ids['own']}?lang=en")
    assert page.status_code == 200
    form = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert form is not None
    done = client.post(f"/ministry/alerts/{ids['own']}/transitions", data={"to": "acknowledged", "csrf": form.group(1)})
    assert done.status_code == 200
    assert client.get(f"/api/v1/alerts/{ids['own']}", headers=world.ministry).json()["status"] == "acknowledged"
    refused = client.post(
        f"/ministry/alerts/{ids['other']}/transitions", data={"to": "acknowledged", "csrf": form.group(1)}
    )
    assert refused.status_code == 404
    assert client.get(f"/api/v1/alerts/{ids['other']}", headers=world.ministry).json()["status"] == "open"


def test_the_ministrys_own_actions_stay_the_ministrys(world: World, data: dict[str, Any]) -> None:
    client, officer = world.client, data["officer"]
    for path in (
        "/ministry/orders",
        "/ministry/organisations",
        "/ministry/users",
        "/ministry/export/alerts.csv",
        "/ministry/export/stamps.csv",
        "/ministry/export/report.pdf",
    ):
        assert client.get(path, headers=officer).status_code == 403, path
    created = client.post(
        "/api/v1/organisations",
        headers=officer,
        json={"kind": "packing_house", "name": "X", "code": "VN-TGPH-0042", "province": "Đồng Tháp"},
    )
    assert created.status_code == 403
    assert client.post("/api/v1/orders/1/approve", headers=officer).status_code == 403
    assert client.get("/api/v1/reports", headers=officer).status_code == 403
