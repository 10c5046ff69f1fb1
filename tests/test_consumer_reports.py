"""Consumers report a fake from the verdict page or the trace page: the form appears only on a suspect or
counterfeit verdict; the photo is kept re-encoded, upright, shrunk and without metadata, and anything that is not
a readable picture of a sane size is refused with a page that says why; a report needs the form this site made
for the stamp and the device, and a validly signed stamp; reports are limited per network; each one opens or adds
to the stamp's `consumer_report` alert, which the ministry sees with the photo and contact (nobody else does), and
which changes no verdict. The last test sends the form from a real browser."""

from __future__ import annotations

import html
import io
import itertools
import re
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image, ImageCms
from playwright.sync_api import Browser, Request, sync_playwright

from detection.engine.model import Verdict
from detection.scans import new_scan_id, now_millis
from identity.principal import operator
from issuer import keys
from resolver.report_form import form_token
from resolver.scanning import scan_token
from tem.core.db import Database
from tem.core.settings import Settings
from tests.browser import CHROMIUM_ARGS, ensure_chromium
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, ok
from tests.processes import free_port, tem_serve
from tests.resolver_helpers import Stamps, issue_and_activate, runtime

NOT_ACTIVATED = 15  # issue_and_activate: serials 1-10 are on LOT-1, 11-20 issued but never activated
_addresses = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The client's address is read from `cf-connecting-ip`, so each test chooses which network a report is from."""
    return settings.model_copy(update={"trust_edge_headers": True})


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def new_network() -> str:
    """An address on a /24 of its own: the per-network limit is left out of tests about something else."""
    n = next(_addresses)
    return f"10.{n // 256}.{n % 256}.7"


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the page's "Report a fake" form."""
    start = page.index('<form method="post" action="/reports"')
    form = page[start : page.index("</form>", start)]
    found = re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form)
    return {name: html.unescape(value) for name, value in found if value}  # not the position's empty fields


def suspect_page(client: TestClient, stamps: Stamps, **headers: str) -> str:
    page = client.get(path_of(stamps.uris[NOT_ACTIVATED - 1]), headers=headers, follow_redirects=False)
    assert page.status_code == 200
    assert 'data-verdict="suspect"' in page.text
    return page.text


def send(
    client: TestClient,
    fields: dict[str, str],
    photo: bytes | None = None,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    ip: str | None = None,
    headers: dict[str, str] | None = None,
    **more: str,
) -> Any:
    files = {"photo": (filename, photo, content_type)} if photo is not None else None
    return client.post(
        "/reports",
        data={**fields, **more},
        files=files,
        headers={"cf-connecting-ip": ip or new_network(), **(headers or {})},
        follow_redirects=False,
    )


