"""The front page at `/`: what Tem is, where each kind of user goes, and a check of a stamp by its link or by a
photo of its QR code. Also the HTML error page that browsers get instead of a JSON error (`tem.app`).

The check only reads: a Tem stamp of this site is sent on to its own URI (the resolver then judges and records
the scan as for any scan), and anything else is answered with a plain message. A photo is decoded here, within
bounds (its size in bytes and in pixels), and never kept.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from crypto import StampFormatError, parse_stamp_uri
from identity.dependencies import State
from resolver import i18n
from resolver.pages import JINJA

router = APIRouter(include_in_schema=False)
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
DECODE_SIDE = 2000  # a large photo is shrunk to this before the QR is looked for
MAX_LINK_CHARS = 2048
MAX_BODY_BYTES = MAX_PHOTO_BYTES + 16 * 1024  # the photo and the link
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # No script at all; the styles are the base template's inline ones.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

WORDS: dict[str, dict[str, str]] = {
    "front_title": {
        "vi": "Tem chống giả cho sầu riêng xuất khẩu",
        "en": "Anti-counterfeit stamps for export durian",
        "zh": "出口榴莲防伪标签",
    },
    "front_what": {
        "vi": "Mỗi thùng sầu riêng xuất khẩu mang một tem có mã QR. Mã được ký số bởi hệ thống truy xuất nguồn gốc "
        "quốc gia, nên không thể làm giả. Quét mã để biết tem là thật hay giả, và xem lô hàng, vườn trồng, "
        "cơ sở đóng gói của quả sầu riêng.",
        "en": "Every box of export durian carries a stamp with a QR code. The code is digitally signed by the "
        "national traceability system, so it cannot be forged. Scan it to learn whether the stamp is genuine, and "
        "to see the fruit's lot, growing area and packing house.",
        "zh": "每箱出口榴莲都贴有一枚带二维码的标签。二维码由国家溯源系统进行数字签名，无法伪造。扫描即可知道标签"
        "是真是假，并查看榴莲的批次、种植区和包装厂。",
    },
    "front_check": {"vi": "Kiểm tra một tem", "en": "Check a stamp", "zh": "查验标签"},
    "front_check_help": {
        "vi": "Dán đường dẫn của mã QR, hoặc tải lên ảnh chụp mã QR.",
        "en": "Paste the QR code's link, or upload a photo of the QR code.",
        "zh": "粘贴二维码的链接，或上传二维码的照片。",
    },
    "front_link": {"vi": "Đường dẫn của tem", "en": "The stamp's link", "zh": "标签链接"},
    "front_photo": {"vi": "Ảnh chụp mã QR", "en": "Photo of the QR code", "zh": "二维码照片"},
    "front_submit": {"vi": "Kiểm tra", "en": "Check", "zh": "查验"},
    "front_who": {"vi": "Dành cho", "en": "For", "zh": "入口"},
    "front_portal": {"vi": "Cơ sở đóng gói: cổng thông tin", "en": "Packing houses: the portal", "zh": "包装厂：门户"},
    "front_inspect": {
        "vi": "Cán bộ kiểm tra thị trường: ứng dụng kiểm tra",
        "en": "Market inspectors: the inspection app",
        "zh": "市场检查员：检查应用",
    },
    "front_ministry": {
        "vi": "Bộ: báo cáo và cảnh báo",
        "en": "The ministry: reports and alerts",
        "zh": "农业部：报告与警报",
    },
    "front_api": {"vi": "Tài liệu API", "en": "API documentation", "zh": "API 文档"},
    "check_empty": {
        "vi": "Hãy dán đường dẫn của tem hoặc chọn một ảnh.",
        "en": "Paste the stamp's link or choose a photo.",
        "zh": "请粘贴标签链接或选择一张照片。",
    },
    "check_not_stamp": {
        "vi": "Đây không phải đường dẫn của một tem Tem. "
        "Tem thật có đường dẫn dạng …/01/<mã sản phẩm>/21/<số sê-ri>?k=…&s=…",
        "en": "This is not the link of a Tem stamp. "
        "A genuine stamp's link looks like …/01/<product code>/21/<serial>?k=…&s=…",
        "zh": "这不是 Tem 标签的链接。真标签的链接形如 …/01/<产品代码>/21/<序列号>?k=…&s=…",
    },
    "check_other_site": {
        "vi": "Đường dẫn này trỏ tới một trang khác ({host}), không phải trang này. Tem thật chỉ trỏ tới trang "
        "của hệ thống; hãy cẩn thận với tem này.",
        "en": "This link points to another site ({host}), not this one. Genuine stamps only point to the system's "
        "own site: be wary of this stamp.",
        "zh": "此链接指向另一个网站（{host}），而不是本站。真标签只指向本系统的网站：请警惕此标签。",
    },
    "check_no_qr": {
        "vi": "Không đọc được mã QR trong ảnh. Hãy chụp lại gần hơn, đủ sáng và rõ nét.",
        "en": "No readable QR code was found in the photo. Take it again closer, in good light and in focus.",
        "zh": "照片中没有可识读的二维码。请靠近一些、在光线充足处清晰地重新拍摄。",
    },
    "check_not_image": {
        "vi": "Tệp này không phải là ảnh (JPEG, PNG hoặc WebP).",
        "en": "This file is not a photo (JPEG, PNG or WebP).",
        "zh": "此文件不是照片（JPEG、PNG 或 WebP）。",
    },
    "check_too_large": {
        "vi": "Ảnh quá lớn (tối đa 8 MB).",
        "en": "The photo is too large (at most 8 MB).",
        "zh": "照片太大（最大 8 MB）。",
    },
    "error_home": {"vi": "Về trang chủ", "en": "Go to the home page", "zh": "返回首页"},
    "error_detail": {"vi": "Chi tiết", "en": "Details", "zh": "详情"},
    "error_400": {"vi": "Yêu cầu không hợp lệ", "en": "The request could not be read", "zh": "请求无法读取"},
    "error_401": {"vi": "Cần đăng nhập", "en": "You need to log in", "zh": "需要登录"},
    "error_403": {"vi": "Không có quyền truy cập", "en": "You may not open this page", "zh": "无权访问此页面"},
    "error_404": {"vi": "Không tìm thấy trang", "en": "Page not found", "zh": "找不到页面"},
    "error_405": {
        "vi": "Không thể mở trang theo cách này",
        "en": "This page cannot be opened this way",
        "zh": "无法以此方式打开此页面",
    },
    "error_413": {"vi": "Nội dung gửi lên quá lớn", "en": "What was sent is too large", "zh": "提交的内容过大"},
    "error_422": {"vi": "Dữ liệu nhập không hợp lệ", "en": "Something entered is not valid", "zh": "输入的内容无效"},
    "error_429": {
        "vi": "Quá nhiều yêu cầu; hãy thử lại sau ít phút",
        "en": "Too many requests; try again in a few minutes",
        "zh": "请求过多，请几分钟后再试",
    },
    "error_500": {
        "vi": "Đã xảy ra lỗi; lỗi đã được ghi lại",
        "en": "Something went wrong; it has been logged",
        "zh": "出现错误，已记录",
    },
    "error_503": {
        "vi": "Hệ thống tạm thời không phục vụ được; hãy thử lại sau",
        "en": "The service is briefly unavailable; try again shortly",
        "zh": "服务暂时不可用，请稍后再试",
    },
    "error_other": {
        "vi": "Không thể hoàn tất yêu cầu",
        "en": "The request could not be completed",
        "zh": "无法完成请求",
    },
}


def word(key: str, lang: str, **values: object) -> str:
    """This module's words, then the consumer pages' (`resolver.i18n`: the site's name, the authority)."""
    if key not in WORDS:
        return i18n.t(key, lang, **values)
    text = WORDS[key].get(lang) or WORDS[key][i18n.DEFAULT_LANGUAGE]
    return text.format(**values) if values else text


def language(request: Request) -> str:
    return i18n.choose_language(request.headers.get("accept-language"), request.query_params.get("lang"))


def _render(template: str, lang: str, path: str, **context: Any) -> str:
    links = {code: f"{path}?lang={code}" for code in i18n.LANGUAGE_NAMES}
    return JINJA.get_template(template).render(
        lang=lang,
        t=lambda key, **values: word(key, lang, **values),
        languages=list(i18n.LANGUAGE_NAMES.items()),
        lang_links=links,
        **context,
    )


def _page(body: str, lang: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, "Content-Language": lang})


