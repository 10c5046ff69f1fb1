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
from tests.print_support import TEMPLATES, assert_genuine, decode_all, decode_gs1_128, render

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
    return response.text.split()[1:]  # after the header row


def activate(client: TestClient, who: dict[str, str], first: int, last: int, lot: str = "LOT-1") -> None:
    """Activate serials on a lot: a box label's GS1-128 carries the lot, so it prints only after this."""
    body = {"gtin": GTIN_A, "first_serial": first, "last_serial": last, "lot": lot}
    ok(client.post("/api/v1/activations", headers=who, json=body), 201)


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
    activate(c, world.packer, body["first_serial"], body["last_serial"])
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
    activate(c, world.packer, body["first_serial"], body["last_serial"])
    response = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-box-label", headers=world.packer)
    assert response.status_code == 200
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(response.content)
    pins = PinDeriver(PIN_KEY, GTIN_A)
    for index in range(len(pdf)):
        assert group_pin(pins(body["first_serial"] + index)) in pdf[index].get_textpage().get_text_range()
    pdf.close()


def test_box_label_of_serials_not_activated_on_a_lot_is_a_409(world: World, settings: Settings) -> None:
    c = world.client
    made = setup_packer(c, world.packer)
    lot_2 = {key: made["lot"][key] for key in ("gtin", "harvest_dates", "packing_date", "destination_markets")}
    lot_2 |= {
        "code": "LOT-2",
        "quantity": 10,
        "growing_areas": ["VN-TGOR-0123"],
        "households": [made["household"]["id"]],
    }
    lot_2_id = ok(c.post("/api/v1/lots", headers=world.packer, json=lot_2), 201)["id"]
    phyto = {"kind": "phytosanitary", "number": "PC-LOT-2"}  # an export lot's stamps need one (TEM_REQUIRE_PHYTO)
    ok(c.post(f"/api/v1/lots/{lot_2_id}/documents", headers=world.packer, json=phyto), 201)
    body = order(c, world.packer, GTIN_A, 6)
    first, last = body["first_serial"], body["last_serial"]
    for fmt in ("pdf", "zpl"):
        response = c.get(f"/api/v1/orders/{body['id']}/print.{fmt}?template=durian-box-label", headers=world.packer)
        assert response.status_code == 409, response.text
        assert response.json() == {
            "error": {
                "message": f"box labels carry the lot in their barcode: activate serials {first}–{last} "
                "on their lot first, then print them",
                "field": "template",
            }
        }
    activate(c, world.packer, first + 1, first + 2)
    response = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-box-label", headers=world.packer)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        f"box labels carry the lot in their barcode: activate serials {first}, {first + 3}–{last} "
        "on their lot first, then print them"
    )
    # The fruit tag carries no lot: it prints before activation, as it always did.
    assert c.get(f"/api/v1/orders/{body['id']}/print.pdf", headers=world.packer).status_code == 200
    assert [e.details["template"] for e in printed_events(settings)] == ["durian-fruit-tag"]  # refusals not logged

    activate(c, world.packer, first, first)
    activate(c, world.packer, first + 3, last, lot="LOT-2")
    response = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-box-label", headers=world.packer)
    assert response.status_code == 200, response.text
    pages = list(render(response.content, 203))
    expected = issued(c, world.packer, body["id"])
    assert [decode_all(page) for page in pages] == [[uri] for uri in expected]
    lots = ["LOT-1"] * 3 + ["LOT-2"] * 3
    assert [decode_gs1_128(page) for page in pages] == [
        [("]C1", f"(01){GTIN_A}(21){serial}(10){lot}", f"01{GTIN_A}21{serial}\x1d10{lot}".encode())]
        for serial, lot in zip(range(first, last + 1), lots, strict=True)
    ]


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
                "category": "stolen",
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
    activate(world.client, world.packer, body["first_serial"], body["last_serial"])
    with TestClient(create_app(settings.model_copy(update={"pin_key": None}))) as c:
        box = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-box-label", headers=world.packer)
        tag = c.get(f"/api/v1/orders/{body['id']}/print.pdf?template=durian-fruit-tag", headers=world.packer)
    assert box.status_code == 503
    assert "no PIN key is set: set TEM_PIN_KEY" in box.json()["error"]["message"]
    assert tag.status_code == 200


