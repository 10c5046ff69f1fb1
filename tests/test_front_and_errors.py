"""The front page at `/` (what Tem is, in three languages; a stamp checked by its link or a photo of its QR), the
browser's HTML error pages beside the API's unchanged JSON errors, and `/docs` and `/redoc` from vendored assets."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator

from fastapi.testclient import TestClient
from PIL import Image

from printing.qr import make_stamp_qr
from tem.apidocs import VENDOR
from tests.conftest import World
from tests.resolver_helpers import issue_and_activate

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"}


def _qr_png(text: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    make_stamp_qr(text).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def _photo(data: bytes, name: str = "photo.png", kind: str = "image/png") -> dict[str, tuple[str, bytes, str]]:
    return {"photo": (name, data, kind)}


# The front page


def test_the_front_page_says_what_tem_is_in_three_languages(client: TestClient) -> None:
    words = {"vi": "Kiểm tra một tem", "en": "Check a stamp", "zh": "查验标签"}
    for lang, heading in words.items():
        page = client.get(f"/?lang={lang}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f'<html lang="{lang}">' in page.text
        assert heading in page.text
        for link in ('href="/portal"', 'href="/inspect"', 'href="/ministry"'):
            assert link in page.text
    assert 'lang="vi"' in client.get("/", headers={"Accept-Language": "vi-VN,vi;q=0.9"}).text
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert "<script" not in page.text
    assert "http" not in page.text.split("<body>", 1)[1]  # nothing from another host
    assert page.headers["referrer-policy"] == "same-origin"
    for code in ("vi", "en", "zh"):
        assert f'href="/?lang={code}"' in page.text


def test_a_pasted_stamp_link_goes_on_to_the_stamp(world: World) -> None:
    stamps = issue_and_activate(world)
    uri = stamps.uris[0]
    answer = world.client.post("/check?lang=en", data={"link": f"  {uri}\n"}, follow_redirects=False)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/01/")
    assert location == uri[uri.index("/01/") :]
    assert world.client.get(location, follow_redirects=False).status_code in (200, 302, 303, 307)


def test_a_link_that_is_no_stamp_of_this_site_gets_a_clear_message(world: World) -> None:
    stamps = issue_and_activate(world)
    client = world.client
    other = re.sub(r"^[A-Za-z]+://[^/]+", "HTTPS://EVIL.EXAMPLE", stamps.uris[0])
    answer = client.post("/check?lang=en", data={"link": other}, follow_redirects=False)
    assert answer.status_code == 422
    assert "points to another site (evil.example)" in answer.text
    for junk in ("https://example.com/", "hello", "javascript:alert(1)"):
        answer = client.post("/check?lang=en", data={"link": junk}, follow_redirects=False)
        assert answer.status_code == 422
        assert "This is not the link of a Tem stamp" in answer.text
    empty = client.post("/check?lang=vi", data={"link": ""}, follow_redirects=False)
    assert empty.status_code == 422
    assert "Hãy dán đường dẫn" in empty.text


def test_a_photo_of_a_stamp_qr_is_decoded_and_goes_on_to_the_stamp(world: World) -> None:
    stamps = issue_and_activate(world)
    uri = stamps.uris[2]
    png = _qr_png(uri)
    answer = world.client.post("/check?lang=en", files=_photo(png), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == uri[uri.index("/01/") :]

    # As a phone's photo: a JPEG, larger, the code in a corner of a grey scene.
    scene = Image.new("RGB", (2400, 1800), (170, 170, 160))
    scene.paste(Image.open(io.BytesIO(png)).convert("RGB"), (300, 200))
    jpeg = io.BytesIO()
    scene.save(jpeg, format="JPEG", quality=85)
    answer = world.client.post(
        "/check", files=_photo(jpeg.getvalue(), "IMG_0001.jpg", "image/jpeg"), follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == uri[uri.index("/01/") :]


def test_a_photo_without_a_readable_qr_gets_a_clear_message(client: TestClient) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(blank, format="PNG")
    answer = client.post("/check?lang=en", files=_photo(blank.getvalue()))
    assert answer.status_code == 422
    assert "No readable QR code was found in the photo" in answer.text
    not_image = client.post("/check?lang=zh", files=_photo(b"%PDF-1.4 not a photo", "x.pdf", "application/pdf"))
    assert not_image.status_code == 422
    assert "此文件不是照片" in not_image.text
    other_qr = client.post("/check?lang=en", files=_photo(_qr_png("https://example.com/promo")))
    assert other_qr.status_code == 422
    assert "This is not the link of a Tem stamp" in other_qr.text
    too_large = client.post("/check?lang=en", files=_photo(b"\x89PNG" + b"0" * (9 * 1024 * 1024)))
    assert too_large.status_code == 413
    assert "too large" in too_large.text

    def unannounced() -> Iterator[bytes]:  # chunked, with no Content-Length to refuse it by
        yield b'--x\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n"
        for _ in range(10):
            yield b"0" * (1024 * 1024)

    streamed = client.post(
        "/check?lang=en", content=unannounced(), headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert streamed.status_code == 413
    assert "too large" in streamed.text


# Errors: a page for a browser, JSON for an API client


def test_a_browser_gets_an_html_error_page_and_an_api_client_the_json(world: World) -> None:
    client = world.client
    page = client.get("/nowhere?lang=en", headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert 'href="/?lang=en"' in page.text
    assert "<script" not in page.text
    assert "不到页面" in client.get("/nowhere", headers={**BROWSER, "Accept-Language": "zh-CN"}).text

    for accept in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        answer = client.get("/nowhere", headers=accept)
        assert answer.status_code == 404
        assert answer.json() == {"error": {"message": "Not Found"}}  # as before this page existed
    api = client.get("/api/v1/orders/999", headers={**BROWSER, **world.packer})  # under /api/: always JSON
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")

    missing = client.get("/ministry/alerts/9999?lang=en", headers={**BROWSER, **world.ministry})
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert client.get("/ministry/alerts/9999", headers=world.ministry).json()["error"]["message"]

    bad_date = client.get("/ministry?since=garbage&lang=en", headers={**BROWSER, **world.ministry})
    assert bad_date.status_code == 422
    assert "Something entered is not valid" in bad_date.text
    assert "since" in bad_date.text  # the field's own explanation is kept
    as_json = client.get("/ministry?since=garbage", headers=world.ministry)
    assert as_json.status_code == 422
    assert as_json.json()["error"]["field"] == "since"

    forbidden = client.get("/ministry?lang=vi", headers={**BROWSER, **world.packer})
    assert forbidden.status_code == 403
    assert "Không có quyền truy cập" in forbidden.text

    wrong_method = client.delete("/healthz?lang=en", headers=BROWSER)
    assert wrong_method.status_code == 405
    assert "cannot be opened this way" in wrong_method.text
    assert client.delete("/healthz").json() == {"error": {"message": "Method Not Allowed"}}

    out_of_range = client.get("/ministry/alerts/0?lang=en", headers={**BROWSER, **world.ministry})
    assert out_of_range.status_code == 422
    assert out_of_range.headers["content-type"].startswith("text/html")


def test_the_ministry_login_refuses_a_cross_site_post_with_a_page(client: TestClient) -> None:
    client.get("/ministry/login")
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {}):
        answer = client.post("/ministry/login?lang=en", data={"token": "x", "csrf": "forged"}, headers=headers)
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("text/html")
        assert "was not sent from this site" in answer.text


# /docs and /redoc


def test_the_api_docs_load_only_vendored_assets(client: TestClient) -> None:
    for path, assets in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")), ("/redoc", ("redoc.standalone.js",))):
        page = client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "fonts.googleapis" not in page.text
        assert "tiangolo" not in page.text
        for name in assets:
            assert f"/docs/assets/{name}" in page.text
            asset = client.get(f"/docs/assets/{name}")
            assert asset.status_code == 200
            assert asset.content == (VENDOR / name).read_bytes()
    assert client.get("/docs/assets/README.md").status_code == 404
    assert client.get("/docs/assets/..%2F..%2Fapp.py").status_code == 404
    readme = (VENDOR / "README.md").read_text()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in readme, name