def front_page(lang: str, message: str | None = None, link: str = "", status: int = 200) -> HTMLResponse:
    return _page(_render("pages/front.html", lang, "/", message=message, link=link), lang, status)


def error_page(request: Request, status: int, detail: str | None = None) -> HTMLResponse:
    """A browser's error page, in its language, with a link home. `detail`: a 4xx's own explanation."""
    lang = language(request)
    title = word(f"error_{status}" if f"error_{status}" in WORDS else "error_other", lang)
    body = _render("pages/error.html", lang, request.url.path, status=status, title=title, detail=detail)
    return _page(body, lang, status)


def wants_html(request: Request) -> bool:
    """A browser's navigation: Accept prefers text/html over JSON. API clients (JSON, */*, nothing, or any path
    under /api/) keep the JSON errors."""
    if request.url.path.startswith("/api/"):
        return False
    html_q = json_q = 0.0
    for part in request.headers.get("accept", "")[:1024].split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media.lower() in ("text/html", "application/xhtml+xml"):
            html_q = max(html_q, q)
        elif media.lower() == "application/json" or media.lower().endswith("+json"):
            json_q = max(json_q, q)
    return html_q > 0 and html_q > json_q


@router.get("/")
def home(request: Request) -> Response:
    return front_page(language(request))


