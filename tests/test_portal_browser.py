"""The packing houses' portal in a real browser (headless Debian Chromium driven by Playwright, against
`tem serve`), on a tablet-sized screen, in Vietnamese, English and Chinese: log in, order 20 stamps, download
their PDF, activate them by scanning the first and the last stamp, then scan one and land on its trace page.
Every request that would leave the machine is refused. `TEM_UPDATE_SCREENSHOTS=1` writes the screenshots into
docs/portal/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, ROOT, ensure_chromium, screenshots_wanted
from tests.conftest import World
from tests.helpers import GTIN_A, setup_packer
from tests.processes import free_port, tem_serve

DOCS = ROOT / "docs" / "portal"
TABLET = {"width": 1024, "height": 768}
WORDS = {
    "vi": {"result": "Đã kích hoạt 20 tem", "preview": "20 tem, lô LOT-1"},
    "en": {"result": "20 stamps activated", "preview": "20 stamps, lot LOT-1"},
    "zh": {"result": "激活 20 枚标签", "preview": "共 20 枚标签，批次 LOT-1"},
}


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


def _only_this_machine(base: str) -> object:
    def handle(route: Route) -> None:
        if route.request.url.lower().startswith(base):
            route.continue_()
        else:
            route.abort()

    return handle


def _order(page: Page, quantity: int) -> int:
    before = set(page.locator("[data-testid^=order-pdf-]").evaluate_all("els => els.map(e => e.dataset.testid)"))
    page.get_by_test_id("order-quantity").fill(str(quantity))
    expect(page.get_by_test_id("order-template")).to_have_value("durian-fruit-tag")
    page.get_by_test_id("order-submit").click()
    expect(page.get_by_test_id("notice")).to_be_visible()
    after = set(page.locator("[data-testid^=order-pdf-]").evaluate_all("els => els.map(e => e.dataset.testid)"))
    [new] = after - before
    return int(new.removeprefix("order-pdf-"))


@pytest.mark.parametrize("lang", ["vi", "en", "zh"])
def test_log_in_order_download_activate_and_scan(
    browser: Browser, world: World, env: dict[str, str], shots: Path, lang: str
) -> None:
    setup_packer(world.client, world.packer)
    token = world.packer["Authorization"].removeprefix("Bearer ")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(base_url=base, viewport=TABLET, locale="en-US", accept_downloads=True)
        context.route("**/*", _only_this_machine(base))
        page = context.new_page()
        page.goto(f"/portal?lang={lang}")  # not logged in: the login page, in the chosen language
        expect(page.get_by_test_id("token-input")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == lang
        page.screenshot(path=str(shots / f"login-{lang}.png"))

        page.get_by_test_id("token-input").fill(token)
        page.get_by_test_id("login-submit").click()  # a real form POST: Chromium sends this site's Origin
        expect(page.get_by_test_id("lot-row")).to_have_count(1)
        expect(page.get_by_test_id("lot-row")).to_contain_text("LOT-1")
        cookie = next(c for c in context.cookies() if c["name"] == "tem_inspect")
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"

        order_id = _order(page, 20)
        page.screenshot(path=str(shots / f"home-{lang}.png"), full_page=True)
        with page.expect_download() as pdf:
            page.get_by_test_id(f"order-pdf-{order_id}").click()
        assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF-")
        csv = context.request.get(f"{base}/portal/orders/{order_id}/stamps.csv")
        assert csv.ok
        uris = [line for line in csv.text().split() if line.upper().startswith("HTTP")]
        assert len(uris) == 20

        # A handheld scanner types the URI and Enter: the first field hands over to the next, nothing is sent.
        first = page.get_by_test_id("activate-first")
        first.fill(uris[0])
        first.press("Enter")
        expect(page.get_by_test_id("activate-last")).to_be_focused()
        page.get_by_test_id("activate-last").fill(uris[-1])
        page.get_by_test_id("activate-lot").select_option("LOT-1")
        page.get_by_test_id("activate-submit").click()
        expect(page.get_by_test_id("activation-preview")).to_contain_text(WORDS[lang]["preview"])
        page.screenshot(path=str(shots / f"preview-{lang}.png"))
        page.get_by_test_id("activate-confirm").click()
        expect(page.get_by_test_id("activation-result")).to_contain_text(WORDS[lang]["result"])
        page.screenshot(path=str(shots / f"activated-{lang}.png"))

        parts = urlsplit(uris[3])
        page.goto(f"{base}{parts.path}?{parts.query}")  # a consumer's scan of one of them
        assert urlsplit(page.url).path == f"/01/{GTIN_A}/10/LOT-1"
        assert page.locator('[data-verdict="genuine"]').count() == 1
        context.close()


STAGE_WORDS = {
    "vi": {"saved": "Đã lưu nơi đến.", "stage": "Qua cửa khẩu", "recorded": "Đã ghi công đoạn."},
    "en": {"saved": "Destinations saved.", "stage": "Border crossing", "recorded": "Stage recorded."},
    "zh": {"saved": "目的地已保存。", "stage": "通关", "recorded": "环节已记录。"},
}


@pytest.mark.parametrize("lang", ["vi", "en", "zh"])
def test_add_a_destination_and_a_stage_from_the_lots_page(
    browser: Browser, world: World, env: dict[str, str], shots: Path, lang: str
) -> None:
    made = setup_packer(world.client, world.packer)
    token = world.packer["Authorization"].removeprefix("Bearer ")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(base_url=base, viewport=TABLET, locale="en-US")
        context.route("**/*", _only_this_machine(base))
        page = context.new_page()
        page.goto(f"/portal/login?lang={lang}")
        page.get_by_test_id("token-input").fill(token)
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("lot-row").get_by_role("link", name="LOT-1").click()
        expect(page.get_by_test_id("lot-code")).to_contain_text("LOT-1")

        # A destination city, typed with a Vietnamese decimal comma, and a border gate ticked.
        page.get_by_test_id("place-name-1").fill("Nanning")
        page.get_by_test_id("place-country-1").fill("CN")
        page.get_by_test_id("place-lat-1").fill("22,8170")
        page.get_by_test_id("place-lon-1").fill("108.3665")
        page.get_by_test_id("destination-gate-1").check()
        page.get_by_test_id("destinations-submit").click()  # a real form POST, with its CSRF token
        expect(page.get_by_test_id("notice")).to_have_text(STAGE_WORDS[lang]["saved"])
        expect(page.get_by_test_id("place-row")).to_have_text("Nanning · CN · 22.817, 108.3665")
        expect(page.get_by_test_id("lot-gates")).to_have_text("Hữu Nghị/Tân Thanh")

        # A latitude beyond the pole is refused on the page, in the page's language, and nothing changes.
        page.get_by_test_id("place-lat-1").fill("95")
        page.get_by_test_id("destinations-submit").click()
        expect(page.get_by_test_id("error")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == lang
        assert "{" not in page.get_by_test_id("error").inner_text()

        page.get_by_test_id("stage-kind").select_option("border_crossing")
        page.get_by_test_id("stage-time").fill("2026-06-24T20:00")
        page.get_by_test_id("stage-place").fill("Hữu Nghị")
        page.get_by_test_id("stage-submit").click()
        expect(page.get_by_test_id("notice")).to_have_text(STAGE_WORDS[lang]["recorded"])
        expect(page.get_by_test_id("stage-row")).to_have_count(1)
        expect(page.get_by_test_id("stage-row")).to_contain_text(STAGE_WORDS[lang]["stage"])
        expect(page.get_by_test_id("stage-row")).to_contain_text("Hữu Nghị")
        page.screenshot(path=str(shots / f"lot-{lang}.png"), full_page=True)
        context.close()
    lot = world.client.get(f"/api/v1/lots/{made['lot']['id']}", headers=world.packer).json()
    assert lot["destination_places"] == [{"name": "Nanning", "lat": 22.817, "lon": 108.3665, "country": "CN"}]
    assert lot["border_gates"] == ["Hữu Nghị/Tân Thanh"]
    assert [s["stage"] for s in lot["stages"]] == ["border_crossing"]
