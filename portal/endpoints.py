"""The packing houses' portal under /portal: server-rendered pages and plain HTML forms.

Who may call: the packer role, with the session cookie that `/portal/login` starts from an API token (the same
cookie and session functions as the inspector app and the ministry). The forms work without JavaScript, so each
carries a token derived from the session id (`_check_csrf`); the cookie is HttpOnly and SameSite=Strict, and a
POST whose Origin is another site is refused. Errors of the services are shown on the page, never as JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Receive

from detection.engine.model import Role
from detection.ports import RANGE_CATEGORIES
from identity import service as identity
from identity.dependencies import SESSION_COOKIE, Credentials, DbSession, State, identify
from identity.principal import Principal
from issuer import printing_service
from issuer import service as issuer
from issuer.dependencies import REGISTRY_WRITES, Keys
from issuer.models import DocumentKind
from issuer.provinces import BORDER_GATES
from portal import pages, service
from portal.phrases import choose_language, service_message, t
from resolver.i18n import format_number
from tem.core.errors import NotFound, TemError, Unauthorized

router = APIRouter(prefix="/portal", include_in_schema=False, dependencies=REGISTRY_WRITES)

ObjectId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
MAX_FORM_BYTES = 65_536
MAX_FORM_FIELDS = 2100  # a lot may name up to 2,000 farmer households
STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {"portal.css": "text/css; charset=utf-8", "portal.js": "text/javascript; charset=utf-8"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on a form POST.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def csrf_token(session_id: str) -> str:
    """Unforgeable without the HttpOnly session cookie, which a cross-site page cannot read."""
    return hashlib.sha256(b"tem-portal-csrf:" + session_id.encode()).hexdigest()


def _lang(request: Request) -> str:
    return choose_language(request.query_params.get("lang"))


def _csrf(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    return csrf_token(cookie) if cookie else ""


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def error_page(request: Request, message: str, status: int) -> HTMLResponse:
    lang = _lang(request)
    return html(pages.render("portal/error.html", lang, "/portal", _csrf(request), message=message), status)


def _packer(request: Request, state: State) -> Principal | None:
    """The logged-in packer, or None (log in). Another role's session is no login here."""
    try:
        principal = identify(request, state, None, csrf_header=False)
    except Unauthorized:
        return None
    if principal is None or principal.role is not Role.PACKER:
        return None
    return principal


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"/portal/login?lang={_lang(request)}", status_code=303)


def _same_site(request: Request, state: State) -> bool:
    """A missing Origin is accepted (the CSRF token decides); a present one must be this site's."""
    origin = request.headers.get("origin")
    return origin is None or origin in {str(request.base_url).rstrip("/"), state.settings.public_base_url.rstrip("/")}


class Form:
    """A posted form: one value a name (`get`), or every value of a name (`getlist`: ticked boxes)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.first: dict[str, str] = {}
        for key, value in pairs:
            self.first.setdefault(key, value)

    def get(self, key: str, default: str = "") -> str:
        return self.first.get(key, default)

    def getlist(self, key: str) -> list[str]:
        return [value for k, value in self.pairs if k == key and value]


async def _form(request: Request) -> Form | None:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        return Form(parse_qsl(body.decode(), max_num_fields=MAX_FORM_FIELDS))
    except (UnicodeDecodeError, ValueError):
        return None


async def _checked_form(request: Request, state: State) -> Form | HTMLResponse:
    """The form of a POST made by the logged-in packer's own page, or the 403 page that refuses it."""
    lang = _lang(request)
    if not _same_site(request, state):
        return error_page(request, t("origin_failed", lang), 403)
    form = await _form(request)
    expected = _csrf(request)
    if form is None or not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
        return error_page(request, t("csrf_failed", lang), 403)
    return form


def _message(exc: TemError, lang: str) -> str:
    if isinstance(exc, service.PortalInputError):
        return t(exc.key, lang, **exc.values)
    return service_message(exc.message, lang)


# Static files: the stylesheet and the one script (the CSP allows no inline code)


@router.get("/static/{name}")
def static(name: Annotated[str, PathParam(max_length=40)]) -> Response:
    content_type = STATIC_TYPES.get(name)
    if content_type is None:  # only the files named above: no path from the request is ever opened
        return Response("not found", status_code=404, media_type="text/plain")
    body = (STATIC / name).read_bytes()
    return Response(
        body, media_type=content_type, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    )


