"""The ministry's dashboard, alert pages and exports: who may see them, the numbers, filters, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pypdfium2 as pdfium
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql

from identity.models import Organisation
from issuer.models import Lot
from ministry.endpoints import csrf_token
from ministry.rollup import apply_scan_rollups
from resolver.models import ScanRecord
from tem.core.db import Database
from tem.core.settings import Settings
from tests.alert_support import open_alert
from tests.conftest import World
from tests.helpers import GTIN_A, GTIN_B, ok, order, setup_packer
from tests.test_ministry_rollup import scan

VN = dt.timezone(dt.timedelta(hours=7))
JUNE = {"since": "2026-06-01", "until": "2026-06-30", "lang": "en"}
EN_DAY = "%d %b %Y"


def _insert_scans(db: Database, rows: list[dict[str, object]]) -> None:
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(
                text("CREATE TABLE scans_2026_06 PARTITION OF scans FOR VALUES FROM ('2026-06-01') TO ('2026-07-01')")
            )
            conn.execute(postgresql.insert(ScanRecord.__table__), rows)
        else:
            conn.execute(insert(ScanRecord.__table__), rows)
        apply_scan_rollups(conn, rows)


@pytest.fixture
def data(world: World, settings: Settings) -> dict[str, Any]:
    """Packing house A (Tiền Giang) with lot LOT-1 and B (Đắk Lắk) with LOT-B; stamps ordered and activated
    today; scans and alerts in June 2026."""
    setup_packer(world.client, world.packer)
    setup_packer(world.client, world.other_packer, GTIN_B, area="VN-DLOR-0001", lot="LOT-B")
    order(world.client, world.packer, GTIN_A, 1000)
    order(world.client, world.packer, GTIN_A, 500)
    order(world.client, world.other_packer, GTIN_B, 200)
    ok(
        world.client.post(
            "/api/v1/activations",
            headers=world.packer,
            json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 300, "lot": "LOT-1"},
        ),
        201,
    )
    db = Database(settings.effective_database_url)
    with db.session() as session:
        orgs = {code: i for i, code in session.execute(select(Organisation.id, Organisation.code))}
        lots = {code: i for i, code in session.execute(select(Lot.id, Lot.code))}
    lot_a, lot_b = lots["LOT-1"], lots["LOT-B"]
    trail = [
        scan(dt.datetime(2026, 6, 10, 9, tzinfo=VN), 7, lot_id=lot_a, city="Nanning", latitude=22.8, longitude=108.3,
             accuracy_km=200.0, country="CN"),
        scan(dt.datetime(2026, 6, 10, 10, tzinfo=VN), 7, lot_id=lot_a, city="Hà Nội", latitude=21.0, longitude=105.8,
             accuracy_km=10.0, country="VN", findings="duplicate:warning"),
        scan(dt.datetime(2026, 6, 11, 10, tzinfo=VN), 7, lot_id=lot_a, country="CN", verdict="suspect"),
        scan(dt.datetime(2026, 6, 12, 10, tzinfo=VN), 8, lot_id=lot_a, country="CN"),
        scan(dt.datetime(2026, 6, 12, 11, tzinfo=VN), 5, gtin=GTIN_B, lot_id=lot_b, country="CN"),
    ]  # fmt: skip
    _insert_scans(db, trail)

    def open_(day: int, type_: str, severity: str, org: str, lot: int | None, serial: int | None, country: str) -> int:
        with db.session() as session:
            change = open_alert(
                session,
                type=type_,
                severity=severity,
                gtin=(GTIN_A if org == "VN-TGPH-0001" else GTIN_B) if serial else None,
                serial=serial,
                lot_id=lot,
                organisation_id=orgs[org],
                evidence=[str(trail[0]["id"])],
                explanation_vi="Tem bị quét ở hai nước.",
                explanation_en="The stamp was scanned in two countries.",
                at=dt.datetime(2026, 6, day, 12, tzinfo=VN),
                country=country,
            )
            return change.alert.id

    ids = {
        "a7": open_(10, "duplicate", "warning", "VN-TGPH-0001", lot_a, 7, "VN"),
        "a8": open_(12, "duplicate", "critical", "VN-TGPH-0001", lot_a, 8, "CN"),
        "lot": open_(12, "off_route", "info", "VN-TGPH-0001", lot_a, None, "CN"),
        "b5": open_(20, "impossible_travel", "warning", "VN-DLPH-0002", lot_b, 5, "CN"),
    }
    with db.session() as session:  # outside the June range: never counted
        open_alert(
            session, type="duplicate", severity="info", gtin=GTIN_B, serial=9, lot_id=lot_b,
            organisation_id=orgs["VN-DLPH-0002"], evidence=[], explanation_vi="-", explanation_en="-",
            at=dt.datetime(2026, 5, 31, 23, tzinfo=VN),
        )  # fmt: skip
        # The registry files a former province under the one it merged into (Tiền Giang: Đồng Tháp).
        provinces = dict(session.execute(select(Organisation.code, Organisation.province)).all())
    db.dispose()
    return {"ids": ids, "lots": lots, "trail": trail, "province": provinces["VN-TGPH-0001"]}


def _section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    return page[start : page.index("</section>", start)]


def _rows(fragment: str) -> list[list[str]]:
    """Table cells as text, row by row."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", fragment, re.S):
        cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        rows.append([" ".join(c) for c in cells])
    return rows


