"""Confirming the scratch-off PIN on the trace page: first time genuine, again counterfeit, guesses locked out."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from crypto.pin import derive_pin
from tests.conftest import World
from tests.helpers import GTIN_A
from tests.resolver_helpers import flush, issue_and_activate, runtime, scan_token_of, stamp_alerts

PIN_KEY = base64.b64encode(bytes(range(100, 132))).decode()
BOX = "durian-box-label"  # a template with a scratch-off PIN panel; the fruit tag has none


def _scan(client: TestClient, uri: str) -> dict[str, str]:
    parts = urlsplit(uri)
    redirect = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    page = client.get(redirect.headers["location"])
    assert 'action="/scans/pin"' in page.text
    return {"gtin": GTIN_A, "serial": query["serial"][0], "scan": scan_token_of(redirect), "lang": "en"}


def test_first_confirmation_is_genuine_and_a_second_on_another_phone_is_suspect(world: World) -> None:
    c = world.client
    c.app.state.tem.settings = c.app.state.tem.settings.model_copy(update={"pin_key": PIN_KEY})  # type: ignore[attr-defined]
    stamps = issue_and_activate(world, template=BOX)
    form = _scan(c, stamps.uris[0])
    pin = derive_pin(base64.b64decode(PIN_KEY), GTIN_A, 1)
    first = c.post("/scans/pin", data={**form, "pin": pin})
    assert first.status_code == 200
    assert 'data-verdict="genuine"' in first.text
    assert "first confirmation" in first.text
    again = c.post("/scans/pin", data={**form, "pin": pin})
    assert 'data-verdict="genuine"' in again.text  # the same phone confirming again is no evidence
    c.cookies.clear()  # another phone: the PIN was copied with the stamp
    copied = c.post("/scans/pin", data={**form, "pin": pin}, headers={"user-agent": "another phone"})
    # A copy, or the household's second phone: not proof, so suspect, in words that say both.
    assert 'data-verdict="suspect"' in copied.text
    assert "already confirmed 2 time(s) before, on another phone" in copied.text
    assert flush(c) == 1
    (alert,) = stamp_alerts(c)
    assert (alert.type, alert.severity, alert.serial) == ("pin_reused", "warning", "1")


def test_wrong_pins_are_counted_and_locked_out(world: World) -> None:
    c = world.client
    c.app.state.tem.settings = c.app.state.tem.settings.model_copy(update={"pin_key": PIN_KEY})  # type: ignore[attr-defined]
    stamps = issue_and_activate(world, template=BOX)
    form = _scan(c, stamps.uris[1])
    right = derive_pin(base64.b64decode(PIN_KEY), GTIN_A, 2)
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    answers = [c.post("/scans/pin", data={**form, "pin": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert "does not match" in answers[0].text
    assert "Too many wrong codes" in answers[-1].text
    # Even the right code is refused once the stamp is locked.
    assert c.post("/scans/pin", data={**form, "pin": right}).status_code == 429


def test_pin_needs_a_genuine_scan_and_eight_digits(world: World) -> None:
    c = world.client
    c.app.state.tem.settings = c.app.state.tem.settings.model_copy(update={"pin_key": PIN_KEY})  # type: ignore[attr-defined]
    stamps = issue_and_activate(world, template=BOX)
    form = _scan(c, stamps.uris[2])
    assert (
        c.post("/scans/pin", data={**form, "scan": "01M8" + "0" * 22 + ".g.deadbeef", "pin": "12345678"}).status_code
        == 404
    )
    assert c.post("/scans/pin", data={**form, "pin": "12ab"}).status_code == 422
    assert c.post("/scans/pin", data={**form, "serial": "x", "pin": "12345678"}).status_code == 400


def test_no_pin_form_without_a_pin_key(world: World) -> None:
    stamps = issue_and_activate(world)
    parts = urlsplit(stamps.uris[0])
    page = world.client.get(f"{parts.path}?{parts.query}")
    assert "/scans/pin" not in page.text


def test_no_pin_form_for_a_label_without_a_pin_panel(world: World) -> None:
    """The fruit tag prints no PIN panel: its trace page never asks for one, even with a PIN key set. Printed on
    a template with a panel after all (`?template=`), its stamps are asked for it."""
    c = world.client
    c.app.state.tem.settings = c.app.state.tem.settings.model_copy(update={"pin_key": PIN_KEY})  # type: ignore[attr-defined]
    stamps = issue_and_activate(world, activate_last=20)  # a box label prints only once all are on a lot
    parts = urlsplit(stamps.uris[0])
    redirect = c.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    page = c.get(redirect.headers["location"])
    assert page.status_code == 200
    assert "/scans/pin" not in page.text
    printed = c.get(f"/api/v1/orders/{stamps.order_id}/print.pdf?template={BOX}", headers=world.packer)
    assert printed.status_code == 200
    runtime(c).registry.dirty = True  # the print event moves the registry on; other processes poll for it
    _scan(c, stamps.uris[1])
