"""The packing houses' portal at /portal: login, CSRF, the lots list, ordering, activation with its preview,
errors shown on the page, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from identity.models import Organisation
from issuer.models import Lot
from portal.endpoints import csrf_token
from tem.core.db import Database
from tem.core.settings import Settings
from tests.alert_support import open_alert
from tests.conftest import World
from tests.helpers import GTIN_A, GTIN_B, ok, order, setup_packer
from tests.test_trace_page import make_lot, path_of


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _login(client: TestClient, headers: dict[str, str], lang: str = "en") -> str:
    """Logs the client in as this packer; returns the CSRF token of its forms."""
    response = client.post(f"/portal/login?lang={lang}", data={"token": _token(headers)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/portal?lang={lang}"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    return csrf_token(client.cookies["tem_inspect"])


def _uris(csv_text: str) -> list[str]:
    return [line for line in csv_text.split() if line.upper().startswith("HTTP")]


def _csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


@pytest.fixture
def lots(world: World) -> World:
    setup_packer(world.client, world.packer)
    setup_packer(world.client, world.other_packer, GTIN_B, area="VN-DLOR-0001", lot="LOT-B")
    return world


def test_login_page_is_vietnamese_by_default_with_a_strict_policy(client: TestClient) -> None:
    response = client.get("/portal/login")
    assert response.status_code == 200
    assert 'lang="vi"' in response.text
    assert "Đăng nhập" in response.text
    assert 'data-testid="token-input"' in response.text
    assert 'data-testid="login-submit"' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in response.text  # scripts only from /portal/static
    for lang, word in (("en", "Log in"), ("zh", "登录")):
        assert word in client.get(f"/portal/login?lang={lang}").text
    assert client.get("/portal/static/portal.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/portal/static/../endpoints.py").status_code == 404


def test_portal_without_login_goes_to_the_login_page(client: TestClient) -> None:
    response = client.get("/portal?lang=zh", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/login?lang=zh"


def test_login_with_a_bad_token_is_refused_on_the_page(client: TestClient, world: World) -> None:
    response = client.post("/portal/login?lang=en", data={"token": "tem_nonsense"})
    assert response.status_code == 401
    assert "The token is unknown or revoked." in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "tem_inspect" not in client.cookies


def test_login_of_another_role_is_refused(client: TestClient, world: World) -> None:
    response = client.post("/portal/login?lang=en", data={"token": _token(world.ministry)})
    assert response.status_code == 403
    assert "This portal is for packing houses." in response.text


def test_login_from_another_site_is_refused(client: TestClient, world: World) -> None:
    response = client.post(
        "/portal/login", data={"token": _token(world.packer)}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "tem_inspect" not in client.cookies


def test_lots_list_shows_only_the_packers_own_lots(lots: World) -> None:
    _login(lots.client, lots.packer)
    page = lots.client.get("/portal?lang=en").text
    rows = re.findall(r'<tr data-testid="lot-row">(.*?)</tr>', page)
    assert len(rows) == 1
    assert "LOT-1" in rows[0]
    assert "LOT-B" not in page


def test_another_packers_lot_is_not_found(lots: World, settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    with db.session() as session:
        ids = {code: i for i, code in session.execute(select(Lot.id, Lot.code))}
    db.dispose()
    _login(lots.client, lots.packer)
    assert "LOT-1" in lots.client.get(f"/portal/lots/{ids['LOT-1']}?lang=en").text
    response = lots.client.get(f"/portal/lots/{ids['LOT-B']}?lang=en")
    assert response.status_code == 404
    assert "LOT-B" not in response.text
    assert "Not found." in response.text


def test_a_form_without_its_csrf_token_gets_a_403_page(lots: World) -> None:
    _login(lots.client, lots.packer)
    response = lots.client.post("/portal/orders?lang=en", data={"gtin": GTIN_A, "quantity": "5", "template": "x"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "The form has expired" in response.text
    wrong = lots.client.post("/portal/orders?lang=en", data={"csrf": "0" * 64, "quantity": "5"})
    assert wrong.status_code == 403
    assert ok(lots.client.get("/api/v1/orders", headers=lots.packer)) == []


def test_a_post_from_another_origin_is_refused_even_with_the_token(lots: World) -> None:
    csrf = _login(lots.client, lots.packer)
    response = lots.client.post(
        "/portal/orders",
        data={"csrf": csrf, "gtin": GTIN_A, "quantity": "5", "template": "durian-fruit-tag"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_order_then_download_its_pdf_and_zpl(lots: World) -> None:
    csrf = _login(lots.client, lots.packer)
    page = lots.client.get("/portal?lang=en").text
    assert _csrf_of(page) == csrf
    assert '<option value="durian-fruit-tag" selected>' in page
    response = lots.client.post(
        "/portal/orders?lang=en",
        data={"csrf": csrf, "gtin": GTIN_A, "quantity": "20", "template": "durian-fruit-tag"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = lots.client.get(response.headers["location"]).text
    [made] = ok(lots.client.get("/api/v1/orders", headers=lots.packer))
    assert made["quantity"] == 20
    assert f"Order {made['id']} placed: 20 stamps." in page
    assert f'data-testid="order-pdf-{made["id"]}"' in page
    pdf = lots.client.get(f"/portal/orders/{made['id']}/print.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    zpl = lots.client.get(f"/portal/orders/{made['id']}/print.zpl")
    assert zpl.status_code == 200
    assert zpl.content.startswith(b"^XA")
    uris = _uris(lots.client.get(f"/portal/orders/{made['id']}/stamps.csv").text)
    assert len(uris) == 20


def test_box_labels_download_only_once_their_serials_are_activated_on_a_lot(lots: World) -> None:
    csrf = _login(lots.client, lots.packer, "vi")
    response = lots.client.post(
        "/portal/orders?lang=vi",
        data={"csrf": csrf, "gtin": GTIN_A, "quantity": "4", "template": "durian-box-label"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [made] = ok(lots.client.get("/api/v1/orders", headers=lots.packer))
    first, last = made["first_serial"], made["last_serial"]
    english = (
        f"box labels carry the lot in their barcode: activate serials {first}–{last} on their lot first, "
        "then print them"
    )
    for what in ("print.pdf", "print.zpl"):
        refused = lots.client.get(f"/portal/orders/{made['id']}/{what}?lang=vi")
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("text/html")
        text = html.unescape(refused.text)
        assert "Mã vạch của nhãn thùng mang số lô: hãy kích hoạt các tem này vào lô của chúng trước" in text
        assert english in text  # the serials, in the service's own words beside the translation
    en = html.unescape(lots.client.get(f"/portal/orders/{made['id']}/print.pdf?lang=en").text)
    assert english in en
    zh = html.unescape(lots.client.get(f"/portal/orders/{made['id']}/print.pdf?lang=zh").text)
    assert "箱标的条码包含批次号" in zh
    activation = {"gtin": GTIN_A, "first_serial": first, "last_serial": last, "lot": "LOT-1"}
    ok(lots.client.post("/api/v1/activations", headers=lots.packer, json=activation), 201)
    after = lots.client.get(f"/portal/orders/{made['id']}/print.pdf?lang=en")
    assert after.status_code != 409
    assert english not in html.unescape(after.text)


def test_order_with_an_unknown_template_is_refused_with_a_message(lots: World) -> None:
    csrf = _login(lots.client, lots.packer, "vi")
    response = lots.client.post(
        "/portal/orders?lang=vi", data={"csrf": csrf, "gtin": GTIN_A, "quantity": "20", "template": "no-such"}
    )
    assert response.status_code == 422
    assert "Không có mẫu nhãn “no-such”." in response.text
    assert ok(lots.client.get("/api/v1/orders", headers=lots.packer)) == []
    bad = lots.client.post(
        "/portal/orders?lang=en",
        data={"csrf": csrf, "gtin": GTIN_A, "quantity": "many", "template": "durian-fruit-tag"},
    )
    assert bad.status_code == 422
    assert "whole number" in bad.text


def test_another_packers_order_cannot_be_downloaded(lots: World) -> None:
    theirs = order(lots.client, lots.other_packer, GTIN_B, 10)
    _login(lots.client, lots.packer)
    for what in ("print.pdf", "print.zpl", "stamps.csv"):
        response = lots.client.get(f"/portal/orders/{theirs['id']}/{what}?lang=en")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")


def test_activation_preview_then_confirm(lots: World) -> None:
    made = order(lots.client, lots.packer, GTIN_A, 3000)
    uris = _uris(lots.client.get(f"/api/v1/orders/{made['id']}/stamps.csv", headers=lots.packer).text)
    csrf = _login(lots.client, lots.packer)
    # A handheld scanner types the whole URI (and a newline); a bare serial works as well.
    first = made["first_serial"] + 2000
    [first_uri] = [uri for uri in uris if f"/21/{first}?" in uri]
    form = {"csrf": csrf, "first": first_uri + "\n", "last": str(first + 999), "lot": "LOT-1"}
    preview = lots.client.post("/portal/activations/preview?lang=en", data=form)
    assert preview.status_code == 200, preview.text
    shown = re.search(r'data-testid="activation-preview">(.*?)<', preview.text)
    assert shown
    assert shown.group(1) == f"Serials {first}–{first + 999}, 1,000 stamps, lot LOT-1"
    assert ok(lots.client.get("/api/v1/activations", headers=lots.packer)) == []  # nothing yet
    confirm = {"csrf": _csrf_of(preview.text), "first": str(first), "last": str(first + 999), "lot": "LOT-1"}
    done = lots.client.post("/portal/activations?lang=en", data=confirm)
    assert done.status_code == 201, done.text
    result = re.search(r'data-testid="activation-result">(.*?)<', done.text)
    assert result
    assert "1,000 stamps activated" in result.group(1)
    [activation] = ok(lots.client.get("/api/v1/activations", headers=lots.packer))
    assert (activation["first_serial"], activation["last_serial"], activation["lot"]) == (first, first + 999, "LOT-1")
    again = lots.client.post("/portal/activations?lang=vi", data=confirm)
    assert again.status_code == 409
    assert "đã được kích hoạt" in again.text
    assert "{" not in again.text.split("<main>")[1][:200]


def test_activation_errors_are_shown_on_the_page(lots: World) -> None:
    order(lots.client, lots.packer, GTIN_A, 10)
    theirs = order(lots.client, lots.other_packer, GTIN_B, 10)
    their_uri = _uris(lots.client.get(f"/api/v1/orders/{theirs['id']}/stamps.csv", headers=lots.other_packer).text)[0]
    csrf = _login(lots.client, lots.packer)

    def preview(first: str, last: str, lot: str = "LOT-1", lang: str = "en") -> tuple[int, str]:
        response = lots.client.post(
            f"/portal/activations/preview?lang={lang}", data={"csrf": csrf, "first": first, "last": last, "lot": lot}
        )
        return response.status_code, response.text

    status, page = preview("rubbish", "5")
    assert status == 422
    assert "could not be read" in page
    status, page = preview("9", "2")
    assert status == 422
    assert "smaller than the first" in page
    status, page = preview(their_uri, "5")
    assert status == 422
    assert f"This stamp is for product {GTIN_B}" in page
    status, page = preview("1", "5", lot="LOT-B")  # another packer's lot
    assert status == 422
    assert "There is no such lot." in page
    done = lots.client.post(
        "/portal/activations?lang=zh", data={"csrf": csrf, "first": "5", "last": "50", "lot": "LOT-1"}
    )
    assert done.status_code == 422
    assert "并未全部签发给您的包装厂" in done.text
    assert ok(lots.client.get("/api/v1/activations", headers=lots.packer)) == []


def test_logout_ends_the_session(lots: World) -> None:
    csrf = _login(lots.client, lots.packer)
    assert lots.client.post("/portal/logout", data={}).status_code == 403
    response = lots.client.post("/portal/logout?lang=en", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert lots.client.get("/portal", follow_redirects=False).status_code == 303


# Priority 2: growing areas, households, lots, revocation, alerts


def _post_pairs(client: TestClient, path: str, pairs: list[tuple[str, str]]) -> Response:
    """A form with a name given more than once (ticked boxes)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return client.post(path, content=urlencode(pairs), headers=headers, follow_redirects=False)


