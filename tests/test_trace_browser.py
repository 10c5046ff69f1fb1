"""A consumer's scan in a real browser (headless Debian Chromium, against `tem serve`): the scan redirects to
exactly the stamp's default link, its verdict reaches the trace page through the short-lived scan cookie, and
the same link opened later without that cookie says authenticity was not checked."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, sync_playwright

from tem.core.settings import Settings
from tests.browser import CHROMIUM_ARGS, ensure_chromium
from tests.conftest import World
from tests.helpers import GTIN_A
from tests.processes import free_port, tem_serve
from tests.resolver_helpers import issue_and_activate


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_a_scan_shows_its_verdict_and_a_shared_link_shows_none(
    browser: Browser, world: World, env: dict[str, str]
) -> None:
    stamps = issue_and_activate(world)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    parts = urlsplit(stamps.uris[0])
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(f"{base}{parts.path}?{parts.query}")
        assert page.url == f"{base}/01/{GTIN_A}/10/LOT-1?serial=1"  # the linkset's default link, exactly
        assert page.locator('[data-verdict="genuine"]').count() == 1
        assert "First check" in page.content()
        scan_cookie = next(c for c in context.cookies() if c["name"] == "tem_scan")
        assert scan_cookie["httpOnly"] is True
        context.close()

        shared = browser.new_context(locale="en-US")  # someone the link was sent to
        other = shared.new_page()
        other.goto(f"{base}/01/{GTIN_A}/10/LOT-1?serial=1")
        assert other.locator("[data-verdict]").get_attribute("data-verdict") == "unknown"  # not checked: no word
        assert "Authenticity was not checked" in other.content()
        shared.close()


def test_the_journey_shows_the_importers_receiving_in_chinese(
    browser: Browser, world: World, env: dict[str, str], settings: Settings
) -> None:
    from tests.test_epcis_chain import _org_token, document, receiving, stamp

    stamps = issue_and_activate(world)
    importer = _org_token(world, settings, "CN-IMP-01", None)
    lot_id = world.client.get("/api/v1/lots", headers=world.packer).json()[0]["id"]
    shipped = world.client.post(
        f"/api/v1/lots/{lot_id}/stages",
        headers=world.packer,
        json={"stage": "shipping", "occurred_at": "2026-06-05T20:00:00+07:00", "consignee": "CN-IMP-01"},
    )
    assert shipped.status_code == 201, shipped.text
    arrived = receiving(stamp(1), when="2026-06-07T10:00:00.000+08:00")
    assert world.client.post("/api/v1/epcis/capture", headers=importer, json=document(arrived)).status_code == 202
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    parts = urlsplit(stamps.uris[0])
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        problems: list[str] = []
        page.on(
            "console", lambda message: problems.append(message.text) if "Content Security" in message.text else None
        )
        page.on(
            "response",
            lambda answer: (
                problems.append(answer.url) if answer.status >= 400 and "favicon" not in answer.url else None
            ),
        )
        page.goto(f"{base}{parts.path}?{parts.query}")
        journey = page.locator("ol.timeline").inner_text()
        assert "运输" in journey  # the packing house's shipping
        assert "收货" in journey  # the importer's receiving
        assert "记录方：Importer CN-IMP-01" in journey
        assert journey.index("运输") < journey.index("收货")
        assert problems == []  # nothing refused by the page's content security policy, nothing missing
        context.close()
