"""A consumer's scan in a real browser (headless Debian Chromium, against `tem serve`): the scan redirects to
exactly the stamp's default link, its verdict reaches the trace page through the short-lived scan cookie, and
the same link opened later without that cookie says authenticity was not checked."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, sync_playwright

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
