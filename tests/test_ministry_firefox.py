"""The ministry's login in a real Firefox: headless Debian Firefox ESR over Marionette, against `tem serve`, with
every request that would leave the machine refused (and counted).

Firefox sends its own Fetch Metadata and Origin with the login form's POST (`Sec-Fetch-Site: same-origin`,
`Sec-Fetch-Mode: navigate`, `Origin: http://127.0.0.1:PORT`); the login check must take them for a login from this
site, as it does Chromium's (tests/test_ministry_browser.py). A form whose token was forged is still refused, and a
missing alert is a page in Firefox too, not raw JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from marionette_driver.by import By
from marionette_driver.errors import NoSuchElementException
from marionette_driver.marionette import Marionette, WebElement

from tests.browser import firefox
from tests.conftest import World
from tests.processes import free_port, tem_serve


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[Marionette, list[str]]]:
    workspace = tmp_path / "firefox"
    workspace.mkdir()
    with firefox(workspace) as (client, refused):
        client.timeout.implicit = 10  # finding an element waits up to 10 s for it (a page still loading)
        yield client, refused


def _find(client: Marionette, css: str) -> WebElement:
    """The element, or a failure that says which page Firefox shows instead."""
    try:
        element: WebElement = client.find_element(By.CSS_SELECTOR, css)
    except NoSuchElementException:
        pass
    else:
        return element
    shown = client.execute_script("return document.body ? document.body.innerText : ''")
    pytest.fail(f"no {css} on {client.get_url()}: {str(shown)[:500]!r}")


def _by_test_id(client: Marionette, test_id: str) -> WebElement:
    return _find(client, f'[data-testid="{test_id}"]')


def _loaded(client: Marionette) -> dict[str, Any]:
    """The page shown: its path, HTTP status, redirects followed to it and the content type of its document."""
    loaded: dict[str, Any] = client.execute_script(
        """const entry = performance.getEntriesByType("navigation")[0];
        return {path: location.pathname, status: entry.responseStatus, redirects: entry.redirectCount,
                contentType: document.contentType};"""
    )
    return loaded


def test_the_ministry_logs_in_from_firefox_and_a_missing_alert_is_a_page(
    browser: tuple[Marionette, list[str]], world: World, env: dict[str, str]
) -> None:
    client, refused = browser
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        # The check is not vacuous in Firefox: the same form with a forged token is refused.
        client.navigate(f"{base}/ministry/login?lang=en")
        _by_test_id(client, "token-input").send_keys(token)
        client.execute_script("document.querySelector('input[name=csrf]').value = 'forged';")
        _by_test_id(client, "login-submit").click()
        assert "was not sent from this site" in _find(client, "[role=alert]").text
        assert _loaded(client)["status"] == 403

        # A real login: Firefox's POST, with its own Origin and Sec-Fetch-* headers, is taken as this site's.
        client.navigate(f"{base}/ministry?lang=en")
        assert urlsplit(client.get_url()).path == "/ministry/login"
        _by_test_id(client, "token-input").send_keys(token)
        _by_test_id(client, "login-submit").click()
        assert _by_test_id(client, "ministry-dashboard").is_displayed()
        assert _loaded(client) == {"path": "/ministry", "status": 200, "redirects": 1, "contentType": "text/html"}

        client.navigate(f"{base}/ministry/alerts/999999?lang=en")
        missing = {"path": "/ministry/alerts/999999", "status": 404, "redirects": 0, "contentType": "text/html"}
        assert _loaded(client) == missing
        assert "Page not found" in _by_test_id(client, "error-page").text
        _by_test_id(client, "error-home").click()
        assert _by_test_id(client, "front-title").is_displayed()
    assert refused == []