def refused(answer: Any, status: int, words: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert 'data-report="refused"' in answer.text
    assert words in html.unescape(answer.text), answer.text
    return str(answer.text)


def reports(world: World, **params: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(world.client.get("/api/v1/reports", params=params, headers=world.ministry))
    return found


def photo_of(world: World, report: dict[str, Any]) -> Image.Image:
    answer = world.client.get(report["photo_url"], headers=world.ministry)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == "private, no-store"
    image = Image.open(io.BytesIO(answer.content))
    image.load()
    assert image.format == "JPEG"
    return image


# Pictures


def phone_jpeg() -> bytes:
    """A 3000×2000 landscape JPEG that a phone held upright would write: EXIF orientation 6 (turn it a quarter
    clockwise), the GPS position where it was taken, the camera's make, an ICC profile, a comment and XMP. Its
    top-left corner is green, so the corner it ends up in shows whether it was turned."""
    image = Image.new("RGB", (3000, 2000), (180, 40, 40))
    image.paste((20, 200, 20), (0, 0, 300, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (10.0, 21.0, 36.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (106.0, 21.0, 36.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=icc, comment=b"home address", xmp=b"<x:xmpmeta>home</x:xmpmeta>")
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it does carry a position
    return data


def transparent_png() -> bytes:
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    image.paste((30, 60, 200, 255), (200, 0, 400, 300))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int, real: bool = True) -> bytes:
    """A 1-bit greyscale PNG of side × side pixels: a few kilobytes that unpack to side² pixels (`real`), or just
    the header's claim (a tiny, broken IDAT)."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = (b"\0" * (1 + (side + 7) // 8)) * side if real else b"\0"
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b"")
    )


# The form on the pages


def test_the_form_shows_on_suspect_and_counterfeit_verdicts_only(world: World, settings: Settings) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    page = suspect_page(c, stamps)
    assert 'enctype="multipart/form-data"' in page
    assert '<script src="/reports/form.js" defer></script>' in page
    fields = form_fields(page)
    assert fields["stamp"].startswith(f"/01/{GTIN_A}/21/{NOT_ACTIVATED}?k=")
    assert fields["verdict"] == "suspect"
    assert set(fields) == {"stamp", "verdict", "issued", "token", "lang"}

    genuine = c.get(path_of(stamps.uris[0]))  # followed to the trace page
    assert 'data-verdict="genuine"' in genuine.text
    assert 'action="/reports"' not in genuine.text
    forged = c.get(path_of(stamps.uris[0]).replace("/21/1?", "/21/2?"), follow_redirects=False)
    assert 'data-verdict="counterfeit"' in forged.text
    assert 'action="/reports"' not in forged.text  # a forged code has no stamp to report against

    db = Database(settings.effective_database_url)
    with db.session() as session:  # the key leaked: every stamp it signed is counterfeit, its signature still holds
        keys.revoke(session, keys.list_keys(session)[0].kid, "key leaked", operator("test"))
    db.dispose()
    runtime(c).registry.dirty = True
    revoked = c.get(path_of(stamps.uris[2]), follow_redirects=False)
    assert 'data-verdict="counterfeit"' in revoked.text
    fields = form_fields(revoked.text)
    assert fields["verdict"] == "counterfeit"
    assert send(c, fields).status_code == 303

    script = c.get("/reports/form.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "geolocation" in script.text


@pytest.mark.parametrize(
    ("accept", "title", "submit"),
    [
        ("vi-VN,vi;q=0.9", "Báo hàng giả", "Gửi báo cáo"),
        ("zh-CN", "举报假货", "提交举报"),
        ("en", "Report a fake", "Send"),
    ],
)
def test_the_form_speaks_the_readers_language(world: World, accept: str, title: str, submit: str) -> None:
    stamps = issue_and_activate(world)
    page = suspect_page(world.client, stamps, **{"Accept-Language": accept})
    assert title in page
    assert submit in page
    assert form_fields(page)["lang"] == accept[:2]


def test_the_trace_pages_suspect_verdict_has_the_form_and_a_report_changes_no_verdict(world: World) -> None:
    """A scan token saying "suspect" (as detection would give) on an activated stamp: its trace page offers the
    form, carrying the scan token instead of a signature. The report's alert is info: the consumer's next scan is
    still genuine, and so is an inspector's check."""
    c = world.client
    stamps = issue_and_activate(world)
    key = runtime(c).config.link_key
    device = "d" * 22
    token = scan_token(key, new_scan_id(now_millis()), GTIN_A, 1, Verdict.SUSPECT)
    c.cookies.set("tem_scan", token, domain="127.0.0.1")
    c.cookies.set("tem_d", device, domain="127.0.0.1")
    page = c.get(f"/01/{GTIN_A}/10/LOT-1?serial=1")
    assert 'data-verdict="suspect"' in page.text
    fields = form_fields(page.text)
    assert fields["scan"] == token
    assert (fields["gtin"], fields["serial"], fields["verdict"]) == (GTIN_A, "1", "suspect")

    sent = send(c, fields, place="Chợ Bình Điền, TP.HCM", contact="+84 912 345 678")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/reports/sent?lang=en"
    thanks = c.get(sent.headers["location"])
    assert 'data-report="sent"' in thanks.text
    assert "does not change the stamp's check" in html.unescape(thanks.text)
    (report,) = reports(world)
    assert (report["serial"], report["verdict"], report["photo_url"]) == ("1", "suspect", None)
    assert report["lot_id"] == stamps.lot_id

    forged_scan = send(c, {**fields, "scan": token[:-1] + ("0" if token[-1] != "0" else "1")})
    refused(forged_scan, 400, "not a valid stamp code")

    c.cookies.clear()
    again = c.get(path_of(stamps.uris[0]), follow_redirects=False)
    assert again.status_code == 307  # still genuine: the report is a claim, not proof
    verify = ok(c.get("/api/v1/stamps/verify", params={"uri": stamps.uris[0]}, headers=world.inspector))
    assert verify["verdict"] == "genuine"
    assert [(a["type"], a["severity"]) for a in verify["alerts"]] == [("consumer_report", "info")]


# The photo


def test_a_phone_jpeg_is_kept_upright_shrunk_and_without_metadata(world: World) -> None:
    stamps = issue_and_activate(world)
    original = phone_jpeg()
    sent = send(world.client, form_fields(suspect_page(world.client, stamps)), original, place="Chợ Cái Bè")
    assert sent.status_code == 303, sent.text
    (report,) = reports(world)
    image = photo_of(world, report)
    assert image.size == (report["photo_width"], report["photo_height"])
    assert image.height == 1600  # upright: the phone was held portrait
    assert image.width in (1066, 1067)
    green = (20, 200, 20)
    corner = image.getpixel((image.width - 20, 20))
    assert all(abs(a - b) < 40 for a, b in zip(corner, green, strict=True))  # top-left turned to top-right
    assert image.getpixel((20, 20))[1] < 100
    assert len(image.getexif()) == 0
    assert not {"exif", "icc_profile", "comment", "xmp", "dpi"} & set(image.info)
    stored = world.client.get(report["photo_url"], headers=world.ministry).content
    for secret in (b"Exif", b"PhoneCo", b"home address", b"xmpmeta", b"ICC_PROFILE"):
        assert secret not in stored
    assert len(stored) < len(original)


def test_a_transparent_png_is_kept_on_white(world: World) -> None:
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(world.client, stamps))
    sent = send(world.client, fields, transparent_png(), filename="screenshot.png", content_type="image/png")
    assert sent.status_code == 303, sent.text
    image = photo_of(world, reports(world)[0])
    assert image.size == (400, 300)  # never enlarged
    assert min(image.getpixel((20, 150))) > 240  # transparent: white
    red, _green, blue = image.getpixel((380, 150))
    assert blue > 150
    assert red < 80


def _truncated() -> bytes:
    whole = phone_jpeg()
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    ("photo", "status", "words", "form_again"),
    [
        (b"these are not the pixels you are looking for", 415, "not a picture we can read", True),
        (b"%PDF-1.7\n" + b"0" * 2000, 415, "JPEG, PNG or WebP", True),
        (_truncated(), 422, "damaged or incomplete", True),
        (png_bomb(8000), 422, "more than 50 million pixels", True),  # 64 MP from a few kilobytes
        (png_bomb(40_000, real=False), 422, "more than 50 million pixels", True),  # past Pillow's own limit too
        (bytes(8 * 1024 * 1024 + 1), 413, "larger than 8 MB", True),  # within the body's limit, over the photo's
        (bytes(9 * 1024 * 1024), 413, "larger than 8 MB", False),  # refused from Content-Length, form unread
    ],
    ids=["text", "pdf", "truncated", "bomb", "bomb-header", "just-too-large", "too-large"],
)
def test_what_is_not_a_sane_picture_is_refused_with_a_page_that_says_why(
    world: World, photo: bytes, status: int, words: str, form_again: bool
) -> None:
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(world.client, stamps))
    answer = send(world.client, fields, photo)
    page = refused(answer, status, words)
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    if form_again:
        assert form_fields(page)["token"] == fields["token"]  # the form again, to send another photo
    else:
        assert 'action="/reports"' not in page
    assert reports(world) == []
    assert ok(world.client.get("/api/v1/alerts", params={"type": "consumer_report"}, headers=world.ministry)) == []


def test_text_fields_are_checked(world: World) -> None:
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(world.client, stamps))
    refused(send(world.client, fields, contact="call me maybe"), 422, "one phone number or one e-mail address")
    refused(send(world.client, fields, contact="1" * 101), 422, "at most 100 characters")
    refused(send(world.client, fields, place="Chợ " * 60), 422, "at most 200 characters")
    refused(send(world.client, fields, latitude="10.5", longitude=""), 422, "position could not be read")
    refused(send(world.client, fields, latitude="nan", longitude="106"), 422, "position could not be read")
    zh = refused(send(world.client, {**fields, "lang": "zh"}, contact="??"), 422, "请填写一个电话号码")
    assert 'name="lang" value="zh"' in zh
    assert reports(world) == []

    sent = send(
        world.client,
        fields,
        place="Chợ\u202e Cái Bè\n  Tiền Giang",
        contact="an.nguyen@example.vn",
        latitude="10.3601",
        longitude="106.0312",
        accuracy_m="25",
    )
    assert sent.status_code == 303
    (report,) = reports(world)
    assert report["place"] == "Chợ Cái Bè Tiền Giang"  # one line, no bidi override
    assert (report["latitude"], report["longitude"], report["accuracy_m"]) == (10.3601, 106.0312, 25.0)
    assert report["contact"] == "an.nguyen@example.vn"


