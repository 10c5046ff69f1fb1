"""The ministry's pages and the API docs in a real browser: headless Debian Chromium driven by Playwright,
against `tem serve`, with every request that would leave the machine refused (and counted).

The ministry logs in through the login form (its token bound to a pre-login cookie, the POST judged by Fetch
Metadata: Chromium must not be refused as it was under `Referrer-Policy: no-referrer`); a missing alert is a
translated page, not raw JSON; `/docs` renders Swagger UI from the vendored assets alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, ROOT, ensure_chromium, screenshots_wanted
from tests.conftest import World
from tests.processes import free_port, tem_serve

DOCS = ROOT / "docs" / "ministry"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = DOCS if screenshots_wanted() else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _closed_network(context: BrowserContext) -> list[str]:
    """Refuse every request to a host other than this machine; the list says what was tried."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", handle)
    return refused


def test_the_ministry_logs_in_from_chromium_and_a_missing_alert_is_a_page(
    browser: Browser, world: World, env: dict[str, str], shots: Path
) -> None:
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        refused = _closed_network(context)
        page = context.new_page()
        page.goto(f"{base}/ministry?lang=en")
        assert urlsplit(page.url).path == "/ministry/login"
        page.get_by_test_id("token-input").fill(token)
        page.screenshot(path=str(shots / "login-en.png"))
        with page.expect_response(lambda r: r.url.startswith(f"{base}/ministry/login")) as posted:
            page.get_by_test_id("login-submit").click()
        assert posted.value.status == 303
        expect(page.get_by_test_id("ministry-dashboard")).to_be_visible()
        assert urlsplit(page.url).path == "/ministry"
        page.screenshot(path=str(shots / "dashboard-en.png"), full_page=True)

        missing = page.goto(f"{base}/ministry/alerts/9999?lang=en")
        assert missing is not None
        assert missing.status == 404
        assert missing.headers["content-type"].startswith("text/html")
        expect(page.get_by_test_id("error-page")).to_contain_text("Page not found")
        page.screenshot(path=str(shots / "missing-alert-en.png"))
        page.get_by_test_id("error-home").click()
        expect(page.get_by_test_id("front-title")).to_be_visible()

        bad_date = page.goto(f"{base}/ministry?since=garbage&lang=en")
        assert bad_date is not None
        assert bad_date.status == 422
        expect(page.get_by_test_id("error-page")).to_contain_text("Something entered is not valid")
        context.close()

        stranger = browser.new_context(locale="en-US")  # a login form copied onto another site's page
        _closed_network(stranger)
        other = stranger.new_page()
        other.goto(f"{base}/ministry/login?lang=en")
        other.get_by_test_id("token-input").fill(token)
        other.evaluate("document.querySelector('input[name=csrf]').value = 'forged'")
        other.get_by_test_id("login-submit").click()
        expect(other.get_by_role("alert")).to_contain_text("was not sent from this site")
        stranger.close()
        assert refused == []


def test_the_api_docs_render_with_the_network_closed(browser: Browser, env: dict[str, str], shots: Path) -> None:
    Path(env["TEM_HOME"]).mkdir(parents=True, exist_ok=True)
    with tem_serve(env) as base:
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        refused = _closed_network(context)
        page = context.new_page()
        page.goto(f"{base}/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)  # an operation of the API
        expect(page.locator(".opblock-summary-path", has_text="/api/v1/orders").first).to_be_visible()
        page.screenshot(path=str(shots / "api-docs.png"))
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text) if message.type == "error" else None)
        page.goto(f"{base}/redoc")
        expect(page.locator("h1", has_text="Tem")).to_be_visible(timeout=15_000)
        expect(page.get_by_text("/api/v1/orders").first).to_be_attached()
        # Redoc's footer asks cdn.redoc.ly for its logo: the page's CSP stops it before it leaves the browser.
        assert all("cdn.redoc.ly" in line for line in blocked), blocked
        front = page.goto(f"{base}/?lang=vi")
        assert front is not None
        assert front.status == 200
        expect(page.get_by_test_id("front-title")).to_be_visible()
        page.screenshot(path=str(shots / "front-page-vi.png"), full_page=True)
        context.close()
        assert refused == []
