"""The inspector app in a real browser: headless Debian Chromium driven by Playwright, against `tem serve`.

Log in; a genuine stamp is "genuine", a tampered one "counterfeit"; offline, a genuine stamp still
verifies by its signature and the inspection waits on the device; back online it reaches the database
exactly once. The stamp-format test vectors also run through the app's own verifier, both with the
browser's WebCrypto and with the bundled noble-ed25519, and the bundled QR decoder reads a stamp.
"""

from __future__ import annotations

import base64
import io
import json
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright
from sqlalchemy import select

from inspector.models import Inspection
from tem.core.db import Database
from tem.core.settings import Settings
from tests.browser import CHROMIUM_ARGS, ROOT, ensure_chromium, screenshots_wanted
from tests.conftest import World
from tests.processes import tem_serve
from tests.resolver_helpers import issue_and_activate

VECTORS = ROOT / "tests" / "vectors"
STATIC = ROOT / "inspector" / "static" / "inspect"
DOCS = ROOT / "docs" / "inspector"
PHONE = {"width": 412, "height": 860}
HANDHELD = {"width": 320, "height": 560}


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


def _inspections(settings: Settings) -> list[Inspection]:
    db = Database(settings.effective_database_url)
    with db.session() as session:
        rows = list(session.scalars(select(Inspection).order_by(Inspection.id)).all())
        for row in rows:
            session.expunge(row)
    db.dispose()
    return rows


def _scan(page: Page, uri: str) -> None:
    box = page.get_by_test_id("scan-input")
    box.fill(uri)
    box.press("Enter")


def test_inspector_app_online_offline_and_sync(
    browser: Browser, world: World, settings: Settings, env: dict[str, str], shots: Path
) -> None:
    stamps = issue_and_activate(world)
    genuine, offline_genuine = stamps.uris[0], stamps.uris[1]
    tampered = genuine.replace("/21/1?", "/21/2?")
    token = world.inspector["Authorization"].removeprefix("Bearer ")
    serve_env = {**env, "TEM_REDIS_PREFIX": settings.redis_prefix}

    with tem_serve(serve_env) as base:
        context: BrowserContext = browser.new_context(
            base_url=base,
            viewport=PHONE,
            locale="en-US",
            geolocation={"latitude": 21.0285, "longitude": 105.8542, "accuracy": 20},
            permissions=["geolocation"],
        )
        page = context.new_page()
        page.goto("/inspect")
        expect(page.get_by_test_id("token-input")).to_be_visible()
        page.screenshot(path=str(shots / "login.png"))

        page.get_by_test_id("token-input").fill(token)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("scan-input")).to_be_visible()
        cookie = next(c for c in context.cookies() if c["name"] == "tem_inspect")
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["expires"] > 0  # not a browser-session cookie: it has an expiry
        assert cookie["value"] != token
        # The app's first load caches the keyset on the device.
        page.wait_for_function("() => window.temInspect && window.temInspect.state.keys !== null")

        _scan(page, genuine)
        verdict = page.get_by_test_id("verdict")
        expect(verdict).to_contain_text("genuine", timeout=10_000)
        expect(page.locator("#details")).to_contain_text("LOT-1")
        expect(page.locator("#details")).to_contain_text("Cơ sở đóng gói A")
        expect(page.locator("#details")).to_contain_text("checked 1 time")
        page.screenshot(path=str(shots / "genuine.png"), full_page=True)

        _scan(page, tampered)
        expect(verdict).to_contain_text("counterfeit", timeout=10_000)
        expect(verdict).to_contain_text("forged")
        page.screenshot(path=str(shots / "counterfeit.png"), full_page=True)

        # The service worker has the app shell, so the app also starts without a network.
        page.evaluate("() => navigator.serviceWorker.ready")

        context.set_offline(True)
        _scan(page, offline_genuine)
        expect(verdict).to_contain_text("signature valid")
        expect(verdict).to_contain_text("unknown (offline)")
        page.get_by_test_id("note-input").fill("Sạp 12, chợ Long Biên")
        page.get_by_test_id("record-submit").click()
        expect(page.get_by_test_id("pending-count")).to_have_text("1")
        page.screenshot(path=str(shots / "offline-queued.png"), full_page=True)
        queued = page.evaluate("() => JSON.parse(localStorage.getItem('tem.inspect.queue'))")
        assert len(queued) == 1
        assert queued[0]["verdict_source"] == "offline"
        assert queued[0]["latitude"] == pytest.approx(21.0285)
        assert _inspections(settings) == []

        # Offline, a reload still opens the app from the service worker's cache.
        page.reload()
        expect(page.get_by_test_id("scan-input")).to_be_visible()
        expect(page.get_by_test_id("pending-count")).to_have_text("1")

        context.set_offline(False)
        expect(page.get_by_test_id("pending-count")).to_have_text("0", timeout=15_000)
        stored = _inspections(settings)
        assert [row.client_id for row in stored] == [queued[0]["client_id"]]
        assert stored[0].verdict_source == "offline"
        assert stored[0].signature == "valid"
        assert stored[0].note == "Sạp 12, chợ Long Biên"
        # A retry of the same record from the device (a lost answer) changes nothing.
        replay = page.evaluate(
            """async (record) => {
                const {owner, ...body} = record;
                const r = await fetch('/api/v1/inspections', {method: 'POST', credentials: 'same-origin',
                  headers: {'Content-Type': 'application/json', 'X-Tem-Inspect': '1'}, body: JSON.stringify(body)});
                return r.status;
            }""",
            queued[0],
        )
        assert replay == 200
        page.evaluate("() => window.temInspect.sync()")
        assert len(_inspections(settings)) == 1
        expect(page.get_by_test_id("sync-status")).to_contain_text("1 record sent")
        page.screenshot(path=str(shots / "synced.png"), full_page=True)

        # In Vietnamese the English keyword stays on the verdict.
        page.locator("#lang").click()
        _scan(page, stamps.uris[2])
        expect(verdict).to_contain_text("hàng thật", timeout=10_000)
        expect(verdict).to_contain_text("genuine")
        page.screenshot(path=str(shots / "genuine-vi.png"), full_page=True)
        page.locator("#lang").click()

        # A handheld's small screen: the verdict and the scan field still fit without scrolling.
        page.set_viewport_size(HANDHELD)
        _scan(page, genuine)
        expect(verdict).to_contain_text("genuine", timeout=10_000)
        box = verdict.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= HANDHELD["height"]
        assert box["width"] <= HANDHELD["width"]
        page.screenshot(path=str(shots / "handheld.png"))

        page.get_by_test_id("logout").click()
        expect(page.get_by_test_id("token-input")).to_be_visible()
        assert not [c for c in context.cookies() if c["name"] == "tem_inspect"]
        context.close()


