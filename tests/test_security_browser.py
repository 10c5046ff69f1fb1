"""The security headers in a real browser (headless Debian Chromium, against `tem serve`): the strict
Content-Security-Policy (no 'unsafe-inline') lets the trace page's own inline script, /docs and /redoc work, and
the browser reports no refusal."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser import CHROMIUM_ARGS, ensure_chromium
from tests.conftest import World
from tests.processes import free_port, tem_serve
from tests.resolver_helpers import issue_and_activate


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_strict_policy_keeps_the_pages_and_api_docs_working(
    browser: Browser, world: World, env: dict[str, str]
) -> None:
    stamps = issue_and_activate(world)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda message: refused.append(message.text) if "Content Security" in message.text else None,
        )
        parts = urlsplit(stamps.uris[0])
        answer = page.goto(f"{base}{parts.path}?{parts.query}")
        assert answer is not None
        csp = answer.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert page.locator('[data-verdict="genuine"]').count() == 1
        # The trace page's inline script ran under its hash: it shows the share-location button.
        page.wait_for_selector("#share-location:not([hidden])", timeout=5000)

        docs = page.goto(f"{base}/docs")
        assert docs is not None
        assert "unsafe-inline" not in docs.headers["content-security-policy"]
        page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
        assert page.locator(".opblock").count() > 10  # the operations, read from /openapi.json

        redoc = page.goto(f"{base}/redoc")
        assert redoc is not None
        script_src = next(d for d in redoc.headers["content-security-policy"].split(";") if "script-src" in d)
        assert "unsafe-inline" not in script_src  # Redoc's own style elements only (tem/apidocs.py)
        page.wait_for_selector("text=Download OpenAPI specification", timeout=15000)
        # Redoc's footer logo from its CDN is refused on purpose (tem/apidocs.py); nothing else is.
        assert [m for m in refused if "cdn.redoc.ly" not in m] == [], refused
        context.close()
