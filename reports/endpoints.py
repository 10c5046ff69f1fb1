"""The "Report a fake" form's routes (public: the form's POST, the page that thanks, the form's script) and the
ministry's reading of reports and their photos (the ministry only: a photo is never public).

A public form is open to forgery from other sites, so a report must come from this site's page: its form token
(`resolver.report_form`) is bound to the device cookie, which browsers never send with another site's POST, and
the Origin (or, without it, the Referer) must be this site's. The consumer pages send `Referrer-Policy:
same-origin`; a page under `no-referrer` (an older cached copy) makes Chromium send `Origin: null` with a
form's POST: that is taken, the token decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from alerts.dependencies import Alerts
from crypto import GtinError, normalize_gtin
from identity.dependencies import DbSession, Ministry, State
from reports import service
from reports.schemas import ReportRead
from resolver.i18n import choose_language, t
from resolver.location import peer_of
from resolver.pages import render
from resolver.report_form import MAX_PHOTO_BYTES
from resolver.runtime import Runtime
from resolver.scanning import DEVICE_COOKIE, read_cookie
from tem.core.bounds import DbId
from tem.core.errors import InvalidInput

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/reports", tags=["reports"])

SCRIPT = Path(__file__).resolve().parent / "static" / "form.js"
#: The photo and the form's few short fields; a body larger than this is refused while it arrives.
MAX_BODY_BYTES = MAX_PHOTO_BYTES + 64 * 1024
MAX_FIELD_BYTES = 4096
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The page's styles are inline and its one script is /reports/form.js.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class _TooLarge(Exception):
    pass


# The form


@router.post("/reports")
async def submit(request: Request, state: State, runtime: Runtime, alerts: Alerts, session: DbSession) -> Response:
    lang = choose_language(request.headers.get("accept-language"), request.query_params.get("lang"))
    try:
        if not _from_our_page(request, state.settings.public_base_url):
            raise service.Refused(403, "report_expired")
        fields, photo = await _read_form(request)
        lang = choose_language(request.headers.get("accept-language"), fields.get("lang"))
        peer = peer_of(request.scope)
        ip = runtime.scans.client_ip(request.headers, peer)
        place = runtime.resolver.locator.locate(request.headers, ip, peer)
        posted = service.Posted(
            fields=fields,
            photo=photo,
            device=read_cookie(request.headers, DEVICE_COOKIE),
            network=runtime.scans.network(ip),
            country=place.country if place is not None else None,
        )
        limits = service.Limits.from_settings(state.settings)
        await service.submit(session, runtime, alerts, limits, posted, lang)
    except service.Refused as refused:
        return _refused_page(refused, lang)
    # Post/redirect/get: reloading the thank-you page does not send the report again.
    return RedirectResponse(f"/reports/sent?lang={lang}", status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/reports/sent")
def sent(request: Request, lang: Annotated[str | None, Query(max_length=5)] = None) -> Response:
    language = choose_language(request.headers.get("accept-language"), lang)
    body = render("pages/report.html", language, "/reports/sent", [], sent=True, title="report_sent_title")
    return HTMLResponse(body, headers={**PAGE_HEADERS, "Content-Language": language})


@router.get("/reports/form.js")
def form_script() -> Response:
    return Response(
        _script(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@cache
def _script() -> bytes:
    """Read once, on the first request (not at import)."""
    return SCRIPT.read_bytes()


def _refused_page(refused: service.Refused, lang: str) -> Response:
    body = render(
        "pages/report.html",
        lang,
        "/reports",
        [],
        sent=False,
        title="report_not_sent_title",
        message=t(refused.key, lang, **refused.values),
        report=refused.form,
    )
    headers = {**PAGE_HEADERS, "Content-Language": lang}
    if refused.retry_after is not None:
        headers["Retry-After"] = str(refused.retry_after)
    return HTMLResponse(body, status_code=refused.status_code, headers=headers)


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _from_our_page(request: Request, public_base_url: str) -> bool:
    """The browser says the form was on this site's page; `Origin: null` (no-referrer) and no header at all
    are left to the form token."""
    ours = {_origin(public_base_url), _origin(str(request.base_url))} - {None}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == "null" or _origin(origin) in ours
    referer = request.headers.get("referer")
    return referer is None or _origin(referer) in ours


async def _read_form(request: Request) -> tuple[dict[str, str], bytes | None]:
    """The form's text fields and the photo's bytes, reading no more than `MAX_BODY_BYTES` of the body."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise service.Refused(413, "report_too_large")
    capped = Request(request.scope, _capped(request.receive, MAX_BODY_BYTES))
    try:
        form = await capped.form(max_files=1, max_fields=16, max_part_size=MAX_FIELD_BYTES)
    except _TooLarge:
        raise service.Refused(413, "report_too_large") from None
    except (HTTPException, MultiPartException):
        raise service.Refused(400, "report_unreadable_form") from None
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        upload = form.get("photo")
        photo = None
        if isinstance(upload, UploadFile):  # an empty file field is a part with no name and no bytes
            # One byte past the limit is enough for the service to refuse it, with the form shown again.
            photo = await upload.read(MAX_PHOTO_BYTES + 1) or None
    finally:
        await form.close()
    return fields, photo


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


# The ministry's


@api.get("", response_model=list[ReportRead], summary="Consumers' reports of a fake (ministry)")
def list_reports(
    session: DbSession,
    _actor: Ministry,
    alert_id: Annotated[DbId | None, Query(description="The reports behind one alert")] = None,
    gtin: Annotated[str | None, Query(max_length=14)] = None,
    serial: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,19}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> object:
    if gtin is not None:
        try:
            gtin = normalize_gtin(gtin)
        except GtinError as exc:
            raise InvalidInput(str(exc), field="gtin") from None
    return service.list_reports(session, alert_id, gtin, serial, limit, offset)


ReportId = DbId


@api.get("/{report_id}", response_model=ReportRead, summary="One consumer report (ministry)")
def get_report(report_id: ReportId, session: DbSession, _actor: Ministry) -> object:
    return service.get_report(session, report_id)


@api.get(
    "/{report_id}/photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A consumer report's photo, re-encoded without metadata (ministry)",
)
def report_photo(report_id: ReportId, session: DbSession, _actor: Ministry) -> Response:
    return Response(
        service.photo(session, report_id),
        media_type="image/jpeg",
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": f'inline; filename="report-{report_id}.jpg"',
        },
    )