# Login


@router.get("/login")
def login_form(request: Request) -> Response:
    return html(pages.render("portal/login.html", _lang(request), "/portal/login"))


@router.post("/login")
async def login(request: Request, state: State, session: DbSession) -> Response:
    lang = _lang(request)
    if not _same_site(request, state):
        return error_page(request, t("origin_failed", lang), 403)
    form = await _form(request) or Form([])
    token = form.get("token", "").strip()
    principal = await run_in_threadpool(identity.authenticate, session, token) if token else None
    if principal is None:
        return html(pages.render("portal/login.html", lang, "/portal/login", error=t("login_failed", lang)), 401)
    if principal.role is not Role.PACKER:
        return html(pages.render("portal/login.html", lang, "/portal/login", error=t("login_not_packer", lang)), 403)
    hours = state.settings.inspect_session_hours
    session_id, expires_at = await run_in_threadpool(identity.start_session, session, principal, hours)
    response = RedirectResponse(f"/portal?lang={lang}", status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int((expires_at - dt.datetime.now(dt.UTC)).total_seconds()),
        path="/",
        httponly=True,
        secure=request.url.scheme == "https" or state.settings.public_base_url.lower().startswith("https://"),
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, state: State, session: DbSession) -> Response:
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    identity.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"/portal/login?lang={_lang(request)}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# The home page: lots, orders, the order and activation forms