SHIPPED_TEMPLATES = [
    {
        "name": "a4-sheet-5x13",
        "description": "A4 sheet, 5 × 13 labels of 38.1 × 21.2 mm, 600 dpi office printer",
        "kind": "sheet",
        "layout": "sheet",
        "width_mm": 38.1,
        "height_mm": 21.2,
        "dpi": 600,
        "formats": ["pdf"],
        "pin_panel": False,
    },
    {
        "name": "durian-box-label",
        "description": "Durian box label, 148 × 105 mm (A6), roll, 203 dpi, with GS1-128 and scratch-off PIN",
        "kind": "box_label",
        "layout": "roll",
        "width_mm": 148.0,
        "height_mm": 105.0,
        "dpi": 203,
        "formats": ["pdf", "zpl"],
        "pin_panel": True,
    },
    {
        "name": "durian-fruit-tag",
        "description": "Durian fruit tag, 30 × 20 mm, roll, 300 dpi",
        "kind": "fruit_tag",
        "layout": "roll",
        "width_mm": 30.0,
        "height_mm": 20.0,
        "dpi": 300,
        "formats": ["pdf", "zpl"],
        "pin_panel": False,
    },
]


def test_label_templates_lists_the_folder_and_leaves_out_a_broken_template(
    world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    c = world.client
    for who in (world.packer, world.ministry):
        with caplog.at_level("WARNING", logger="tem.printing"):
            response = c.get("/api/v1/label-templates", headers=who)
        assert response.status_code == 200, response.text
        # tiny-tag (203 dpi) is refused when loaded: left out, and the server says why.
        assert response.json() == SHIPPED_TEMPLATES
    assert "label template tiny-tag left out of the list" in caplog.text
    assert "printer dots at 203 dpi" in caplog.text

    # TEM_LABEL_TEMPLATES is read on each call: a template added to that folder is listed at once.
    assert settings.label_templates is not None
    text = (TEMPLATES / "durian-fruit-tag.toml").read_text(encoding="utf-8")
    (settings.label_templates / "big-tag.toml").write_text(
        text.replace('name = "durian-fruit-tag"', 'name = "big-tag"').replace("width_mm = 30", "width_mm = 40"),
        encoding="utf-8",
    )
    listed = {t["name"]: t for t in c.get("/api/v1/label-templates", headers=world.packer).json()}
    assert sorted(listed) == ["a4-sheet-5x13", "big-tag", "durian-box-label", "durian-fruit-tag"]
    assert (listed["big-tag"]["kind"], listed["big-tag"]["width_mm"], listed["big-tag"]["height_mm"]) == (
        "fruit_tag",
        40.0,
        20.0,
    )


def test_label_templates_without_the_setting_are_the_shipped_ones(world: World, settings: Settings) -> None:
    from tem.app import create_app

    with TestClient(create_app(settings.model_copy(update={"label_templates": None}))) as c:
        response = c.get("/api/v1/label-templates", headers=world.packer)
    assert response.status_code == 200, response.text
    assert response.json() == SHIPPED_TEMPLATES


def test_label_templates_need_a_packer_or_the_ministry(world: World) -> None:
    c = world.client
    anonymous = c.get("/api/v1/label-templates")
    assert anonymous.status_code == 401
    assert "needs an API token" in anonymous.json()["error"]["message"]
    unknown = c.get("/api/v1/label-templates", headers={"Authorization": "Bearer not-a-token"})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["message"] == "the API token is unknown or has been revoked"
    assert c.get("/api/v1/label-templates", headers=world.inspector).status_code == 403


def test_label_templates_from_a_missing_folder_say_so(world: World, settings: Settings) -> None:
    assert settings.label_templates is not None
    shutil.rmtree(settings.label_templates)
    response = world.client.get("/api/v1/label-templates", headers=world.packer)
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert message == (
        f"TEM_LABEL_TEMPLATES names {settings.label_templates}, which is not a folder; set TEM_LABEL_TEMPLATES to "
        "a folder of label templates (*.toml)"
    )


def test_label_templates_are_documented_in_the_openapi_schema(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/label-templates"]["get"]
    assert operation["tags"] == ["printing"]
    ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema["items"]["$ref"].endswith("/LabelTemplateRead")
    fields = schema["components"]["schemas"]["LabelTemplateRead"]["properties"]
    assert fields["kind"]["enum"] == ["fruit_tag", "box_label", "sheet"]
    assert {"name", "width_mm", "height_mm", "kind"} <= set(fields)
