"""Sessions and tokens: bad tokens throttled per network, token expiry and revocation, the ministry's CSRF check."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import update

from identity.models import ApiToken
from identity.throttle import network_of
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import BASE_URL, World


def test_200_bad_tokens_from_one_network_draw_429_and_another_network_is_not_affected(world: World) -> None:
    from tem.app import create_app

    app = world.client.app
    one = TestClient(app, base_url=BASE_URL, client=("203.0.113.7", 5000))
    same_net = TestClient(app, base_url=BASE_URL, client=("203.0.113.99", 5000))
    other = TestClient(app, base_url=BASE_URL, client=("198.51.100.1", 5000))
    codes = [one.get("/api/v1/lots", headers={"Authorization": f"Bearer bad{n}"}).status_code for n in range(200)]
    assert codes[:21] == [401] * 21
    assert codes.count(429) >= 170
    throttled = same_net.get("/api/v1/lots", headers=world.packer)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert other.get("/api/v1/lots", headers=world.packer).status_code == 200
    assert other.get("/api/v1/lots", headers={"Authorization": "Bearer bad"}).status_code == 401
    assert create_app  # the app is built per test: counts never leak between tests


def test_networks() -> None:
    assert network_of("203.0.113.7") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:3::4") == "2001:db8:1:2::/64"


def test_expired_and_revoked_tokens_get_401(world: World, settings: Settings) -> None:
    c = world.client
    created = c.post(
        "/api/v1/tokens",
        json={"organisation": "VN-TGPH-0001", "role": "packer", "name": "short", "expires_in_days": 1},
        headers=world.ministry,
    )
    assert created.status_code == 201, created.text
    token = {"Authorization": f"Bearer {created.json()['token']}"}
    assert c.get("/api/v1/lots", headers=token).status_code == 200
    db = Database(settings.effective_database_url)
    with db.session() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(ApiToken).where(ApiToken.id == created.json()["id"]).values(expires_at=past))
    db.dispose()
    assert c.get("/api/v1/lots", headers=token).status_code == 401
    assert c.delete(f"/api/v1/tokens/{created.json()['id']}", headers=world.packer).status_code == 403
    assert c.delete(f"/api/v1/tokens/{created.json()['id']}", headers=world.ministry).status_code == 204
    assert c.delete(f"/api/v1/tokens/{created.json()['id']}", headers=world.ministry).status_code == 409


def test_ministry_csrf_is_not_skipped_for_a_non_bearer_authorization_header(world: World) -> None:
    c = world.client
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    login = c.get("/ministry/login")
    assert login.status_code == 200
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert csrf is not None
    done = c.post("/ministry/login", data={"token": token, "csrf": csrf.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    url = "/ministry/alerts/999999/transitions"
    forged = c.post(url, data={"to": "acknowledged"}, headers={"Authorization": "Basic eDp5"})
    assert forged.status_code == 403  # the session cookie authenticates, so its CSRF token is required
    bare = c.post(url, data={"to": "acknowledged"}, headers={"Authorization": "Bearer"})
    assert bare.status_code == 403
    page = c.get("/ministry")
    token_in_page = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token_in_page is not None
    genuine = c.post(
        url, data={"to": "acknowledged", "csrf": token_in_page.group(1)}, headers={"Authorization": "Basic eDp5"}
    )
    assert genuine.status_code == 404  # past the CSRF check: there is no such alert