def _home(
    request: Request,
    state: State,
    session: Session,
    actor: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = _lang(request)
    body = pages.render(
        "portal/home.html",
        lang,
        "/portal",
        _csrf(request),
        actor=actor,
        lots=issuer.list_lots(session, actor),
        orders=sorted(issuer.list_orders(session, actor), key=lambda o: o.id, reverse=True),
        products=issuer.list_products(session, actor),
        templates=service.template_names(state.settings),
        categories=[c.value for c in RANGE_CATEGORIES],
        notice=notice,
        error=error,
    )
    return html(body, status)


@router.get("")
@router.get("/")
def home(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    notice = None
    if (done := request.query_params.get("ordered", "")).isdigit():
        order = next((o for o in issuer.list_orders(session, actor) if o.id == int(done)), None)
        if order is not None:
            notice = t("order_done", _lang(request), id=order.id, n=format_number(order.quantity, _lang(request)))
    return _home(request, state, session, actor, notice=notice)


@router.get("/lots/{lot_id:int}")
def lot_page(lot_id: ObjectId, request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    lang = _lang(request)
    try:
        lot = issuer.get_lot(session, actor, lot_id)
    except NotFound:
        return error_page(request, t("not_found", lang), 404)
    activations = [a for a in issuer.list_activations(session, actor) if a.lot == lot.code]
    body = pages.render(
        "portal/lot.html",
        lang,
        f"/portal/lots/{lot_id}",
        _csrf(request),
        actor=actor,
        lot=lot,
        activations=activations,
        alerts=service.own_alerts(session, actor, lot_id),
        files=service.lot_files(session, actor, lot_id),
        kinds=[k.value for k in DocumentKind],
    )
    return html(body)


@router.post("/orders")
async def create_order(request: Request, state: State, session: DbSession, keys: Keys) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    try:
        order = await run_in_threadpool(
            service.place_order,
            session,
            keys,
            actor,
            form.get("gtin", ""),
            form.get("quantity", ""),
            form.get("template", ""),
        )
    except TemError as exc:
        session.rollback()
        return _home(request, state, session, actor, error=_message(exc, _lang(request)), status=exc.status_code)
    return RedirectResponse(f"/portal?lang={_lang(request)}&ordered={order.id}", status_code=303)


def _download(request: Request, state: State, session: Session, keys: issuer.Keys, order_id: int, fmt: str) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    try:
        download = printing_service.prepare_print(
            session, keys, actor, order_id, None, "pdf" if fmt == "pdf" else "zpl"
        )
    except TemError as exc:
        return error_page(request, _message(exc, _lang(request)), exc.status_code)
    session.commit()  # the download is in the audit log before the first byte streams
    return StreamingResponse(
        download.chunks(),
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"', "Cache-Control": "no-store"},
    )


@router.get("/orders/{order_id}/print.pdf")
def print_pdf(order_id: ObjectId, request: Request, state: State, session: DbSession, keys: Keys) -> Response:
    return _download(request, state, session, keys, order_id, "pdf")


@router.get("/orders/{order_id}/print.zpl")
def print_zpl(order_id: ObjectId, request: Request, state: State, session: DbSession, keys: Keys) -> Response:
    return _download(request, state, session, keys, order_id, "zpl")


@router.get("/orders/{order_id}/stamps.csv")
def stamps_csv(order_id: ObjectId, request: Request, state: State, session: DbSession, keys: Keys) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    try:
        stamps = issuer.order_stamps(session, keys, actor, order_id)
    except TemError as exc:
        return error_page(request, _message(exc, _lang(request)), exc.status_code)
    session.commit()
    base = state.settings.public_base_url

    def lines() -> Iterator[bytes]:
        for uri in stamps.uris(base):
            yield (uri + "\n").encode()

    filename = f"tem-order-{order_id}-{stamps.first_serial}-{stamps.last_serial}.csv"
    return StreamingResponse(
        lines(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# Activation: scan the first and last stamps, see what that means, confirm


@router.post("/activations/preview")
async def activation_preview(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    lang = _lang(request)
    try:
        preview = service.preview_activation(
            session, actor, form.get("first", ""), form.get("last", ""), form.get("lot", "")
        )
    except TemError as exc:
        return _home(request, state, session, actor, error=_message(exc, lang), status=exc.status_code)
    body = pages.render("portal/preview.html", lang, "/portal", _csrf(request), actor=actor, preview=preview)
    return html(body)


@router.post("/activations")
async def activation_confirm(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    lang = _lang(request)
    try:
        preview = service.preview_activation(
            session, actor, form.get("first", ""), form.get("last", ""), form.get("lot", "")
        )
        activation = await run_in_threadpool(service.activate, session, actor, preview)
    except TemError as exc:
        session.rollback()
        return _home(request, state, session, actor, error=_message(exc, lang), status=exc.status_code)
    body = pages.render(
        "portal/activated.html", lang, "/portal", _csrf(request), actor=actor, activation=activation, preview=preview
    )
    return html(body, 201)


# Growing areas and farmer households


def _farms(
    request: Request, state: State, session: Session, actor: Principal, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    lang = _lang(request)
    body = pages.render(
        "portal/farms.html",
        lang,
        "/portal/farms",
        _csrf(request),
        actor=actor,
        areas=issuer.list_growing_areas(session, actor),
        households=issuer.list_households(session, actor),
        notice=t("saved", lang) if request.query_params.get("saved") else None,
        error=error,
    )
    return html(body, status)


@router.get("/farms")
def farms(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    return _farms(request, state, session, actor)


@router.post("/growing-areas")
async def create_growing_area(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    try:
        await run_in_threadpool(
            service.register_growing_area,
            session,
            state.settings,
            actor,
            form.get("code"),
            form.get("province"),
            form.get("variety"),
        )
    except TemError as exc:
        session.rollback()
        return _farms(request, state, session, actor, error=_message(exc, _lang(request)), status=exc.status_code)
    return RedirectResponse(f"/portal/farms?lang={_lang(request)}&saved=1", status_code=303)


@router.post("/households")
async def create_household(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    try:
        await run_in_threadpool(service.register_household, session, actor, form.get("name"), form.get("growing_area"))
    except TemError as exc:
        session.rollback()
        return _farms(request, state, session, actor, error=_message(exc, _lang(request)), status=exc.status_code)
    return RedirectResponse(f"/portal/farms?lang={_lang(request)}&saved=1", status_code=303)


# A new lot


def _new_lot(
    request: Request,
    session: Session,
    actor: Principal,
    *,
    form: Form | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    body = pages.render(
        "portal/new_lot.html",
        _lang(request),
        "/portal/lots/new",
        _csrf(request),
        actor=actor,
        products=issuer.list_products(session, actor),
        areas=issuer.list_growing_areas(session, actor),
        households=issuer.list_households(session, actor),
        gates=BORDER_GATES,
        form=form or Form([]),
        error=error,
    )
    return html(body, status)


@router.get("/lots/new")
def new_lot(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    return _new_lot(request, session, actor)


@router.post("/lots")
async def create_lot(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    lot_form = service.LotForm(
        code=form.get("code"),
        gtin=form.get("gtin"),
        harvest_dates=form.get("harvest_dates"),
        packing_date=form.get("packing_date"),
        destination_markets=form.get("destination_markets"),
        border_gates=form.getlist("border_gates"),
        growing_areas=form.getlist("growing_areas"),
        households=form.getlist("households"),
    )
    try:
        lot = await run_in_threadpool(service.create_lot, session, actor, lot_form)
    except TemError as exc:
        session.rollback()
        return _new_lot(request, session, actor, form=form, error=_message(exc, _lang(request)), status=exc.status_code)
    return RedirectResponse(f"/portal/lots/{lot.id}?lang={_lang(request)}", status_code=303)


# Revoking a range of the packer's own stamps


@router.post("/revocations")
async def revoke(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    form = await _checked_form(request, state)
    if isinstance(form, HTMLResponse):
        return form
    lang = _lang(request)
    try:
        done = await run_in_threadpool(
            service.revoke_range,
            session,
            actor,
            form.get("gtin"),
            form.get("first"),
            form.get("last"),
            form.get("category"),
            form.get("note"),
        )
    except TemError as exc:
        session.rollback()
        return _home(request, state, session, actor, error=_message(exc, lang), status=exc.status_code)
    count = sum(r.last_serial - r.first_serial + 1 for r in done)
    notice = t("revoked", lang, n=format_number(count, lang))
    return _home(request, state, session, actor, notice=notice, status=201)


# Alerts on the packer's own stamps and lots


@router.get("/alerts")
def alert_list(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    body = pages.render(
        "portal/alerts.html",
        _lang(request),
        "/portal/alerts",
        _csrf(request),
        actor=actor,
        alerts=service.own_alerts(session, actor),
    )
    return html(body)


# Lot documents as files: uploaded by the packing house, read back by it and by the ministry

MAX_UPLOAD_BYTES = service.MAX_FILE_BYTES + 64 * 1024


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


async def _upload(request: Request) -> tuple[dict[str, str], str, bytes] | None:
    """The form's text fields, the file's name and its bytes (one past the limit at most); None if unreadable or
    too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        return None
    capped = Request(request.scope, _capped(request.receive, MAX_UPLOAD_BYTES))
    try:
        form = await capped.form(max_files=1, max_fields=8, max_part_size=4096)
    except (_TooLarge, HTTPException, MultiPartException):
        return None
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        upload = form.get("file")
        name, data = "", b""
        if isinstance(upload, UploadFile):
            name = upload.filename or ""
            data = await upload.read(service.MAX_FILE_BYTES + 1)
    finally:
        await form.close()
    return fields, name, data


@router.post("/lots/{lot_id:int}/files")
async def attach_file(lot_id: ObjectId, request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    lang = _lang(request)
    if not _same_site(request, state):
        return error_page(request, t("origin_failed", lang), 403)
    read = await _upload(request)
    if read is None:
        return error_page(request, t("file_too_large", lang), 413)
    fields, name, data = read
    expected = _csrf(request)
    if not expected or not hmac.compare_digest(fields.get("csrf", ""), expected):
        return error_page(request, t("csrf_failed", lang), 403)
    try:
        await run_in_threadpool(service.attach_file, session, actor, lot_id, fields.get("kind", ""), name, data)
    except TemError as exc:
        session.rollback()
        return error_page(request, _message(exc, lang), exc.status_code)
    return RedirectResponse(f"/portal/lots/{lot_id}?lang={lang}", status_code=303)


@router.get("/files/{file_id:int}")
def download_file(
    file_id: ObjectId, request: Request, state: State, session: DbSession, credentials: Credentials
) -> Response:
    """For the packing house that uploaded it (its session) and for the ministry (a token or its session)."""
    try:
        actor = identify(request, state, credentials, csrf_header=False)
    except Unauthorized:
        actor = None
    if actor is None:
        return _to_login(request)
    try:
        row = service.read_file(session, actor, file_id)
    except TemError as exc:
        return error_page(request, _message(exc, _lang(request)), exc.status_code)
    return Response(
        row.data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{row.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Tem-SHA256": row.sha256,
        },
    )
