"""The print endpoints: streamed PDF and ZPL, who may download, the audit log, and bad input."""

from __future__ import annotations

import base64
import shutil
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from crypto import parse_keyset_document
from crypto.pin import PinDeriver
from issuer.models import AuditEvent
from printing.labels import group_pin
from tem.core.db import Database
from tem.core.settings import OrderApproval, Settings
from tests.conftest import World
from tests.helpers import GTIN_A, ok, order, setup_packer
from tests.print_support import TEMPLATES, assert_genuine, decode_all, render

PIN_KEY = bytes(range(100, 132))


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shared settings plus a PIN key and a template folder that also holds a broken template."""
    folder = tmp_path / "labels"
    shutil.copytree(TEMPLATES, folder)
    tiny = tomllib.loads((TEMPLATES / "durian-fruit-tag.toml").read_text(encoding="utf-8"))
    text = (TEMPLATES / "durian-fruit-tag.toml").read_text(encoding="utf-8")
    assert tiny["dpi"] == 300
    (folder / "tiny-tag.toml").write_text(
        text.replace('name = "durian-fruit-tag"', 'name = "tiny-tag"').replace("dpi = 300", "dpi = 203"),
        encoding="utf-8",
    )
    return settings.model_copy(update={"pin_key": base64.b64encode(PIN_KEY).decode(), "label_templates": folder})


def issued(client: TestClient, who: dict[str, str], order_id: int) -> list[str]:
    response = client.get(f"/api/v1/orders/{order_id}/stamps.csv", headers=who)
    assert response.status_code == 200
    return response.text.split()


def printed_events(settings: Settings) -> list[AuditEvent]:
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "order.printed")))
    finally:
        db.dispose()


def test_owner_downloads_a_pdf_that_decodes_to_the_issued_stamps(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    body = order(c, world.packer, GTIN_A, 12)
    response = c.get(f"/api/v1/orders/{body['id']}/print.pdf", headers=world.packer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "durian-fruit-tag.pdf" in response.headers["content-disposition"]  # the default template
    decoded = [decode_all(page) for page in render(response.content, 300)]
    expected = issued(c, world.packer, body["id"])
    assert decoded == [[uri] for uri in expected]
    keys = parse_keyset_document(c.get("/.well-known/tem-keys.json").json())
    assert_genuine(expected, keys)

    events = printed_events(settings)
    assert len(events) == 1
    event = events[0]
    assert event.actor.startswith("token:")
    assert event.actor.endswith("packer VN-TGPH-0001")
    assert event.subject == f"order:{body['id']}"
    assert event.details == {
        "template": "durian-fruit-tag",
        "format": "pdf",
        "first_serial": body["first_serial"],
        "last_serial": body["last_serial"],
        "labels": 12,
    }
    assert event.at is not None


def test_ministry_may_download_others_get_404(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    body = order(c, world.packer, GTIN_A, 3)
    path = f"/api/v1/orders/{body['id']}/print.pdf"
    assert c.get(path, headers=world.ministry).status_code == 200
    for who in (world.other_packer, world.inspector):
        response = c.get(path, headers=who)
        assert response.status_code == 404
        assert response.json()["error"]["message"] == f"no order with id {body['id']}"
    assert c.get(path).status_code == 401
    assert [e.actor.split(":")[-1] for e in printed_events(settings)] == ["ministry BNNMT"]


def test_zpl_has_one_label_a_stamp_with_the_same_uri(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    body = order(c, world.packer, GTIN_A, 5)
    response = c.get(f"/api/v1/orders/{body['id']}/print.zpl?template=durian-box-label", headers=world.packer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zpl")
    expected = issued(c, world.packer, body["id"])
    text = response.text
    labels = [part for part in text.split("^XA") if "^BQN" in part]
    assert len(labels) == 5
    pins = PinDeriver(PIN_KEY, GTIN_A)
    for label, uri, serial in zip(labels, expected, range(body["first_serial"], body["last_serial"] + 1), strict=True):
        assert label.count(f"^FDQA,{uri}^FS") == 1
        assert f"^FD{group_pin(pins(serial))}^FS" in label


def test_box_label_pdf_carries_the_derived_pin(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    body = order(c, world.packer, GTIN_A, 2)
    response = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-box-label", headers=world.packer)
    assert response.status_code == 200
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(response.content)
    pins = PinDeriver(PIN_KEY, GTIN_A)
    for index in range(len(pdf)):
        assert group_pin(pins(body["first_serial"] + index)) in pdf[index].get_textpage().get_text_range()
    pdf.close()


def test_bad_input_is_a_clear_4xx_and_is_not_logged(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    body = order(c, world.packer, GTIN_A, 20)
    base = f"/api/v1/orders/{body['id']}"

    unknown = c.get(f"{base}/print.pdf?template=no-such-label", headers=world.packer)
    assert unknown.status_code == 422
    assert "unknown label template 'no-such-label'; available:" in unknown.json()["error"]["message"]

    geometry = c.get(f"{base}/print.pdf?template=tiny-tag", headers=world.packer)
    assert geometry.status_code == 422
    assert "printer dots at 203 dpi; at least 3 are needed" in geometry.json()["error"]["message"]

    sheet_zpl = c.get(f"{base}/print.zpl?template=a4-sheet-5x13", headers=world.packer)
    assert sheet_zpl.status_code == 422
    assert "ZPL is for roll printers" in sheet_zpl.json()["error"]["message"]

    assert c.get("/api/v1/orders/99999/print.pdf", headers=world.packer).status_code == 404

    ok(
        c.post(
            "/api/v1/revocations",
            headers=world.packer,
            json={
                "gtin": GTIN_A,
                "first_serial": body["first_serial"] + 5,
                "last_serial": body["first_serial"] + 6,
                "reason": "roll lost in transit",
            },
        ),
        201,
    )
    revoked = c.get(f"{base}/print.pdf", headers=world.packer)
    assert revoked.status_code == 409
    message = revoked.json()["error"]["message"]
    assert f"serials {body['first_serial'] + 5}–{body['first_serial'] + 6}" in message
    assert "revoked" in message
    assert printed_events(settings) == []


def test_an_order_that_is_not_issued_cannot_print(world: World, settings: Settings) -> None:
    from tem.app import create_app

    setup_packer(world.client, world.packer)
    strict = settings.model_copy(update={"order_approval": OrderApproval.REQUIRED})
    with TestClient(create_app(strict)) as c:
        body = order(c, world.packer, GTIN_A, 10)
        assert body["status"] == "pending"
        response = c.get(f"/api/v1/orders/{body['id']}/print.pdf", headers=world.packer)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == f"order {body['id']} is pending; it has no stamps to print yet"


def test_pin_template_without_a_pin_key(world: World, settings: Settings) -> None:
    from tem.app import create_app

    setup_packer(world.client, world.packer)
    body = order(world.client, world.packer, GTIN_A, 2)
    with TestClient(create_app(settings.model_copy(update={"pin_key": None}))) as c:
        box = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-box-label", headers=world.packer)
        tag = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-fruit-tag", headers=world.packer)
    assert box.status_code == 503
    assert "no PIN key is set: set TEM_PIN_KEY" in box.json()["error"]["message"]
    assert tag.status_code == 200
