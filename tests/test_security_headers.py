"""Security headers on every answer, 405 with Allow, 422 without the value sent, and proxy headers believed only
from a trusted proxy (issue 23)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tem.core.settings import Settings
from tem.headers import hardened, inline_hashes
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, setup_packer
from tests.resolver_helpers import issue_and_activate


def _check_headers(response: object, *, html: bool) -> str:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] in ("same-origin", "strict-origin-when-cross-origin")
    assert "strict-transport-security" not in headers  # plain http
    if html or "content-type" in headers:  # a redirect has no body
        assert headers["content-type"].startswith("text/html" if html else ("application/", "text/"))
    return str(csp)


def test_every_kind_of_answer_carries_the_headers(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    scan = c.get(stamps.uris[0].removeprefix(BASE_URL), follow_redirects=False)
    assert scan.status_code == 307
    _check_headers(scan, html=False)
    c.cookies.update(scan.cookies)
    page = c.get(scan.headers["location"].removeprefix(BASE_URL))
    assert page.status_code == 200
    csp = _check_headers(page, html=True)
    # The trace page's inline script (the share-location button) and its styles run by their hashes.
    script = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "style-src" in csp
    for path, html in [
        ("/", True),
        ("/docs", True),
        ("/redoc", True),
        ("/api/v1/lots", False),  # JSON
        ("/nowhere", False),  # a JSON 404
        ("/.well-known/tem-keys.json", False),
    ]:
        answer = c.get(path, headers=world.packer)
        if path == "/redoc":  # Redoc's bundle adds style elements as it loads (tem/apidocs.py): scripts stay strict
            assert (
                "unsafe-inline" not in answer.headers["content-security-policy"].split("script-src", 1)[1].split(";")[0]
            )
            continue
        _check_headers(answer, html=html)
    verdict = c.get(f"/01/{GTIN_A}/21/1?k=XX&s=AAAA", headers={"Accept": "text/html"})  # a forged stamp's page
    assert verdict.status_code < 500
    _check_headers(verdict, html=True)


def test_hsts_over_https_only(settings: Settings) -> None:
    from tem.app import create_app

    with TestClient(create_app(settings), base_url="https://tem.example") as https:
        assert https.get("/healthz").headers["strict-transport-security"].startswith("max-age=")
    with TestClient(create_app(settings), base_url=BASE_URL) as plain:
        assert "strict-transport-security" not in plain.get("/healthz").headers
    public = settings.model_copy(update={"public_base_url": "https://tem.example"})
    with TestClient(create_app(public), base_url=BASE_URL) as behind_proxy:
        assert "strict-transport-security" in behind_proxy.get("/healthz").headers


def test_a_policys_unsafe_inline_becomes_the_pages_own_hashes() -> None:
    html = b"<style>p{color:red}</style><script src='/a.js'></script><script>go()</script>"
    scripts, styles = inline_hashes(html)
    assert len(scripts) == 1
    assert len(styles) == 1
    policy = hardened("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'", scripts, styles)
    assert "unsafe-inline" not in policy
    assert f"style-src {styles[0]}" in policy
    assert f"script-src {scripts[0]}" in policy
    assert policy.endswith("frame-ancestors 'none'")


def test_405_names_the_allowed_methods(world: World) -> None:
    for path in ("/api/v1/lots", "/healthz", "/api/v1/activations"):
        answer = world.client.delete(path, headers=world.packer)
        assert answer.status_code == 405, path
        assert "GET" in answer.headers["allow"], path
    page = world.client.delete("/healthz", headers={"Accept": "text/html"})
    assert page.status_code == 405
    assert "GET" in page.headers["allow"]


def test_422_never_echoes_the_value_sent(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    evil = "<script>alert(1)</script>ZZ"
    for body in (
        {"gtin": GTIN_A, "first_serial": 1, "last_serial": 2, "lot": "LOT-1", "extra": evil},
        {"gtin": evil, "first_serial": 1, "last_serial": 2, "lot": "LOT-1"},
        {"gtin": GTIN_A, "first_serial": 1, "last_serial": 2, "lot": "LOT-1", "destination": evil},
    ):
        answer = c.post("/api/v1/activations", headers=world.packer, json=body)
        assert answer.status_code == 422, answer.text
        assert "alert(1)" not in answer.text
    lot = {"code": "LOT-9", "gtin": GTIN_A, "harvest_dates": ["2026-06-02"], "growing_areas": ["VN-TGOR-0123"]}
    for extra in ({"destination_markets": ["Z<b>Q"]}, {"province": "Mars<b>xyz"}):
        answer = c.post("/api/v1/lots", headers=world.packer, json={**lot, **extra})
        assert answer.status_code == 422, answer.text
        assert "<b>" not in answer.text, answer.text
    answer = c.get("/api/v1/alerts", params={"serial": "0" + "9" * 30}, headers=world.ministry)
    assert answer.status_code == 422
    assert "999999" not in answer.text


@pytest.fixture
def peer_client(settings: Settings) -> Iterator[TestClient]:
    """The app seen from an address that is not a trusted proxy (TEM_TRUSTED_PROXIES is loopback)."""
    from tem.app import create_app

    with TestClient(create_app(settings), base_url=BASE_URL, client=("203.0.113.9", 4000)) as client:
        yield client


def test_forwarded_headers_count_only_from_a_trusted_proxy(settings: Settings) -> None:
    from tem.app import create_app
    from tem.proxies import TrustedProxies

    seen: list[tuple[str, str]] = []

    async def echo(scope: dict[str, Any], receive: object, send: object) -> None:
        seen.append((scope["client"][0], scope["scheme"]))

    proxies = TrustedProxies(echo, trusted=settings.trusted_proxies)  # type: ignore[arg-type]
    forged = [(b"x-forwarded-for", b"198.51.100.7, 10.0.0.1"), (b"x-forwarded-proto", b"https")]

    async def call(peer: str) -> None:
        await proxies({"type": "http", "client": (peer, 1), "scheme": "http", "headers": forged}, None, None)  # type: ignore[arg-type]

    import asyncio

    for peer in ("127.0.0.1", "::1", "127.0.0.2", "203.0.113.9"):
        asyncio.run(call(peer))
    assert seen == [
        ("10.0.0.1", "https"),  # from nginx on this host: the address nginx saw (the last hop)
        ("10.0.0.1", "https"),
        ("127.0.0.2", "http"),  # another loopback address is not in 127.0.0.1/32: its headers are ignored
        ("203.0.113.9", "http"),
    ]
    wide = settings.model_copy(update={"trusted_proxies": [ipaddress.ip_network("203.0.113.0/24")]})
    assert create_app(wide) is not None


def test_a_forged_forwarded_for_does_not_escape_the_failed_login_throttle(peer_client: TestClient) -> None:
    """From a peer that is no trusted proxy, a fresh X-Forwarded-For per request changes nothing: the bad tokens
    all count against the peer's own network, which is then refused."""
    statuses = [
        peer_client.get(
            "/api/v1/lots",
            headers={"Authorization": f"Bearer tem_bad{n}", "X-Forwarded-For": f"10.{n}.0.1"},
        ).status_code
        for n in range(40)
    ]
    assert statuses[0] == 401
    assert 429 in statuses