# Abuse


def test_a_report_needs_this_sites_form_for_this_device(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(c, stamps))
    without = {k: v for k, v in fields.items() if k != "token"}
    refused(send(c, without), 403, "did not come from our page")
    refused(send(c, {**fields, "token": "0" * 32}), 403, "did not come from our page")
    refused(send(c, {**fields, "verdict": "counterfeit"}), 403, "did not come from our page")  # bound to the page
    refused(send(c, fields, headers={"Origin": "https://evil.example"}), 403, "did not come from our page")
    refused(send(c, fields, headers={"Referer": "https://evil.example/page"}), 403, "did not come from our page")
    old = int(fields["issued"]) - 3601
    device = c.cookies.get("tem_d")
    assert device
    expired = form_token(runtime(c).config.link_key, GTIN_A, NOT_ACTIVATED, Verdict.SUSPECT, device, old)
    refused(send(c, {**fields, "issued": str(old), "token": expired}), 403, "has expired")

    c.cookies.clear()  # a browser that kept no cookie, then another phone
    refused(send(c, fields), 403, "did not come from our page")
    c.cookies.set("tem_d", "another-phone-000000", domain="127.0.0.1")
    refused(send(c, fields), 403, "did not come from our page")
    assert reports(world) == []
    c.cookies.set("tem_d", device, domain="127.0.0.1")

    # What real browsers send: Origin null (the pages' Referrer-Policy: no-referrer), or this site's origin.
    assert send(c, fields, headers={"Origin": "null"}).status_code == 303
    assert send(c, fields, headers={"Origin": BASE_URL}).status_code == 303
    assert send(c, fields, headers={"Referer": f"{BASE_URL}/01/x"}).status_code == 303
    assert len(reports(world)) == 3