@router.post("/check")
async def check(request: Request, state: State) -> Response:
    """A stamp's link pasted, or a photo of its QR: a Tem stamp of this site goes on to its own URI."""
    lang = language(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return front_page(lang, word("check_too_large", lang), status=413)
    capped = Request(request.scope, _capped(request.receive, MAX_BODY_BYTES))  # a body sent without its length
    try:
        form = await capped.form(max_files=1, max_fields=4, max_part_size=MAX_LINK_CHARS * 2)
    except _TooLarge:
        return front_page(lang, word("check_too_large", lang), status=413)
    except (HTTPException, MultiPartException):
        return front_page(lang, word("check_empty", lang), status=400)
    link = form.get("link")
    text = link.strip()[:MAX_LINK_CHARS] if isinstance(link, str) else ""
    upload = form.get("photo")
    if not text and isinstance(upload, UploadFile):
        photo = await upload.read(MAX_PHOTO_BYTES + 1)
        await form.close()
        if photo:
            if len(photo) > MAX_PHOTO_BYTES:
                return front_page(lang, word("check_too_large", lang), status=413)
            found = await run_in_threadpool(decode_qr, photo)
            if found is None:
                return front_page(lang, word("check_not_image", lang), status=422)
            if not found:
                return front_page(lang, word("check_no_qr", lang), status=422)
            text = found[0]
    if not text:
        return front_page(lang, word("check_empty", lang), status=422)
    target = stamp_target(text, {str(request.base_url), state.settings.public_base_url})
    if isinstance(target, _OtherSite):
        return front_page(lang, word("check_other_site", lang, host=target.host), text, status=422)
    if target is None:
        return front_page(lang, word("check_not_stamp", lang), text, status=422)
    return RedirectResponse(target, status_code=303)


class _TooLarge(Exception):
    pass


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def capped() -> MutableMapping[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return capped


class _OtherSite:
    def __init__(self, host: str) -> None:
        self.host = host


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def stamp_target(text: str, our_bases: set[str]) -> str | _OtherSite | None:
    """The local path (with its query) of a Tem stamp URI on this site; `_OtherSite` for a well-formed stamp on
    another host; None for anything that is not a stamp URI. Only a path is ever redirected to, never a host
    taken from the link."""
    try:
        parse_stamp_uri(text)
    except StampFormatError:
        return None
    parts = urlsplit(text.strip())
    ours = {_origin(base) for base in our_bases} - {None}
    found = _origin(text)
    if found is None or (found not in ours and found[1:] not in {o[1:] for o in ours if o}):
        return _OtherSite(parts.hostname or "?")
    prefixes = [urlsplit(base).path.rstrip("/") for base in our_bases]
    path = parts.path
    if not any(path.startswith(prefix + "/01/") for prefix in prefixes):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def decode_qr(photo: bytes) -> list[str] | None:
    """The texts of the QR codes in a photo ([] when there is none); None when the bytes are not an image.
    The image is checked for its pixel count before it is decoded, and shrunk before the QR is looked for."""
    import zxingcpp  # noqa: PLC0415  # a C extension loaded on the first photo, not at every start-up

    try:
        with Image.open(io.BytesIO(photo)) as image:
            if image.format not in {"JPEG", "PNG", "WEBP", "GIF", "BMP"}:
                return None
            if image.width * image.height > MAX_PHOTO_PIXELS:
                return []
            image.draft("L", (DECODE_SIDE, DECODE_SIDE))
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    gray.thumbnail((DECODE_SIDE, DECODE_SIDE))
    found = zxingcpp.read_barcodes(gray)  # any code: what it says is checked as a stamp link either way
    return [code.text for code in found if code.text]
