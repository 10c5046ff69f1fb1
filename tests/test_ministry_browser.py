"""The ministry's pages and the API docs in a real browser: headless Debian Chromium driven by Playwright,
against `tem serve`, with every request that would leave the machine refused (and counted).

The ministry logs in through the login form (its token bound to a pre-login cookie, the POST judged by Fetch
Metadata: Chromium must not be refused as it was under `Referrer-Policy: no-referrer`); a missing alert is a
translated page, not raw JSON; `/docs` renders Swagger UI from the vendored assets alone. The ministry's screens (login,
dashboard, an alert, a missing alert) are walked in Vietnamese, English and Chinese, each checked for its own words;
`TEM_UPDATE_SCREENSHOTS=1` writes them into docs/ministry/ (`scripts/ensure-chromium --fonts` first, for the Noto
fonts: without them Chinese is drawn as empty boxes).
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
from tests.test_ministry import data as june  # noqa: F401  # the fixture, for `alert_id`

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


@pytest.fixture
def alert_id(request: pytest.FixtureRequest) -> int:
    """A stamp alert among `tests.test_ministry`'s data (alerts, scans and stamps in June 2026), with a scan trail."""
    ids: dict[str, int] = request.getfixturevalue("june")["ids"]
    return ids["a7"]


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


#: What each screen says in each language: the test fails when a page is not in the language asked for.
WORDS = {
    "vi": {
        "login": "Đăng nhập",
        "dashboard": "Cảnh báo theo ngày",
        "missing": "Không tìm thấy trang",
        "alert": "Cảnh báo {id}: tem bị quét trùng",
        "trail": "Hành trình quét",
        "bad_date": "Dữ liệu nhập không hợp lệ",
        "forged": "không được gửi từ trang này",
    },
    "en": {
        "login": "Log in",
        "dashboard": "Alerts per day",
        "missing": "Page not found",
        "alert": "Alert {id}: duplicate stamp",
        "trail": "Scan trail",
        "bad_date": "Something entered is not valid",
        "forged": "was not sent from this site",
    },
    "zh": {
        "login": "登录",
        "dashboard": "每日预警",
        "missing": "找不到页面",
        "alert": "预警 {id}: 标签重复扫码",
        "trail": "扫码轨迹",
        "bad_date": "输入的内容无效",
        "forged": "不是从本网站页面提交的",
    },
}


@pytest.mark.parametrize("lang", ["vi", "en", "zh"])
def test_the_ministry_logs_in_from_chromium_and_a_missing_alert_is_a_page(
    browser: Browser, world: World, alert_id: int, env: dict[str, str], shots: Path, lang: str
) -> None:
    """Each screen in the language of `?lang=`; the browser's own language (Accept-Language) stays English, so
    only the query can make a page Vietnamese or Chinese."""
    words = WORDS[lang]
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        refused = _closed_network(context)
        page = context.new_page()
        page.goto(f"{base}/ministry?lang={lang}")
        assert urlsplit(page.url).path == "/ministry/login"
        assert page.locator("html").get_attribute("lang") == lang
        expect(page.get_by_role("heading", level=1)).to_have_text(words["login"])
        page.get_by_test_id("token-input").fill(token)
        page.screenshot(path=str(shots / f"login-{lang}.png"))
        with page.expect_response(lambda r: r.url.startswith(f"{base}/ministry/login")) as posted:
            page.get_by_test_id("login-submit").click()
        assert posted.value.status == 303
        expect(page.get_by_test_id("ministry-dashboard")).to_be_visible()
        assert urlsplit(page.url).path == "/ministry"
        assert page.locator("html").get_attribute("lang") == lang
        page.goto(f"{base}/ministry?since=2026-06-01&until=2026-06-30&lang={lang}")  # the month of the test's alerts
        expect(page.get_by_test_id("ministry-dashboard")).to_be_visible()
        expect(page.get_by_role("heading", name=words["dashboard"])).to_be_visible()
        page.screenshot(path=str(shots / f"dashboard-{lang}.png"), full_page=True)

        alert = page.goto(f"{base}/ministry/alerts/{alert_id}?lang={lang}")
        assert alert is not None
        assert alert.status == 200
        assert page.locator("html").get_attribute("lang") == lang
        expect(page.get_by_role("heading", level=1)).to_contain_text(words["alert"].format(id=alert_id))
        expect(page.get_by_role("heading", name=words["trail"])).to_be_visible()
        page.screenshot(path=str(shots / f"alert-{lang}.png"), full_page=True)

        missing = page.goto(f"{base}/ministry/alerts/9999?lang={lang}")
        assert missing is not None
        assert missing.status == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert page.locator("html").get_attribute("lang") == lang
        expect(page.get_by_test_id("error-page")).to_contain_text(words["missing"])
        page.screenshot(path=str(shots / f"missing-alert-{lang}.png"))
        page.get_by_test_id("error-home").click()
        expect(page.get_by_test_id("front-title")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == lang

        bad_date = page.goto(f"{base}/ministry?since=garbage&lang={lang}")
        assert bad_date is not None
        assert bad_date.status == 422
        expect(page.get_by_test_id("error-page")).to_contain_text(words["bad_date"])
        context.close()

        stranger = browser.new_context(locale="en-US")  # a login form copied onto another site's page
        _closed_network(stranger)
        other = stranger.new_page()
        other.goto(f"{base}/ministry/login?lang={lang}")
        other.get_by_test_id("token-input").fill(token)
        other.evaluate("document.querySelector('input[name=csrf]').value = 'forged'")
        other.get_by_test_id("login-submit").click()
        expect(other.get_by_role("alert")).to_contain_text(words["forged"])
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