def test_a_forged_or_garbage_stamp_is_refused(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(c, stamps))
    forged = fields["stamp"].replace(f"/21/{NOT_ACTIVATED}?", f"/21/{NOT_ACTIVATED + 1}?")
    refused(send(c, {**fields, "stamp": forged}), 400, "not issued by this system")
    for garbage in ("", "/01/123/21/x", "/01/" + "9" * 3000, "javascript:alert(1)"):
        refused(send(c, {**fields, "stamp": garbage}), 400, "not a valid stamp code")
    refused(send(c, {k: v for k, v in fields.items() if k != "stamp"}), 400, "form could not be read")
    refused(send(c, {**fields, "verdict": "genuine"}), 400, "form could not be read")
    refused(send(c, {**fields, "issued": "soon"}), 400, "form could not be read")
    assert reports(world) == []


def test_reports_from_one_network_are_limited(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(c, stamps))
    for host in range(1, 6):
        assert send(c, fields, ip=f"203.0.113.{host}").status_code == 303
    page = refused(send(c, fields, ip="203.0.113.200"), 429, "Too many reports have come from your network")
    assert 'action="/reports"' not in page
    assert send(c, fields, ip="198.51.100.9").status_code == 303  # another network
    limited = send(c, {**fields, "lang": "vi"}, ip="203.0.113.7")
    refused(limited, 429, "quá nhiều báo cáo từ mạng của bạn")
    assert limited.headers["retry-after"] == "3600"
    assert len(reports(world)) == 6


def test_reports_on_one_stamp_are_limited_per_day(world: World, settings: Settings) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(c, stamps))
    for _ in range(settings.report_stamp_limit):
        assert send(c, fields).status_code == 303
    refused(send(c, fields), 429, "reported many times today")


# The ministry


