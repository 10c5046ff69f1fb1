"""Accessibility in a real browser: every page people use (the consumer's front, trace, verdict and product
pages, the inspector's login, the ministry's login and dashboard, the packing houses' portal) is checked by
axe-core (vendored in tests/vendor/axe-core/) in headless Debian Chromium against `tem serve`, and a
`serious` or `critical` violation fails the test. The pages' strict CSPs would refuse the injected script, so
this test's browser context bypasses CSP; every request that would leave the machine is still refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, ROOT, ensure_chromium
from tests.conftest import World
from tests.helpers import GTIN_A
from tests.processes import free_port, tem_serve
from tests.resolver_helpers import issue_and_activate

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def _context(browser: Browser, base: str) -> BrowserContext:
    context = browser.new_context(base_url=base, locale="en-US", bypass_csp=True)

    def handle(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", handle)
    return context


def _violations(page: Page, name: str) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line per failing node."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    found: list[str] = []
    for violation in result["violations"]:
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"])
        line = f"{name} [{page.url}]: {violation['id']} ({violation['impact']}) {violation['help']} -> {targets}"
        if violation["impact"] in FAILING:
            found.append(line)
        else:
            print(line)  # minor and moderate findings are shown (pytest -s), not failed on
    return found


def test_no_serious_or_critical_accessibility_violations(browser: Browser, world: World, env: dict[str, str]) -> None:
    stamps = issue_and_activate(world)
    forged = stamps.uris[0].replace("/21/1?", "/21/2?")  # serial 2 carrying serial 1's signature
    tokens = {role: getattr(world, role)["Authorization"].removeprefix("Bearer ") for role in ("packer", "ministry")}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    found: list[str] = []
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = _context(browser, base)
        page = context.new_page()

        page.goto("/?lang=en")
        found += _violations(page, "front page")
        scan = urlsplit(stamps.uris[0])
        page.goto(f"{scan.path}?{scan.query}")
        assert page.locator('[data-verdict="genuine"]').count() == 1
        found += _violations(page, "trace page")
        bad = urlsplit(forged)
        page.goto(f"{bad.path}?{bad.query}")
        assert page.locator("[data-verdict]").get_attribute("data-verdict") not in (None, "genuine")
        found += _violations(page, "verdict page (forged stamp)")
        page.goto(f"/01/{GTIN_A}?lang=en")
        found += _violations(page, "product page")
        page.goto("/inspect")
        expect(page.get_by_test_id("token-input")).to_be_visible()
        found += _violations(page, "inspector login")
        context.close()

        context = _context(browser, base)
        page = context.new_page()
        page.goto("/ministry/login?lang=en")
        found += _violations(page, "ministry login")
        page.get_by_test_id("token-input").fill(tokens["ministry"])
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("ministry-dashboard")).to_be_visible()
        found += _violations(page, "ministry dashboard")
        context.close()

        context = _context(browser, base)
        page = context.new_page()
        page.goto("/portal?lang=en")
        expect(page.get_by_test_id("token-input")).to_be_visible()
        found += _violations(page, "portal login")
        page.get_by_test_id("token-input").fill(tokens["packer"])
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("lot-row")).to_have_count(1)
        found += _violations(page, "portal home (lots, order, activate)")
        page.get_by_test_id("order-quantity").fill("5")
        page.get_by_test_id("order-submit").click()
        expect(page.get_by_test_id("notice")).to_be_visible()
        found += _violations(page, "portal home after an order")
        page.goto(f"/portal/lots/{stamps.lot_id}")
        found += _violations(page, "portal lot")
        page.goto("/portal/lots/new")
        found += _violations(page, "portal new lot")
        page.goto("/portal/farms")
        found += _violations(page, "portal farms")
        page.goto("/portal/products")
        found += _violations(page, "portal products")
        page.goto("/portal/alerts")
        found += _violations(page, "portal alerts")
        page.goto("/portal")
        page.get_by_test_id("activate-first").fill(stamps.uris[10])
        page.get_by_test_id("activate-last").fill(stamps.uris[12])
        page.get_by_test_id("activate-lot").select_option("LOT-1")
        page.get_by_test_id("activate-submit").click()
        expect(page.get_by_test_id("activation-preview")).to_be_visible()
        found += _violations(page, "portal activation preview")
        page.get_by_test_id("activate-confirm").click()
        expect(page.get_by_test_id("activation-result")).to_be_visible()
        found += _violations(page, "portal activated")
        context.close()
    assert found == [], "axe-core found serious or critical violations:\n" + "\n".join(found)