def _counts(page: str, title: str) -> dict[str, str]:
    start = page.index(f"<h2>{title}</h2>")
    return {r[0]: r[1] for r in _rows(page[start : page.index("</section>", start)])}


def login_csrf(client: Any) -> str:
    """The login form's token, as the login page gives it (with its pre-login cookie, kept by the client)."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/ministry/login").text)
    assert found is not None
    return found.group(1)


# Who may see


def test_only_the_ministry_sees_the_dashboard(world: World) -> None:
    client = world.client
    answer = client.get("/ministry", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ministry/login")
    for path in ("/ministry/export/alerts.csv", "/ministry/export/stamps.csv", "/ministry/export/report.pdf"):
        assert client.get(path).status_code == 401
    assert client.get("/ministry", headers={"Authorization": "Bearer tem_nope"}).status_code == 401
    for who in (world.packer, world.inspector):
        assert client.get("/ministry", headers=who).status_code == 403
        assert client.get("/ministry/export/alerts.csv", headers=who).status_code == 403
        assert client.get("/ministry/alerts/1", headers=who).status_code == 403
    page = client.get("/ministry", headers=world.ministry)
    assert page.status_code == 200
    assert 'lang="vi"' in page.text
    assert "Cảnh báo theo ngày" in page.text
    assert "<script" not in page.text
    assert "http" not in re.sub(r'xmlns="[^"]*"', "", page.text.split("<body>", 1)[1]).replace("http-equiv", "")


def test_a_browser_logs_in_with_a_token_and_out_with_the_form(world: World) -> None:
    client = world.client
    assert "Log in" in client.get("/ministry/login?lang=en").text

    def login(who: dict[str, str]) -> Any:
        token = who["Authorization"].removeprefix("Bearer ")
        return client.post("/ministry/login", data={"token": token, "csrf": login_csrf(client)}, follow_redirects=False)

    assert client.post("/ministry/login", data={"token": "tem_wrong", "csrf": login_csrf(client)}).status_code == 401
    assert client.post("/ministry/login", data={"token": "tem_wrong"}).status_code == 403  # no form token
    assert login(world.inspector).status_code == 403
    assert login(world.packer).status_code == 403
    answer = login(world.ministry)
    assert answer.status_code == 303
    cookie = answer.cookies["tem_inspect"]
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    page = client.get("/ministry")
    assert page.status_code == 200
    assert csrf_token(cookie) in page.text

    assert client.post("/ministry/logout", data={"csrf": "forged"}).status_code == 403
    assert client.post("/ministry/logout", data={"csrf": csrf_token(cookie)}, follow_redirects=False).status_code == 303
    client.cookies.set("tem_inspect", cookie)  # the old cookie, replayed: the session has ended
    assert client.get("/ministry", follow_redirects=False).status_code == 303
    hostile = client.post("/ministry/login", data={"token": "x"}, headers={"Origin": "https://evil.example"})
    assert hostile.status_code == 403


# The numbers


def test_the_dashboard_counts_known_alerts_scans_and_stamps(world: World, data: dict[str, Any]) -> None:
    page = ok_html(world.client.get("/ministry", params=JUNE, headers=world.ministry))
    assert "4 alerts in this period" in page
    per_day = {r[0]: r[1] for r in _rows(page[page.index('class="per-day"') :].split("</table>")[0])}
    assert per_day["10 Jun 2026"] == "1"
    assert per_day["12 Jun 2026"] == "2"
    assert per_day["20 Jun 2026"] == "1"
    assert per_day["01 Jun 2026"] == "0"
    assert len(per_day) == 30
    assert _counts(page, "Alerts by type") == {"duplicate stamp": "2", "impossible travel": "1", "off route": "1"}
    vi = ok_html(world.client.get("/ministry", params={**JUNE, "lang": "vi"}, headers=world.ministry))
    assert "ngoài tuyến vận chuyển" in vi  # alert types in words, not codes
    assert ">off_route<" not in vi
    assert _counts(page, "Alerts by severity") == {"warning": "2", "critical": "1", "info": "1"}
    assert _counts(page, "Alerts by packing house province") == {data["province"]: "3", "Đắk Lắk": "1"}
    assert _counts(page, "Alerts by country where scanned") == {"China": "3", "Vietnam": "1"}
    assert _counts(page, "Alerts by packing house") == {"VN-TGPH-0001": "3", "VN-DLPH-0002": "1"}
    lots = _rows(_section(page, "top-lots"))
    assert lots[1:] == [["LOT-1", "VN-TGPH-0001", "3", "2", "4", "1"], ["LOT-B", "VN-DLPH-0002", "1", "1", "1", "0"]]
    assert _counts(page, "Scans by verdict") == {"genuine": "4", "suspect": "1"}
    assert _counts(page, "Scans by country") == {"China": "4", "Vietnam": "1"}
    stamps = _rows(_section(page, "stamps"))
    assert stamps[1:] == [
        ["06/2026", "VN-TGPH-0001", f"Ri6 durian {GTIN_A}", "0", "0", "2", "4"],
        ["06/2026", "VN-DLPH-0002", f"Ri6 durian {GTIN_B}", "0", "0", "1", "1"],
    ]
    assert f'href="/ministry/alerts/{data["ids"]["b5"]}?lang=en"' in page
    assert "<svg" in page
    assert page.count('class="bar"') == 30


def test_issued_and_activated_stamps_count_by_the_month_they_happened(world: World, data: dict[str, Any]) -> None:
    today = dt.datetime.now(VN).date()
    page = ok_html(world.client.get("/ministry", params={"lang": "en"}, headers=world.ministry))
    stamps = _rows(_section(page, "stamps"))
    month = today.strftime("%m/%Y")
    assert [month, "VN-TGPH-0001", f"Ri6 durian {GTIN_A}", "1,500", "300", "0", "0"] in stamps
    assert [month, "VN-DLPH-0002", f"Ri6 durian {GTIN_B}", "200", "0", "0", "0"] in stamps


def test_filters_narrow_every_section(world: World, data: dict[str, Any]) -> None:
    client, who = world.client, world.ministry
    page = ok_html(client.get("/ministry", params={**JUNE, "type": "duplicate"}, headers=who))
    assert _counts(page, "Alerts by type") == {"duplicate stamp": "2"}
    page = ok_html(client.get("/ministry", params={**JUNE, "severity": ["critical", "info"]}, headers=who))
    assert _counts(page, "Alerts by severity") == {"critical": "1", "info": "1"}
    with_status = {**JUNE, "status": "acknowledged"}
    assert "0 alerts in this period" in ok_html(client.get("/ministry", params=with_status, headers=who))
    page = ok_html(client.get("/ministry", params={**JUNE, "packing_house": "VN-DLPH-0002"}, headers=who))
    assert _counts(page, "Alerts by packing house") == {"VN-DLPH-0002": "1"}
    assert _counts(page, "Scans by country") == {"China": "1"}
    page = ok_html(client.get("/ministry", params={**JUNE, "province": data["province"]}, headers=who))
    assert _counts(page, "Alerts by packing house province") == {data["province"]: "3"}
    assert [r[0] for r in _rows(_section(page, "top-lots"))[1:]] == ["LOT-1"]
    page = ok_html(client.get("/ministry", params={**JUNE, "since": "2026-06-11", "until": "2026-06-12"}, headers=who))
    assert "2 alerts in this period" in page
    # An empty form field means "any".
    page = ok_html(client.get("/ministry", params={**JUNE, "type": "", "packing_house": ""}, headers=who))
    assert "4 alerts in this period" in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-13-01"}, "since must be a date"),
        ({"until": "yesterday"}, "until must be a date"),
        ({"since": "2026-06-30", "until": "2026-06-01"}, "since must not be after until"),
        ({"since": "2024-01-01", "until": "2026-06-01"}, "at most 366 days"),
        ({"type": "DROP TABLE"}, "unknown alert type"),
        ({"severity": "huge"}, "severity must be"),
        ({"status": "closed"}, "status must be"),
        ({"packing_house": "VN-XXPH-9999"}, "no packing house has that code"),
        ({"province": "Mars"}, "no packing house is in that province"),
        ({"since": ["2026-06-01", "2026-06-02"]}, "give since once"),
    ],
)
def test_bad_filters_are_a_422_with_a_message(world: World, params: dict[str, Any], message: str) -> None:
    for path in (
        "/ministry",
        "/ministry/export/alerts.csv",
        "/ministry/export/stamps.csv",
        "/ministry/export/report.pdf",
    ):
        answer = world.client.get(path, params=params, headers=world.ministry)
        assert answer.status_code == 422, (path, answer.text)
        assert message in answer.json()["error"]["message"]


# One alert


def test_the_alert_page_shows_its_scan_trail_as_a_timeline_and_a_map(world: World, data: dict[str, Any]) -> None:
    page = ok_html(world.client.get(f"/ministry/alerts/{data['ids']['a7']}?lang=en", headers=world.ministry))
    timeline = _section(page, "trail")
    entries = re.findall(r'<li data-n="(\d)"><strong>([^<]*)</strong>', timeline)
    assert [n for n, _when in entries] == ["1", "2", "3"]  # every scan of stamp 7, oldest first
    assert "Nanning" in timeline
    assert "±200 km" in timeline
    assert "Findings: duplicate:warning" in timeline
    assert "no location" in timeline  # the third scan has only a country
    svg = _section(page, "map")
    assert svg.count('<g class="scan">') == 2
    radii = re.findall(r'<g class="scan"><circle cx="[\d.]+" cy="[\d.]+" r="([\d.]+)"', svg)
    assert float(radii[0]) > 10 * float(radii[1])  # 200 km against 10 km
    assert "Hà Nội" in svg
    assert ">Nanning<" in svg
    assert "<path d=" in svg

    lot_page = ok_html(world.client.get(f"/ministry/alerts/{data['ids']['lot']}?lang=en", headers=world.ministry))
    assert lot_page.count("<li data-n=") == 1  # a lot alert's trail is its evidence
    assert world.client.get("/ministry/alerts/999999", headers=world.ministry).status_code == 404


def test_the_workflow_buttons_move_an_alert(world: World, data: dict[str, Any]) -> None:
    client = world.client
    alert_id = data["ids"]["a8"]
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    form = {"token": token, "csrf": login_csrf(client)}
    cookie = client.post("/ministry/login", data=form, follow_redirects=False).cookies["tem_inspect"]
    path = f"/ministry/alerts/{alert_id}/transitions?lang=en"
    assert client.post(path, data={"to": "acknowledged", "csrf": "nope"}).status_code == 403
    moved = client.post(path, data={"to": "acknowledged", "csrf": csrf_token(cookie)}, follow_redirects=False)
    assert moved.status_code == 303
    page = client.get(f"/ministry/alerts/{alert_id}?lang=en").text
    assert '<td id="status">acknowledged</td>' in page
    refused = client.post(path, data={"to": "resolved", "csrf": csrf_token(cookie)})
    assert refused.status_code == 422
    assert "needs a comment" in refused.text
    in_vi = client.post(path.replace("lang=en", "lang=vi"), data={"to": "false_positive", "csrf": csrf_token(cookie)})
    assert "Không thực hiện được: cần ghi chú lý do khi chuyển cảnh báo sang «báo nhầm»" in in_vi.text
    assert "needs a comment" not in in_vi.text
    closed = client.post(
        path, data={"to": "false_positive", "comment": "Khách hàng quét lại", "csrf": csrf_token(cookie)}
    )
    assert closed.status_code == 200  # the redirect, followed
    assert "This alert is closed." in closed.text
    assert "Khách hàng quét lại" in closed.text
    again = client.post(path, data={"to": "resolved", "comment": "x", "csrf": csrf_token(cookie)})
    assert again.status_code == 409
    assert client.post(path, data={"to": "open", "csrf": csrf_token(cookie)}).status_code == 422
    api = ok(client.get(f"/api/v1/alerts/{alert_id}", headers=world.ministry))
    assert [t["to_status"] for t in api["transitions"]] == ["open", "acknowledged", "false_positive"]


# Exports


def test_the_alert_csv_streams_every_alert_of_the_range(world: World, data: dict[str, Any]) -> None:
    answer = world.client.get("/ministry/export/alerts.csv", params=JUNE, headers=world.ministry)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="alerts-2026-06-01_2026-06-30.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [int(r["id"]) for r in rows] == [data["ids"][k] for k in ("a7", "a8", "lot", "b5")]
    first = rows[0]
    assert first["type"] == "duplicate"
    assert first["serial"] == "7"
    assert first["lot"] == "LOT-1"
    assert first["packing_house"] == "VN-TGPH-0001"
    assert first["province"] == data["province"]
    assert first["country"] == "VN"
    assert first["first_seen_at"] == "2026-06-10T05:00:00+00:00"
    assert first["explanation_vi"] == "Tem bị quét ở hai nước."
    only = world.client.get("/ministry/export/alerts.csv", params={**JUNE, "type": "off_route"}, headers=world.ministry)
    assert len(list(csv.DictReader(io.StringIO(only.text)))) == 1


def test_the_stamp_csv_has_a_row_per_month_house_and_product(world: World, data: dict[str, Any]) -> None:
    answer = world.client.get("/ministry/export/stamps.csv", params=JUNE, headers=world.ministry)
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows[0] == {
        "month": "2026-06",
        "packing_house": "VN-TGPH-0001",
        "gtin": GTIN_A,
        "product": "Sầu riêng Ri6",
        "issued": "0",
        "activated": "0",
        "stamps_scanned": "2",
        "scans": "4",
    }


@pytest.mark.parametrize("lang", ["vi", "en", "zh"])
def test_the_pdf_report_parses_and_says_what_the_dashboard_says(world: World, data: dict[str, Any], lang: str) -> None:
    answer = world.client.get("/ministry/export/report.pdf", params={**JUNE, "lang": lang}, headers=world.ministry)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(answer.content)
    text_ = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    if lang == "vi":
        assert "Cảnh báo theo ngày" in text_
        assert "Đắk Lắk" in text_
    elif lang == "zh":  # the font carries the report's Chinese words, so they come back out as text
        assert "每日预警" in text_
        assert "本期共 4 条预警" in text_
        assert "2026年6月1日" in text_
    else:
        assert "Alerts per day" in text_
        assert "4 alerts in this period" in text_
    assert "LOT-1" in text_
    travel = {"vi": "di chuyển bất khả thi", "en": "impossible travel", "zh": "不可能的移动"}
    assert travel[lang] in text_  # in words, not a code
    assert "impossible_travel" not in text_
    assert "VN-DLPH-0002" in text_


def ok_html(answer: Any) -> str:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return str(answer.text)