def _ids(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    db = Database(settings.effective_database_url)
    with db.session() as session:
        lots = {code: i for i, code in session.execute(select(Lot.id, Lot.code))}
        orgs = {code: i for i, code in session.execute(select(Organisation.id, Organisation.code))}
    db.dispose()
    return lots, orgs


def test_register_areas_households_and_create_a_lot(lots: World) -> None:
    csrf = _login(lots.client, lots.packer)
    client = lots.client
    saved = client.post(
        "/portal/growing-areas?lang=en",
        data={"csrf": csrf, "code": "VN-TGOR-0456", "province": "Tiền Giang", "variety": "Monthong"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    twice = client.post(
        "/portal/growing-areas?lang=en", data={"csrf": csrf, "code": "VN-TGOR-0456", "province": "Tiền Giang"}
    )
    assert twice.status_code == 409
    assert "already registered" in twice.text
    bad = client.post("/portal/growing-areas?lang=en", data={"csrf": csrf, "code": "VN-X-1", "province": "Narnia"})
    assert bad.status_code == 422
    assert "is not a Vietnamese province" in bad.text
    assert client.post(
        "/portal/households?lang=en",
        data={"csrf": csrf, "name": "Hộ Trần Thị Bình", "growing_area": "VN-TGOR-0456"},
        follow_redirects=False,
    ).is_redirect
    farms = client.get("/portal/farms?lang=en").text
    assert farms.count('data-testid="area-row"') == 2
    assert "Hộ Trần Thị Bình" in farms
    assert "VN-DLOR-0001" not in farms  # the other packing house's area
    households = ok(client.get("/api/v1/households", headers=lots.packer))
    binh = next(h["id"] for h in households if h["name"] == "Hộ Trần Thị Bình")

    form = [
        ("csrf", csrf),
        ("code", "TG-RI6-2026-002"),
        ("gtin", GTIN_A),
        ("harvest_dates", "2026-06-02, 2026-06-03"),
        ("packing_date", "2026-06-05"),
        ("destination_markets", "cn"),
        ("border_gates", "Kim Thành"),
        ("growing_areas", "VN-TGOR-0123"),
        ("growing_areas", "VN-TGOR-0456"),
        ("households", str(binh)),
    ]
    made = _post_pairs(client, "/portal/lots?lang=en", form)
    assert made.status_code == 303, made.text
    page = client.get(made.headers["location"]).text
    assert "TG-RI6-2026-002" in page
    assert "Kim Thành" in page
    assert "Hộ Trần Thị Bình" in page
    [lot] = [lot for lot in ok(client.get("/api/v1/lots", headers=lots.packer)) if lot["code"] == "TG-RI6-2026-002"]
    assert lot["harvest_dates"] == ["2026-06-02", "2026-06-03"]
    assert lot["destination_markets"] == ["CN"]
    assert sorted(lot["growing_areas"]) == ["VN-TGOR-0123", "VN-TGOR-0456"]

    wrong = [(k, v) for k, v in form if k != "growing_areas"] + [("growing_areas", "VN-DLOR-0001")]
    wrong = [(k, "TG-RI6-2026-003" if k == "code" else v) for k, v in wrong]
    refused = _post_pairs(client, "/portal/lots?lang=en", wrong)
    assert refused.status_code == 404  # another packing house's growing area is unknown here
    assert "VN-DLOR-0001" in refused.text
    assert 'value="TG-RI6-2026-003"' in refused.text  # the form keeps what was typed
    bad_date = _post_pairs(
        client, "/portal/lots?lang=en", [(k, "June" if k == "harvest_dates" else v) for k, v in wrong]
    )
    assert bad_date.status_code == 422
    assert "Harvest 1: is not valid" in bad_date.text


def test_revoke_a_scanned_range_with_a_category(lots: World) -> None:
    made = order(lots.client, lots.packer, GTIN_A, 10)
    uris = _uris(lots.client.get(f"/api/v1/orders/{made['id']}/stamps.csv", headers=lots.packer).text)
    csrf = _login(lots.client, lots.packer)
    page = lots.client.get("/portal?lang=vi").text
    assert "Bị mất cắp hoặc thất lạc" in page
    assert "key_withdrawn" not in page
    form = {"csrf": csrf, "gtin": GTIN_A, "first": uris[2], "last": uris[4], "category": "stolen", "note": "roll lost"}
    done = lots.client.post("/portal/revocations?lang=en", data=form)
    assert done.status_code == 201, done.text
    assert "3 stamps revoked." in done.text
    [revocation] = ok(lots.client.get("/api/v1/revocations", headers=lots.packer))
    assert revocation["category"] == "stolen"
    assert revocation["reason"] == "roll lost"
    assert revocation["last_serial"] - revocation["first_serial"] == 2
    bad = lots.client.post("/portal/revocations?lang=en", data={**form, "category": "key_withdrawn"})
    assert bad.status_code == 422
    theirs = order(lots.client, lots.other_packer, GTIN_B, 10)
    other = lots.client.post(
        "/portal/revocations?lang=en",
        data={**form, "gtin": GTIN_B, "first": str(theirs["first_serial"]), "last": str(theirs["last_serial"])},
    )
    assert other.status_code in {404, 422}
    assert len(ok(lots.client.get("/api/v1/revocations", headers=lots.other_packer))) == 0


def test_alerts_show_only_the_packers_own(lots: World, settings: Settings) -> None:
    lot_ids, orgs = _ids(settings)
    db = Database(settings.effective_database_url)
    with db.session() as session:
        for org, lot, text in (("VN-TGPH-0001", "LOT-1", "Ours."), ("VN-DLPH-0002", "LOT-B", "Theirs.")):
            open_alert(
                session,
                type="duplicate",
                severity="warning",
                gtin=GTIN_A if lot == "LOT-1" else GTIN_B,
                serial=7,
                lot_id=lot_ids[lot],
                organisation_id=orgs[org],
                evidence=[],
                explanation_vi=text,
                explanation_en=text,
                at=dt.datetime.now(dt.UTC),
            )
    db.dispose()
    _login(lots.client, lots.packer)
    page = lots.client.get("/portal/alerts?lang=en").text
    assert page.count('data-testid="alert-row"') == 1
    assert "Ours." in page
    assert "Theirs." not in page
    lot_page = lots.client.get(f"/portal/lots/{lot_ids['LOT-1']}?lang=en").text
    assert "Ours." in lot_page


# Priority 3: lot documents as files


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_attach_a_document_file_and_read_it_back(lots: World, settings: Settings) -> None:
    lot_ids, _orgs = _ids(settings)
    lot = lot_ids["LOT-1"]
    csrf = _login(lots.client, lots.packer)

    def upload(name: str, body: bytes, kind: str = "phytosanitary", token: str = csrf, lot_id: int = lot) -> Response:
        return lots.client.post(
            f"/portal/lots/{lot_id}/files?lang=en",
            data={"csrf": token, "kind": kind},
            files={"file": (name, body, "application/octet-stream")},
            follow_redirects=False,
        )

    assert upload("../../cert.pdf", PDF).status_code == 303
    assert upload("lab.png", PNG, "lab_result").status_code == 303
    page = lots.client.get(f"/portal/lots/{lot}?lang=en").text
    assert page.count('data-testid="file-row"') == 2
    assert hashlib.sha256(PDF).hexdigest() in page
    assert "Phytosanitary certificate" in page
    file_id = int(re.findall(r'data-testid="file-(\d+)"', page)[0])
    got = lots.client.get(f"/portal/files/{file_id}")
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert 'filename="cert.pdf"' in got.headers["content-disposition"]

    refused = upload("fake.pdf", b"<html><script>alert(1)</script>")
    assert refused.status_code == 422
    assert "not a PDF, JPEG or PNG" in refused.text
    big = upload("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024))
    assert big.status_code == 422
    assert "larger than 10 MB" in big.text
    huge = upload("huge.pdf", b"%PDF-" + b"0" * (11 * 1024 * 1024))  # refused before it is read
    assert huge.status_code == 413
    assert upload("x.pdf", PDF, token="0" * 64).status_code == 403
    assert upload("x.pdf", PDF, lot_id=lot_ids["LOT-B"]).status_code == 404  # another packing house's lot
    assert upload("x.pdf", PDF, kind="selfie").status_code == 422

    # The ministry reads it with its token; the other packing house and an inspector get the 404 of no file.
    assert lots.client.get(f"/portal/files/{file_id}", headers=lots.ministry).content == PDF
    lots.client.cookies.clear()
    assert lots.client.get(f"/portal/files/{file_id}", headers=lots.inspector).status_code == 404
    _login(lots.client, lots.other_packer)
    assert lots.client.get(f"/portal/files/{file_id}").status_code == 404
    assert lots.client.get(f"/portal/lots/{lot}").status_code == 404


# Priority 4: a lot's destinations and chain stages, products; the one check every POST goes through


def test_edit_a_lots_destinations_with_errors_in_the_readers_language(lots: World, settings: Settings) -> None:
    lot_ids, _orgs = _ids(settings)
    lot = lot_ids["LOT-1"]
    csrf = _login(lots.client, lots.packer)
    page = lots.client.get(f"/portal/lots/{lot}?lang=en").text
    assert 'data-testid="destinations-submit"' in page
    assert "Any border gate" in page
    form = [
        ("csrf", csrf),
        ("destination_markets", "CN, vn"),
        ("border_gates", "Hữu Nghị/Tân Thanh"),
        ("place_name", "Nanning"),
        ("place_country", "cn"),
        ("place_lat", "22,8170"),  # a Vietnamese decimal comma
        ("place_lon", "108.3665"),
        ("place_name", ""),  # the blank row
        ("place_country", "CN"),
        ("place_lat", ""),
        ("place_lon", ""),
    ]
    saved = _post_pairs(lots.client, f"/portal/lots/{lot}/destinations?lang=en", form)
    assert saved.status_code == 303, saved.text
    page = lots.client.get(saved.headers["location"]).text
    assert "Destinations saved." in page
    assert "Nanning · CN · 22.817, 108.3665" in page
    api = ok(lots.client.get(f"/api/v1/lots/{lot}", headers=lots.packer))
    assert api["destination_markets"] == ["CN", "VN"]
    assert api["border_gates"] == ["Hữu Nghị/Tân Thanh"]
    assert api["destination_places"] == [{"name": "Nanning", "lat": 22.817, "lon": 108.3665, "country": "CN"}]

    def refused(pairs: list[tuple[str, str]], lang: str) -> str:
        response = _post_pairs(lots.client, f"/portal/lots/{lot}/destinations?lang={lang}", pairs)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("text/html")
        return html.unescape(response.text)

    far_north = [(k, "95" if k == "place_lat" and v == "22,8170" else v) for k, v in form]
    assert "Thành phố, đầu mối đến 1 · Vĩ độ: phải nhỏ hơn hoặc bằng 90" in refused(far_north, "vi")
    assert "目的城市或集散地 1 · 纬度：不得大于 90" in refused(far_north, "zh").replace(": ", "：")
    outside = [(k, "CN" if k == "destination_markets" else v) for k, v in form]
    outside = [(k, "TH" if k == "place_country" and v == "cn" else v) for k, v in outside]
    page = refused(outside, "vi")
    assert "Có nơi đến không thuộc các thị trường của lô." in page
    assert 'value="Nanning"' in page  # the form keeps what was typed
    assert "không hợp lệ" in refused([(k, "abc" if k == "place_lon" and v else v) for k, v in form], "vi")
    unknown_country = [(k, "ZZ" if k == "destination_markets" else v) for k, v in form]
    assert "Thị trường 1: Không phải mã nước hai chữ cái" in refused(unknown_country, "vi")
    assert "Markets 1: 'ZZ' is not an ISO 3166-1 alpha-2 country code" in refused(unknown_country, "en")
    assert ok(lots.client.get(f"/api/v1/lots/{lot}", headers=lots.packer))["destination_places"][0]["lat"] == 22.817

    # Another packing house's lot is not found, and a form without its token changes nothing.
    other = _post_pairs(lots.client, f"/portal/lots/{lot_ids['LOT-B']}/destinations?lang=en", form)
    assert other.status_code == 404
    assert "LOT-B" not in other.text
    assert ok(lots.client.get(f"/api/v1/lots/{lot_ids['LOT-B']}", headers=lots.other_packer))["border_gates"] == []
    no_token = _post_pairs(
        lots.client, f"/portal/lots/{lot}/destinations?lang=en", [(k, v) for k, v in form if k != "csrf"]
    )
    assert no_token.status_code == 403
    assert "The form has expired" in no_token.text


def test_the_api_edits_destinations_through_the_same_service(lots: World, settings: Settings) -> None:
    lot_ids, _orgs = _ids(settings)
    body = {"destination_markets": ["CN"], "border_gates": ["Kim Thành"], "destination_places": []}
    done = lots.client.put(f"/api/v1/lots/{lot_ids['LOT-1']}/destinations", headers=lots.packer, json=body)
    assert ok(done)["border_gates"] == ["Kim Thành"]
    theirs = lots.client.put(f"/api/v1/lots/{lot_ids['LOT-B']}/destinations", headers=lots.packer, json=body)
    assert theirs.status_code == 404
    outside = {**body, "destination_places": [{"name": "Bangkok", "lat": 13.7, "lon": 100.5, "country": "TH"}]}
    refused = lots.client.put(f"/api/v1/lots/{lot_ids['LOT-1']}/destinations", headers=lots.packer, json=outside)
    assert refused.status_code == 422


def test_record_a_lots_stages_and_see_them_listed(lots: World, settings: Settings) -> None:
    lot_ids, _orgs = _ids(settings)
    lot = lot_ids["LOT-1"]
    csrf = _login(lots.client, lots.packer)
    page = lots.client.get(f"/portal/lots/{lot}?lang=zh").text
    assert "通关" in page  # the border-crossing stage, in Chinese
    stage = {
        "csrf": csrf,
        "stage": "border_crossing",
        "occurred_at": "2026-06-24T20:00",
        "zone": "+07:00",
        "place": "Hữu Nghị",
        "country": "vn",
        "note": "truck 51C-123.45",
    }
    done = lots.client.post(f"/portal/lots/{lot}/stages?lang=en", data=stage, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = lots.client.get(done.headers["location"]).text
    assert "Stage recorded." in page
    rows = re.findall(r'<tr data-testid="stage-row">(.*?)</tr>', page)
    assert len(rows) == 1
    assert "Border crossing" in rows[0]
    assert "24 Jun 2026 20:00 UTC+7" in rows[0]
    assert "truck 51C-123.45" in rows[0]
    [recorded] = ok(lots.client.get(f"/api/v1/lots/{lot}", headers=lots.packer))["stages"]
    assert recorded["stage"] == "border_crossing"
    assert recorded["country"] == "VN"
    assert dt.datetime.fromisoformat(recorded["occurred_at"]) == dt.datetime(2026, 6, 24, 13, 0, tzinfo=dt.UTC)

    bad = lots.client.post(f"/portal/lots/{lot}/stages?lang=vi", data={**stage, "occurred_at": "hôm qua"})
    assert bad.status_code == 422
    assert "Thời gian (giờ địa phương): không hợp lệ" in html.unescape(bad.text)
    assert "truck 51C-123.45" in bad.text  # kept in the form
    unknown = lots.client.post(f"/portal/lots/{lot}/stages?lang=en", data={**stage, "stage": "teleport"})
    assert unknown.status_code == 422
    assert "Stage: is not valid" in unknown.text
    theirs = lots.client.post(f"/portal/lots/{lot_ids['LOT-B']}/stages?lang=en", data=stage)
    assert theirs.status_code == 404
    assert lots.client.post(f"/portal/lots/{lot}/stages?lang=en", data={**stage, "csrf": "0" * 64}).status_code == 403
    assert len(ok(lots.client.get(f"/api/v1/lots/{lot}", headers=lots.packer))["stages"]) == 1
    assert ok(lots.client.get(f"/api/v1/lots/{lot_ids['LOT-B']}", headers=lots.other_packer))["stages"] == []


def test_a_new_packing_house_registers_its_product_then_orders(world: World) -> None:
    csrf = _login(world.client, world.packer)
    home = world.client.get("/portal?lang=en").text
    assert 'data-testid="to-products"' in home  # no product yet: the way to register one
    page = world.client.get("/portal/products?lang=vi").text
    assert "Chưa có sản phẩm nào." in page
    product = {
        "csrf": csrf,
        "gtin": GTIN_A[1:],  # a GTIN-13 is read as the same GTIN-14
        "name_vi": "Sầu riêng Monthong",
        "name_en": "Monthong durian",
        "name_zh": "金枕榴莲",
        "variety": "Monthong",
        "shelf_life_days": "14",
    }
    done = world.client.post("/portal/products?lang=en", data=product, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = world.client.get(done.headers["location"]).text
    assert "Product registered." in page
    assert page.count('data-testid="product-row"') == 1
    assert "金枕榴莲" in page
    [made] = ok(world.client.get("/api/v1/products", headers=world.packer))
    assert (made["gtin"], made["shelf_life_days"]) == (GTIN_A, 14)
    again = world.client.post("/portal/products?lang=vi", data=product)
    assert again.status_code == 409
    assert "Mã này đã được đăng ký." in again.text
    wrong = world.client.post("/portal/products?lang=zh", data={**product, "gtin": "08938604500019"})
    assert wrong.status_code == 422
    assert "GTIN 有误" in wrong.text
    assert 'value="金枕榴莲"' in wrong.text
    assert "{" not in wrong.text.split("<main>")[1][:300]  # never JSON
    missing = world.client.post("/portal/products?lang=en", data={**product, "gtin": GTIN_B, "name_zh": ""})
    assert missing.status_code == 422
    assert "Name in Chinese: is missing" in missing.text
    assert world.client.post("/portal/products?lang=en", data={**product, "csrf": ""}).status_code == 403
    # The other packing house does not see it.
    world.client.cookies.clear()
    _login(world.client, world.other_packer)
    assert 'data-testid="product-row"' not in world.client.get("/portal/products?lang=en").text
    assert ok(world.client.get("/api/v1/products", headers=world.other_packer)) == []


@pytest.mark.parametrize(
    "path",
    [
        "/portal/logout",
        "/portal/orders",
        "/portal/activations/preview",
        "/portal/activations",
        "/portal/growing-areas",
        "/portal/households",
        "/portal/lots",
        "/portal/revocations",
        "/portal/products",
        "/portal/lots/1/destinations",
        "/portal/lots/1/stages",
        "/portal/lots/1/files",
    ],
)
def test_every_post_checks_login_origin_and_csrf(lots: World, path: str) -> None:
    client = lots.client
    assert client.post(f"{path}?lang=en", data={"csrf": "x"}, follow_redirects=False).headers["location"] == (
        "/portal/login?lang=en"
    )
    csrf = _login(client, lots.packer)
    for wrong in ("0" * 64, "thẻ"):  # a wrong token, or text that is not even ASCII: the 403 page, never a 500
        refused = client.post(f"{path}?lang=en", data={"csrf": wrong})
        assert refused.status_code == 403
        assert "The form has expired" in refused.text
    other_site = client.post(f"{path}?lang=en", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert "this site&#39;s own page" in other_site.text


def test_the_trace_page_shows_documents_on_file_but_never_the_file(world: World) -> None:
    lot = make_lot(world)
    csrf = _login(world.client, world.packer)
    for name, body, kind in (("cert.pdf", PDF, "phytosanitary"), ("lab.png", PNG, "lab_result")):
        sent = world.client.post(
            f"/portal/lots/{lot.id}/files?lang=en",
            data={"csrf": csrf, "kind": kind},
            files={"file": (name, body, "application/pdf")},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
    file_ids = re.findall(r'data-testid="file-(\d+)"', world.client.get(f"/portal/lots/{lot.id}").text)
    assert len(file_ids) == 2
    world.client.cookies.clear()  # a consumer: no session
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date()
    for lang, title, kind, filed in (
        ("vi", "Giấy tờ đã lưu", "Giấy chứng nhận kiểm dịch thực vật", f"nộp ngày {today:%d/%m/%Y}"),
        ("en", "Documents on file", "Phytosanitary certificate", "filed "),
        ("zh", "已存档文件", "植物检疫证书", f"提交于 {today.year}年{today.month}月{today.day}日"),
    ):
        page = world.client.get(f"{path_of(lot.scan_url)}&lang={lang}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        rows = re.findall(r'<li data-testid="lot-file">(.*?)</li>', text)
        assert len(rows) == 2, text
        assert title in text
        assert kind in rows[0]
        assert filed in rows[0]
        assert f"SHA-256 {hashlib.sha256(PDF).hexdigest()[:12]}…" in rows[0]
        assert hashlib.sha256(PDF).hexdigest()[:13] not in text  # the first 12 hex digits only
        assert f"SHA-256 {hashlib.sha256(PNG).hexdigest()[:12]}…" in rows[1]
        assert "/portal/files/" not in text  # never the file, nor a link to it
        assert "cert.pdf" not in text
        assert "lab.png" not in text
    for file_id in file_ids:
        assert world.client.get(f"/portal/files/{file_id}", follow_redirects=False).status_code == 303


def test_a_shipping_stage_names_its_consignee_from_the_portal(lots: World, settings: Settings) -> None:
    from identity.principal import operator
    from issuer import schemas, service
    from tem.core.db import Database

    db = Database(settings.effective_database_url)
    with db.session() as session:
        service.create_organisation(
            session,
            settings,
            operator("test"),
            schemas.OrganisationCreate(kind="distributor", name="Importer", code="CN-IMP-09", province="Guangxi, CN"),  # type: ignore[arg-type]
        )
    db.dispose()
    lot_ids, _orgs = _ids(settings)
    lot = lot_ids["LOT-1"]
    csrf = _login(lots.client, lots.packer)
    stage = {
        "csrf": csrf,
        "stage": "shipping",
        "occurred_at": "2026-06-24T20:00",
        "zone": "+07:00",
        "place": "",
        "country": "VN",
        "note": "",
    }
    refused = lots.client.post(f"/portal/lots/{lot}/stages?lang=en", data={**stage, "consignee": "BNNMT"})
    assert refused.status_code == 422
    assert "BNNMT cannot receive a lot" in html.unescape(refused.text)
    in_vietnamese = lots.client.post(f"/portal/lots/{lot}/stages?lang=vi", data={**stage, "consignee": "NOBODY"})
    assert "Bên nhận phải là mã của một nhà phân phối" in html.unescape(in_vietnamese.text)
    done = lots.client.post(
        f"/portal/lots/{lot}/stages?lang=en", data={**stage, "consignee": "cn-imp-09"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    rows = re.findall(r'<tr data-testid="stage-row">(.*?)</tr>', lots.client.get(done.headers["location"]).text)
    assert "→ CN-IMP-09" in rows[0]
    [recorded] = ok(lots.client.get(f"/api/v1/lots/{lot}", headers=lots.packer))["stages"]
    assert recorded["consignee"] == "CN-IMP-09"