def _serve_static(route: Route) -> None:
    """The app's files straight from the repository, on a loopback origin (a secure context)."""
    path = route.request.url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
    if path in ("", "index.html"):
        route.fulfill(body="<!doctype html><title>vectors</title>", content_type="text/html")
        return
    name = path.removeprefix("inspect/assets/")
    file = (STATIC / name).resolve()
    if not path.startswith("inspect/assets/") or STATIC not in file.parents or not file.is_file():
        route.fulfill(status=404, body="not found")
        return
    content_type = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0] or "text/plain"
    route.fulfill(body=file.read_bytes(), content_type=content_type)


def test_stamp_vectors_and_qr_decoding_in_the_browser(browser: Browser) -> None:
    cases = json.loads((VECTORS / "cases.json").read_text())["cases"]
    keyset = json.loads((VECTORS / "keyset.json").read_text())
    context = browser.new_context()
    context.route("http://127.0.0.1:9/**", _serve_static)
    page = context.new_page()
    page.goto("http://127.0.0.1:9/")
    results: dict[str, Any] = page.evaluate(
        """async ([cases, keyset]) => {
            const stamp = await import('/inspect/assets/stamp.js');
            const ed = await import('/inspect/assets/ed25519.js');
            const keys = stamp.parseKeyset(keyset);
            const out = {native: await ed.implementation(), webcrypto: {}, noble: {}, parsed: {}};
            for (const impl of ['webcrypto', 'noble']) {
                for (const c of cases) {
                    let parsed;
                    try { parsed = stamp.parseStampUri(c.uri); }
                    catch (e) { out[impl][c.name] = 'format_error'; continue; }
                    const message = new TextDecoder().decode(stamp.signingMessage(parsed));
                    out.parsed[c.name] = {gtin: parsed.gtin, serial: parsed.serial, kid: parsed.kid,
                                          lot: parsed.lot, message};
                    out[impl][c.name] = (await stamp.verifyStamp(parsed, keys, {impl})).status;
                }
            }
            return out;
        }""",
        [cases, keyset],
    )
    assert results["native"] == "webcrypto"  # this Chromium verifies Ed25519 itself on a secure origin
    for case in cases:
        for impl in ("webcrypto", "noble"):
            assert results[impl][case["name"]] == case["expected"], (impl, case["name"])
        if case["expected"] != "format_error":
            parsed = results["parsed"][case["name"]]
            assert parsed["message"] == case["message"]
            assert parsed["gtin"] == case["parsed"]["gtin"]
            assert parsed["serial"] == case["parsed"]["serial"]
            assert parsed["lot"] == case["parsed"]["lot"]

    # A keyset carrying a private key is refused, as on the server.
    bad = {"keys": [{**keyset["keys"][0], "d": "AAAA"}]}
    refused = page.evaluate(
        """async (doc) => {
            const stamp = await import('/inspect/assets/stamp.js');
            try { stamp.parseKeyset(doc); return 'accepted'; } catch (e) { return e.message; }
        }""",
        bad,
    )
    assert "private key" in refused

    # The bundled decoder (used where the browser has no BarcodeDetector) reads a stamp's QR code.
    uri = cases[0]["uri"]
    png = io.BytesIO()
    segno.make_qr(uri, error="q").save(png, kind="png", scale=4, border=4)
    data_url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    decoded = page.evaluate(
        """async (src) => {
            const scanner = await import('/inspect/assets/scanner.js');
            const img = new Image();
            img.src = src;
            await img.decode();
            const canvas = document.createElement('canvas');
            canvas.width = img.width; canvas.height = img.height;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            return scanner.decodeImageData(ctx.getImageData(0, 0, img.width, img.height));
        }""",
        data_url,
    )
    assert decoded == uri
    context.close()
