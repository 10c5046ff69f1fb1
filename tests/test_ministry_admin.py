"""The ministry's administration pages: order approval, organisations and API tokens (`ministry/admin.py`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from identity.models import ApiToken, Organisation
from issuer.models import RollOrder
from ministry.endpoints import csrf_token
from tem.core.db import Database
from tem.core.settings import OrderApproval, Settings
from tests.conftest import World
from tests.helpers import GTIN_A, order, setup_packer
from tests.test_ministry import login_csrf


def _login(world: World) -> str:
    """Log the test client in as the ministry's officer; the session's CSRF token."""
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    form = {"token": token, "csrf": login_csrf(world.client)}
    answer = world.client.post("/ministry/login", data=form, follow_redirects=False)
    assert answer.status_code == 303
    return csrf_token(answer.cookies["tem_inspect"])


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def _order(db: Database, order_id: int) -> RollOrder:
    with db.session() as session:
        row = session.get(RollOrder, order_id)
        assert row is not None
        session.expunge(row)
        return row


@pytest.fixture
def pending(world: World) -> list[int]:
    """Three orders of packing house A, placed while the ministry must approve every order."""
    world.client.app.state.tem.settings.order_approval = OrderApproval.REQUIRED  # type: ignore[attr-defined]
    setup_packer(world.client, world.packer)
    return [order(world.client, world.packer, GTIN_A, 10)["id"] for _ in range(3)]


# Who may see


@pytest.mark.parametrize("path", ["/ministry/orders", "/ministry/organisations", "/ministry/users"])
def test_the_pages_are_the_ministrys(world: World, path: str) -> None:
    client = world.client
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ministry/login")
    for who in (world.packer, world.inspector):
        assert client.get(path, headers=who).status_code == 403
    assert (
        client.post(
            path if path != "/ministry/orders" else "/ministry/orders/1/approve", headers=world.packer
        ).status_code
        == 403
    )
    page = client.get(path, headers=world.ministry)
    assert page.status_code == 200
    assert 'data-testid="ministry-' in page.text


def test_an_inspectors_browser_session_is_refused(world: World, db: Database) -> None:
    """A non-ministry session (the inspector app's login, the same cookie) cannot use the forms."""
    client = world.client
    token = world.inspector["Authorization"].removeprefix("Bearer ")
    answer = client.post("/inspect/login", json={"token": token}, headers={"X-Tem-Inspect": "1"})
    assert answer.status_code == 200
    cookie = client.cookies.get("tem_inspect")
    assert cookie
    form = {"csrf": csrf_token(cookie), "organisation": "BNNMT", "role": "ministry", "name": "sneaky"}
    assert client.post("/ministry/users", data=form).status_code == 403
    assert client.get("/ministry/users").status_code == 403
    with db.session() as session:
        assert session.scalars(select(ApiToken).where(ApiToken.name == "sneaky")).first() is None


def test_the_dashboard_links_the_pages(world: World) -> None:
    page = world.client.get("/ministry?lang=en", headers=world.ministry).text
    assert 'data-testid="link-orders" ' in page or 'data-testid="link-orders"' in page
    assert 'href="/ministry/orders?lang=en"' in page
    assert 'href="/ministry/users?lang=en"' in page


# Orders


def test_orders_waiting_are_listed_and_approved(world: World, pending: list[int], db: Database) -> None:
    client = world.client
    csrf = _login(world)
    page = client.get("/ministry/orders?lang=en")
    assert page.status_code == 200
    for order_id in pending:
        assert f'data-testid="order-{order_id}"' in page.text
    assert 'data-testid="approval-automatic"' not in page.text

    first = pending[0]
    forged = client.post(f"/ministry/orders/{first}/approve?lang=en", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert "the form has expired" in forged.text
    assert _order(db, first).status == "pending"

    done = client.post(f"/ministry/orders/{first}/approve?lang=en", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    row = _order(db, first)
    assert row.status == "approved"
    assert row.decided_by is not None
    assert row.decided_at is not None
    page = client.get(done.headers["location"])
    assert f"Order {first} approved." in page.text
    assert f'data-testid="decided-{first}" data-status="approved"' in page.text
    assert f'data-testid="order-{first}"' not in page.text
    stamps = client.get(f"/api/v1/orders/{first}/stamps.csv", headers=world.packer)
    assert stamps.status_code == 200

    again = client.post(f"/ministry/orders/{first}/approve?lang=vi", data={"csrf": csrf})
    assert again.status_code == 409
    assert "text/html" in again.headers["content-type"]
    assert f"đơn {first} đã được quyết định trước đó" in again.text
    missing = client.post("/ministry/orders/999999/approve?lang=zh", data={"csrf": csrf})
    assert missing.status_code == 404
    assert "没有订单 999999" in missing.text


def test_rejecting_an_order_needs_a_reason(world: World, pending: list[int], db: Database) -> None:
    client = world.client
    csrf = _login(world)
    second = pending[1]
    path = f"/ministry/orders/{second}/reject?lang=en"
    assert client.post(path, data={"csrf": "nope", "reason": "too many"}).status_code == 403
    no_reason = client.post(path, data={"csrf": csrf, "reason": " "})
    assert no_reason.status_code == 422
    assert "rejecting an order needs a reason" in no_reason.text
    assert "text/html" in no_reason.headers["content-type"]
    assert _order(db, second).status == "pending"

    done = client.post(path, data={"csrf": csrf, "reason": "more stamps than the lot weighs"}, follow_redirects=False)
    assert done.status_code == 303
    row = _order(db, second)
    assert (row.status, row.rejection_reason) == ("rejected", "more stamps than the lot weighs")
    page = client.get(done.headers["location"]).text
    assert f'data-testid="decided-{second}" data-status="rejected"' in page
    assert "more stamps than the lot weighs" in page


def test_the_page_says_when_orders_are_approved_automatically(world: World) -> None:
    page = world.client.get("/ministry/orders?lang=en", headers=world.ministry).text
    assert 'data-testid="approval-automatic"' in page
    assert "No order is waiting." in page


# Organisations


def test_organisations_are_listed_and_created(world: World, db: Database) -> None:
    client = world.client
    csrf = _login(world)
    page = client.get("/ministry/organisations?lang=en")
    assert 'data-testid="org-VN-TGPH-0001"' in page.text
    assert "packing house" in page.text
    form = {"kind": "distributor", "code": "nppx-01", "name": "Nhà phân phối X", "province": "Hà Nội"}
    assert client.post("/ministry/organisations", data={**form, "csrf": "forged"}).status_code == 403
    done = client.post("/ministry/organisations?lang=en", data={**form, "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    with db.session() as session:
        org = session.scalars(select(Organisation).where(Organisation.code == "NPPX-01")).one()
        assert (org.kind, org.name, org.province) == ("distributor", "Nhà phân phối X", "Hà Nội")
    assert "Organisation NPPX-01 added." in client.get(done.headers["location"]).text

    taken = client.post("/ministry/organisations?lang=vi", data={**form, "csrf": csrf})
    assert taken.status_code == 409
    assert "đã có tổ chức mang mã NPPX-01" in taken.text
    bad = client.post("/ministry/organisations?lang=en", data={**form, "code": "NPPX-02", "province": "", "csrf": csrf})
    assert bad.status_code == 422
    assert "these fields are not valid: province" in bad.text
    assert 'value="NPPX-02"' in bad.text  # the form keeps what was typed


# API tokens


def test_tokens_are_listed_created_once_and_revoked(world: World, db: Database) -> None:
    client = world.client
    csrf = _login(world)
    page = client.get("/ministry/users?lang=en")
    assert page.status_code == 200
    assert "packer VN-TGPH-0001" in page.text

    form = {"organisation": "QLTT-HN", "role": "inspector", "name": "Officer Lan"}
    assert client.post("/ministry/users?lang=en", data={**form, "csrf": "forged"}).status_code == 403
    created = client.post("/ministry/users?lang=en", data={**form, "csrf": csrf})
    assert created.status_code == 201
    found = re.search(r'data-testid="new-token">([^<]+)<', created.text)
    assert found is not None
    new_token = found.group(1)
    assert client.get("/api/v1/inspections", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200
    assert new_token not in client.get("/ministry/users?lang=en").text  # shown once
    with db.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "Officer Lan")).one()
        token_id = row.id
        assert row.role == "inspector"

    wrong_kind = client.post("/ministry/users?lang=en", data={**form, "role": "packer", "csrf": csrf})
    assert wrong_kind.status_code == 422
    assert "the role packer cannot be given to this kind of organisation" in wrong_kind.text
    unknown = client.post("/ministry/users?lang=en", data={**form, "organisation": "NOPE-1", "csrf": csrf})
    assert unknown.status_code == 404
    assert "no organisation has code NOPE-1" in unknown.text

    path = f"/ministry/users/{token_id}/revoke?lang=en"
    assert client.post(path, data={"csrf": "forged"}).status_code == 403
    done = client.post(path, data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    with db.session() as session:
        revoked = session.get(ApiToken, token_id)
        assert revoked is not None
        assert revoked.revoked_at is not None
    assert client.get("/api/v1/inspections", headers={"Authorization": f"Bearer {new_token}"}).status_code == 401
    assert f"Token {token_id} revoked." in client.get(done.headers["location"]).text
    again = client.post(path, data={"csrf": csrf})
    assert again.status_code == 409
    assert f"token {token_id} is already revoked" in again.text


# Success messages


CRAFTED = "CALL 1900-0000 TO VERIFY YOUR TOKEN"


@pytest.mark.parametrize(
    ("path", "testid"),
    [
        ("/ministry/orders", "order-done"),
        ("/ministry/organisations", "org-created"),
        ("/ministry/users", "token-revoked"),
    ],
)
def test_a_crafted_query_string_is_never_shown(world: World, path: str, testid: str) -> None:
    """A success message is one of the page's own sentences about a row the database holds in that state: a link
    carrying any other text, key or id says nothing (the former `?created=<text>` was echoed onto the page)."""
    client = world.client
    _login(world)
    queries = [
        {"created": CRAFTED, "revoked": CRAFTED, "order": CRAFTED, "done": "approved"},
        {"done": CRAFTED, "id": "1"},
        {"done": "approved", "id": CRAFTED},
        {"done": "org_created", "id": CRAFTED},
        {"done": "token_revoked", "id": "１"},  # a full-width digit: str.isdigit() alone would let it through
        {"done": "approved", "id": "999999"},  # keys of the right shape, about rows that are not so
        {"done": "token_revoked", "id": "1"},
        {"done": "org_created", "id": "999999"},
    ]
    for query in queries:
        page = client.get(path, params={"lang": "en", **query})
        assert page.status_code == 200
        assert CRAFTED not in page.text
        assert "CALL 1900" not in page.text
        assert f'data-testid="{testid}"' not in page.text


# Inspections on the dashboard


def test_the_dashboard_shows_the_periods_inspections(world: World) -> None:
    from tests.resolver_helpers import issue_and_activate
    from tests.test_inspector_api import _record

    stamps = issue_and_activate(world)
    client = world.client
    for uri, result, at in [
        (stamps.uris[0], "genuine", "2026-06-10T09:30:00+07:00"),
        (stamps.uris[1], "suspect", "2026-06-11T09:00:00+07:00"),
        (stamps.uris[2], "genuine", "2026-06-12T09:00:00+07:00"),
        (stamps.uris[3], "genuine", "2026-07-02T09:00:00+07:00"),  # outside June
    ]:
        body = _record(uri, result=result, inspected_at=at)
        assert client.post("/api/v1/inspections", headers=world.inspector, json=body).status_code == 201
    page = client.get("/ministry?since=2026-06-01&until=2026-06-30&lang=en", headers=world.ministry).text
    section = page[page.index('data-testid="inspections"') : page.index('<section id="export"')]
    assert "3 inspections in this period" in section
    assert re.search(r'data-result="genuine"><td>genuine</td><td class="n">2</td>', section)
    assert re.search(r'data-result="suspect"><td>suspect</td><td class="n">1</td>', section)
    assert section.count("data-inspection=") == 3
    in_zh = client.get("/ministry?since=2026-06-01&until=2026-06-30&lang=zh", headers=world.ministry).text
    assert "现场检查" in in_zh
    assert "本期间共 3 次检查" in in_zh