def test_reports_open_one_alert_that_the_ministry_sees_with_photo_and_contact(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    fields = form_fields(suspect_page(c, stamps))
    first = send(c, fields, phone_jpeg(), place="Chợ Cái Bè", contact="0912 345 678", headers={"cf-ipcountry": "VN"})
    assert first.status_code == 303
    assert send(c, fields, transparent_png(), content_type="image/png").status_code == 303

    (alert,) = ok(c.get("/api/v1/alerts", params={"type": "consumer_report"}, headers=world.ministry))
    assert (alert["severity"], alert["status"], alert["scope"]) == ("info", "open", "stamp")
    assert (alert["gtin"], alert["serial"], alert["count"]) == (GTIN_A, str(NOT_ACTIVATED), 2)
    assert alert["packing_house"] == "VN-TGPH-0001"  # the house the serial was issued to
    assert "claim, not proof" in alert["explanation_en"]
    two, one = reports(world, alert_id=alert["id"])  # newest first
    assert alert["evidence"] == [f"report:{one['id']}", f"report:{two['id']}"]
    assert (one["contact"], one["place"], one["country"]) == ("0912 345 678", "Chợ Cái Bè", "VN")
    assert one["network"]
    assert "." not in one["network"]  # a keyed hash, never the address
    assert ok(c.get(f"/api/v1/reports/{one['id']}", headers=world.ministry)) == one

    page = c.get(f"/ministry/alerts/{alert['id']}?lang=en", headers=world.ministry)
    assert page.status_code == 200
    assert "img-src 'self'" in page.headers["content-security-policy"]
    section = page.text[page.text.index('<section id="reports">') :]
    section = section[: section.index("</section>")]
    assert "Consumers&#39; reports (2)" in section
    assert f'<img src="/api/v1/reports/{one["id"]}/photo"' in section
    assert f'<img src="/api/v1/reports/{two["id"]}/photo"' in section
    assert "0912 345 678" in section
    assert "Chợ Cái Bè" in section
    assert "suspect" in section
    assert "consumer_report" in c.get("/ministry?lang=en", headers=world.ministry).text  # in the alert list

    photo = one["photo_url"]
    assert c.get(photo, headers=world.packer).status_code == 403  # not even the packing house concerned
    assert c.get(photo, headers=world.inspector).status_code == 403
    assert c.get(photo).status_code == 401  # the consumer, with the scan's cookies and no account
    assert c.get("/api/v1/reports", headers=world.packer).status_code == 403
    assert c.get(f"/api/v1/reports/{one['id']}", headers=world.packer).status_code == 403
    packer_view = ok(c.get(f"/api/v1/alerts/{alert['id']}", headers=world.packer))  # the alert, without report
    assert "contact" not in str(packer_view)

    token = world.ministry["Authorization"].removeprefix("Bearer ")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/ministry/login").text)
    assert csrf is not None  # the login form's token, bound to its pre-login cookie
    c.post("/ministry/login", data={"token": token, "csrf": csrf.group(1)}, follow_redirects=False)
    assert c.get(photo).status_code == 200  # the ministry's pages show it with their login cookie


# In a real browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_a_browser_sends_the_form_with_a_photo_and_its_position(
    browser: Browser, world: World, env: dict[str, str]
) -> None:
    """Chromium, against `tem serve`: the scan's verdict page, a contact it refuses (the page that says so has a
    Content-Security-Policy, and its script still runs), then the photo, place, position and contact again."""
    stamps = issue_and_activate(world)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    photo = {"name": "durian.jpg", "mimeType": "image/jpeg", "buffer": phone_jpeg()}
    with tem_serve({**env, "TEM_PUBLIC_BASE_URL": base}, port=port):
        context = browser.new_context(
            locale="en-US",
            geolocation={"latitude": 10.3601, "longitude": 106.0312, "accuracy": 30},
            permissions=["geolocation"],
        )
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        posts: list[Request] = []
        page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)

        page.goto(f"{base}{path_of(stamps.uris[NOT_ACTIVATED - 1])}")
        assert page.locator('[data-verdict="suspect"]').count() == 1
        form = page.locator("form.report")
        form.locator('input[name="photo"]').set_input_files(photo)
        form.locator('input[name="contact"]').fill("not a contact")
        form.locator('button[type="submit"]').click()
        page.wait_for_selector('[data-report="refused"]')
        assert "one phone number or one e-mail address" in page.content()

        form = page.locator("form.report")  # shown again, under the refusal page's CSP
        form.locator('input[name="photo"]').set_input_files(photo)
        form.locator('input[name="place"]').fill("Chợ Cái Bè")
        form.locator('input[name="share_position"]').check()  # visible only if the script ran
        # Polled from Playwright's side: a string for wait_for_function is eval, which this page's CSP refuses.
        latitude = form.locator('input[name="latitude"]')
        deadline = time.monotonic() + 10
        while latitude.input_value() == "" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert latitude.input_value() != ""
        form.locator('input[name="contact"]').fill("an.nguyen@example.vn")
        form.locator('button[type="submit"]').click()
        page.wait_for_selector('[data-report="sent"]')
        assert page.url == f"{base}/reports/sent?lang=en"
        origins = [request.all_headers().get("origin") for request in posts]
        context.close()
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
    assert len(origins) == 2
    assert all(origin in ("null", base) for origin in origins), origins  # Chromium: "null", under no-referrer

    (report,) = reports(world)
    assert (report["place"], report["contact"]) == ("Chợ Cái Bè", "an.nguyen@example.vn")
    assert (report["latitude"], report["longitude"]) == (10.3601, 106.0312)
    assert photo_of(world, report).height == 1600
