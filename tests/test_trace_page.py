"""The consumer trace page: three languages with local dates and numbers, household names only where the
lot allows them, the lot's documents, and the packing house's own text always escaped."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from detection.engine.model import Place
from detection.scans import StampHistory
from resolver.i18n import LANGUAGES
from resolver.trace import history_lines
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, GTIN_B, ok, order
from tests.resolver_helpers import runtime


@dataclass
class Lot:
    id: int
    code: str
    gtin: str
    households: list[str]
    uris: list[str]  # serial n is uris[n - 1]; serials 1-5 are activated on the lot
    scan_url: str  # the trace page URL the genuine scan of serial 1 redirected to


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def make_lot(
    world: World,
    *,
    code: str = "TG-RI6-2026-001",
    gtin: str = GTIN_A,
    show_names: bool = False,
    households: tuple[str, ...] = ("Hộ Nguyễn Văn An", "Hộ Trần Thị Bình"),
    product: dict[str, str] | None = None,
    area_hectares: float = 1234.5,
) -> Lot:
    """A product, a growing area, households, a lot with its journey, and stamps 1-5 activated on it."""
    c, packer = world.client, world.packer
    names = product or {"name_vi": "Sầu riêng Ri6", "name_en": "Ri6 durian", "name_zh": "Ri6 榴莲", "variety": "Ri6"}
    ok(c.post("/api/v1/products", headers=packer, json={"gtin": gtin, **names}), 201)
    area = f"VN-TGOR-{gtin[-4:]}"
    ok(
        c.post(
            "/api/v1/growing-areas",
            headers=packer,
            json={"code": area, "province": "Tiền Giang", "area_hectares": area_hectares},
        ),
        201,
    )
    ids = [
        ok(c.post("/api/v1/households", headers=packer, json={"name": name, "growing_area": area}), 201)["id"]
        for name in households
    ]
    lot = ok(
        c.post(
            "/api/v1/lots",
            headers=packer,
            json={
                "code": code,
                "gtin": gtin,
                "harvest_dates": ["2026-06-21", "2026-06-22"],
                "packing_date": "2026-06-23",
                "destination_markets": ["CN"],
                "growing_areas": [area],
                "households": ids,
                "show_household_names": show_names,
            },
        ),
        201,
    )
    journey = [
        ("harvest", "2026-06-21T06:00:00+07:00", "Cái Bè", "VN"),
        ("packing", "2026-06-23T23:30:00+07:00", "Cái Bè", "VN"),
        ("border_crossing", "2026-06-26T08:15:00+07:00", "Hữu Nghị", "VN"),
        ("import", "2026-06-26T11:00:00+08:00", "Pingxiang", "CN"),
    ]
    for stage, at, place, country in journey:
        ok(
            c.post(
                f"/api/v1/lots/{lot['id']}/stages",
                headers=packer,
                json={"stage": stage, "occurred_at": at, "place": place, "country": country},
            ),
            201,
        )
    phyto = {"kind": "phytosanitary", "number": f"PC-{code}", "issued_on": "2026-06-23"}  # TEM_REQUIRE_PHYTO
    ok(c.post(f"/api/v1/lots/{lot['id']}/documents", headers=packer, json=phyto), 201)
    issued = order(c, packer, gtin, 5)
    ok(
        c.post(
            "/api/v1/activations",
            headers=packer,
            json={"gtin": gtin, "first_serial": 1, "last_serial": 5, "lot": code},
        ),
        201,
    )
    uris = c.get(f"/api/v1/orders/{issued['id']}/stamps.csv", headers=packer).text.splitlines()[1:]
    redirect = c.get(path_of(uris[0]), follow_redirects=False)
    assert redirect.status_code == 307, redirect.text
    return Lot(lot["id"], code, gtin, list(households), uris, redirect.headers["location"])


# What each language must show for the lot above: local dates, the reader's number format, local times
# in the place's zone with the zone shown (a stage in Vietnam is UTC+7 on every page; a scan of unknown place is in
# the reader's zone: Vietnam UTC+7, China UTC+8, English UTC), and translated words.
EXPECTED = {
    "vi": [
        "Hàng thật",
        "Sầu riêng Ri6",
        "Ngày thu hoạch",
        "21/06/2026, 22/06/2026",
        "Ngày đóng gói",
        "23/06/2026",
        "Trung Quốc",
        "1.234,5 ha",
        "2 hộ",
        "Đóng gói",
        "23:30 23/06/2026 UTC+7",
        "Qua cửa khẩu",
        "Hữu Nghị, Việt Nam",
        "Xuất khẩu sang Cộng hòa Nhân dân Trung Hoa",
    ],
    "en": [
        "Genuine",
        "Ri6 durian",
        "Harvest date",
        "21 Jun 2026, 22 Jun 2026",
        "Packing date",
        "23 Jun 2026",
        "China",
        "1,234.5 ha",
        "2 households",
        "Packing",
        "23 Jun 2026 23:30 UTC+7",
        "Border crossing",
        "Hữu Nghị, Vietnam",
    ],
    "zh": [
        "正品",
        "Ri6 榴莲",
        "采收日期",
        "2026年6月21日, 2026年6月22日",
        "包装日期",
        "2026年6月23日",
        "中国",
        "1,234.5公顷",
        "2户",
        "包装",
        "2026年6月23日 23:30 UTC+7",  # packed in Vietnam: Vietnam's time, not the reader's
        "通关",
        "Pingxiang, 中国",
        "出口至中华人民共和国",
    ],
}
FIRST_CHECK = {
    "vi": r"Lần kiểm tra đầu tiên, lúc \d\d:\d\d \d\d/\d\d/\d{4} UTC\+7\.",
    "en": r"First check, at \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC\.",
    "zh": r"首次查询，时间 \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC\+8。",
}
ACCEPT = {"vi": "vi-VN,vi;q=0.9,en;q=0.5", "en": "en-GB,en;q=0.8", "zh": "zh-CN,zh;q=0.9,en;q=0.6"}


@pytest.mark.parametrize("how", ["accept-language", "switch"])
def test_the_trace_page_speaks_three_languages_with_local_dates_and_numbers(world: World, how: str) -> None:
    lot = make_lot(world)
    for lang in LANGUAGES:
        if how == "accept-language":
            page = world.client.get(path_of(lot.scan_url), headers={"Accept-Language": ACCEPT[lang]})
        else:  # the switch wins over the phone's language
            other = "zh" if lang != "zh" else "vi"
            page = world.client.get(f"{path_of(lot.scan_url)}&lang={lang}", headers={"Accept-Language": other})
        assert page.status_code == 200
        assert page.headers["content-language"] == lang
        text = html.unescape(page.text)
        assert f'<html lang="{lang}">' in text
        assert 'data-verdict="genuine"' in text
        missing = [want for want in EXPECTED[lang] if want not in text]
        assert missing == [], f"{lang} page lacks {missing}"
        assert re.search(FIRST_CHECK[lang], text), text
        if lang != "en":  # no English month names leak into local pages
            assert not re.search(r"\b(Jun|June)\b", text)
        assert lot.code in text
        assert "VN-TGPH-0001" in text
        assert "Cơ sở đóng gói A" in text


def test_the_language_switch_keeps_the_stamp_and_its_verdict(world: World) -> None:
    lot = make_lot(world)
    page = world.client.get(path_of(lot.scan_url), headers={"Accept-Language": "vi"})
    links = dict(re.findall(r'<a href="([^"]+)" hreflang="(\w+)"', page.text))
    by_lang = {lang: html.unescape(href) for href, lang in links.items()}
    assert set(by_lang) == set(LANGUAGES)
    for lang, href in by_lang.items():
        query = parse_qs(urlsplit(href).query)
        assert query["lang"] == [lang]
        assert query["serial"] == ["1"]
        switched = world.client.get(href)
        assert switched.headers["content-language"] == lang
        assert 'data-verdict="genuine"' in switched.text


@pytest.mark.parametrize("show_names", [True, False])
def test_household_names_appear_only_when_the_lot_allows_them(world: World, show_names: bool) -> None:
    names = ("Hộ Nguyễn Văn An", 'Hộ Lê Thị <Hoa> & "Con"')
    lot = make_lot(world, show_names=show_names, households=names)
    for lang, count in (("vi", "2 hộ"), ("en", "2 households"), ("zh", "2户")):
        page = world.client.get(f"{path_of(lot.scan_url)}&lang={lang}")
        assert count in page.text
        text = html.unescape(page.text)
        for name in names:
            assert (name in text) is show_names
        assert "<Hoa>" not in page.text  # shown or not, never as markup


def test_household_names_follow_each_lot_not_the_packing_house(world: World) -> None:
    shown = make_lot(world, code="LOT-SHOWN", gtin=GTIN_A, show_names=True, households=("Hộ Phạm Văn Công",))
    hidden = make_lot(world, code="LOT-HIDDEN", gtin=GTIN_B, show_names=False, households=("Hộ Võ Thị Dung",))
    assert "Hộ Phạm Văn Công" in world.client.get(shown.scan_url).text
    hidden_page = world.client.get(hidden.scan_url).text
    assert "Hộ Võ Thị Dung" not in hidden_page
    assert "1 households" in hidden_page


PHYTO = {
    "kind": "phytosanitary",
    "number": "VN-PC-2026-000123",
    "issued_on": "2026-06-24",
    "issuer": "Chi cục Kiểm dịch thực vật vùng II",
}
LAB = {
    "kind": "lab_result",
    "number": "LAB-2026-0777",
    "issued_on": "2026-06-22",
    "issuer": "Trung tâm Kiểm nghiệm <QUATEST 3>",
    "summary": "Dư lượng thuốc BVTV: không phát hiện (0/312 hoạt chất); Cadmium < 0,05 mg/kg",
}


def test_lot_documents_are_shown_on_the_trace_page(world: World) -> None:
    c = world.client
    lot = make_lot(world)
    before = c.get(f"{path_of(lot.scan_url)}&lang=en").text  # also fills the page's lot cache
    # make_lot attached its own phytosanitary certificate (activation needs one): not these two.
    assert PHYTO["number"] not in before
    assert LAB["number"] not in before
    for document in (PHYTO, LAB):
        created = ok(c.post(f"/api/v1/lots/{lot.id}/documents", headers=world.packer, json=document), 201)
        assert created["kind"] == document["kind"]
    heading = {"vi": "Giấy chứng nhận", "en": "Certificates", "zh": "证书"}
    dates = {
        "vi": ("24/06/2026", "22/06/2026"),
        "en": ("24 Jun 2026", "22 Jun 2026"),
        "zh": ("2026年6月24日", "2026年6月22日"),
    }
    for lang in LANGUAGES:
        page = c.get(f"{path_of(lot.scan_url)}&lang={lang}")
        text = html.unescape(page.text)
        assert heading[lang] in text
        phyto = f"{PHYTO['number']} · {PHYTO['issuer']} · {dates[lang][0]}"
        lab = f"{LAB['number']} · {LAB['issuer']} · {dates[lang][1]} · {LAB['summary']}"
        assert phyto in text
        assert lab in text
        assert text.index(phyto) < text.index(lab)  # in the order they were attached
        assert "<QUATEST 3>" not in page.text  # the packing house's text is escaped


def test_only_the_lots_packing_house_can_attach_documents(world: World) -> None:
    c = world.client
    lot = make_lot(world)
    assert c.post(f"/api/v1/lots/{lot.id}/documents", headers=world.other_packer, json=PHYTO).status_code == 404
    assert c.post(f"/api/v1/lots/{lot.id}/documents", headers=world.inspector, json=PHYTO).status_code == 403
    bad_kind = {**PHYTO, "kind": "invoice"}
    assert c.post(f"/api/v1/lots/{lot.id}/documents", headers=world.packer, json=bad_kind).status_code == 422
    assert PHYTO["number"] not in c.get(lot.scan_url).text


def test_the_packing_houses_text_is_escaped_everywhere_on_the_page(world: World) -> None:
    c = world.client
    script = "<script>alert(1)</script>"
    attribute = '"><img src=x onerror=alert(2)>'
    lot = make_lot(
        world,
        code="L<b>\"&'1",  # the GS1 character set allows < > " & '
        show_names=True,
        households=(f"Hộ {script}",),
        product={"name_vi": script, "name_en": script, "name_zh": script, "variety": attribute},
    )
    ok(
        c.post(
            f"/api/v1/lots/{lot.id}/stages",
            headers=world.packer,
            json={"stage": "shipping", "occurred_at": "2026-06-25T08:00:00+07:00", "place": attribute},
        ),
        201,
    )
    ok(c.post(f"/api/v1/lots/{lot.id}/documents", headers=world.packer, json={**LAB, "summary": script}), 201)
    for lang in LANGUAGES:
        page = c.get(f"{path_of(lot.scan_url)}&lang={lang}")
        assert page.status_code == 200
        assert 'data-verdict="genuine"' in page.text
        for raw in (script, attribute, "<img", "<b>", lot.code):
            assert raw not in page.text
        text = html.unescape(page.text)
        for shown in (script, attribute, lot.code):
            assert shown in text


def test_repeat_checks_show_count_date_and_place_in_the_readers_language(world: World, client: TestClient) -> None:
    lot = make_lot(world)
    runtime(client).resolver.locator._trust_edge = True  # as TEM_TRUST_EDGE_HEADERS=1 would set it
    client.cookies.clear()
    first = client.get(path_of(lot.uris[1]), headers={"cf-ipcountry": "CN", "cf-ipcity": "Nanning"})
    assert "First check" in first.text
    client.cookies.clear()  # another phone, in Vietnamese and then in Chinese
    second = client.get(path_of(lot.uris[1]), headers={"Accept-Language": "vi"})
    vi = html.unescape(second.text)
    # The first scan was in China: its time is China's, with the zone shown, whatever the reader's language.
    first_vi = r"Mã này đã được kiểm tra 2 lần, lần đầu lúc \d\d:\d\d \d\d/\d\d/\d{4} UTC\+8 tại Nanning, CN\."
    assert re.search(first_vi, vi), vi
    third = client.get(f"{path_of(second.url.path)}?{second.url.query.decode()}&lang=zh")
    zh = html.unescape(third.text)
    assert re.search(
        r"此码已被查询2次，首次查询时间 \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC\+8，地点 Nanning, CN。", zh
    ), zh


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("vi", "Mã này đã được kiểm tra 12.345 lần"),
        ("en", "This code has been checked 12,345 times"),
        ("zh", "此码已被查询12,345次"),
    ],
)
def test_check_counts_are_in_the_readers_number_format(lang: str, expected: str) -> None:
    history = StampHistory(
        count=12_345,
        devices=900,
        first_at=1_782_000_000.0,
        first_place=Place(country="CN", city="Nanning"),
        first_device="phone-a",
    )
    (line,) = history_lines(history, "phone-b", lang)
    assert line.startswith(expected)
    assert "Nanning, CN" in line


def test_an_unknown_lot_walks_up_to_its_product_and_an_unknown_gtin_is_a_404_page(world: World) -> None:
    lot = make_lot(world)
    walked = world.client.get(
        f"/01/{lot.gtin}/10/NOPE?foo=bar", headers={"Accept-Language": "vi"}, follow_redirects=False
    )
    assert walked.status_code == 307  # GS1 walk-up: the GTIN's default link, with the query passed on
    assert walked.headers["location"] == f"{BASE_URL}/products/{lot.gtin}?foo=bar"
    product = world.client.get(walked.headers["location"], headers={"Accept-Language": "vi"})
    assert product.status_code == 200
    assert "Cơ sở đóng gói A" in product.text
    assert 'data-checked="no"' in product.text  # a product page never gives a verdict
    for path, status, words in (
        (f"/01/{GTIN_B}/10/{lot.code}", 404, "Không tìm thấy."),
        (f"/01/123/10/{lot.code}", 400, "Đây không phải là một mã tem hợp lệ."),
    ):
        page = world.client.get(path, headers={"Accept-Language": "vi"}, follow_redirects=False)
        assert page.status_code == status
        assert page.headers["content-type"].startswith("text/html")
        assert words in page.text
