"""The packing houses' portal under /portal: server-rendered pages and plain HTML forms.

Who may call: the packer role, with the session cookie that `/portal/login` starts from an API token (the same
cookie and session functions as the inspector app and the ministry). The forms work without JavaScript, so each
carries a token derived from the session id; the cookie is HttpOnly and SameSite=Strict, and a POST whose Origin
is another site is refused. Every POST but the login's takes `PortalPost` (or `PortalUpload`), the one dependency
that checks all three before the route runs. Errors of the services are shown on the page, never as JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
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
from issuer.activation_gates import GateRules
from issuer.dependencies import REGISTRY_WRITES, Keys
from issuer.models import DocumentKind, Stage
from issuer.provinces import BORDER_GATES
from portal import pages, service
from portal.phrases import choose_language, form_problems, service_message, t
from resolver import i18n
from resolver.i18n import format_number
from tem.core.bounds import DbId
from tem.core.errors import NotFound, TemError, Unauthorized


class _Refused(Exception):
    """A POST answered by `PortalPost` before its route runs: the login page, or the page that refuses it."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _PortalRoute(APIRoute):
    """Turns `_Refused`, raised by a dependency, into its page (the app's handlers would answer with JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except _Refused as refused:
                return refused.response

        return handle


router = APIRouter(prefix="/portal", include_in_schema=False, dependencies=REGISTRY_WRITES, route_class=_PortalRoute)

ObjectId = DbId
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

    def column(self, key: str) -> list[str]:
        """Every value of a name, blank ones too: one column of a table of rows, in the page's order."""
        return [value for k, value in self.pairs if k == key]


async def _form(request: Request) -> Form | None:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        return Form(parse_qsl(body.decode(), max_num_fields=MAX_FORM_FIELDS))
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Posted:
    """A POST made by the logged-in packer's own page: the packer, the form, and an uploaded file's name and
    bytes (one past the size limit at most) for `PortalUpload`."""

    actor: Principal
    form: Form
    file: tuple[str, bytes] | None = None


def _posted(*, upload: bool) -> Callable[[Request, State], Awaitable[Posted]]:
    async def check(request: Request, state: State) -> Posted:
        """Logged in as a packer (else the login page), from this site (else 403), with the form's CSRF token
        (else 403, and nothing changes)."""
        actor = _packer(request, state)
        if actor is None:
            raise _Refused(_to_login(request))
        lang = _lang(request)
        if not _same_site(request, state):
            raise _Refused(error_page(request, t("origin_failed", lang), 403))
        file = None
        if upload:
            read = await _upload(request)
            if read is None:
                raise _Refused(error_page(request, t("file_too_large", lang), 413))
            fields, name, data = read
            form: Form | None = Form(list(fields.items()))
            file = (name, data)
        else:
            form = await _form(request)
        expected = _csrf(request)
        sent = form.get("csrf", "").encode() if form is not None else b""  # bytes: any text compares, never raises
        if form is None or not expected or not hmac.compare_digest(sent, expected.encode()):
            raise _Refused(error_page(request, t("csrf_failed", lang), 403))
        return Posted(actor, form, file)

    return check


PortalPost = Annotated[Posted, Depends(_posted(upload=False))]
PortalUpload = Annotated[Posted, Depends(_posted(upload=True))]


def _message(exc: TemError, lang: str) -> str:
    if isinstance(exc, service.PortalInputError):
        return t(exc.key, lang, **exc.values)
    if isinstance(exc, service.FormInvalid):
        return form_problems(exc.problems, lang)
    if exc.code is not None:  # an error that knows its own words in vi, en and zh (the activation gates)
        return exc.localised(lang)
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
async def logout(post: PortalPost, request: Request, session: DbSession) -> Response:
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


MAX_PLACES = 20  # as `issuer.schemas.LotDestinations` allows


def _place_rows(form: Form) -> list[service.PlaceRow]:
    columns = [form.column(f"place_{name}") for name in ("name", "country", "lat", "lon")]
    count = max(len(column) for column in columns)
    return [service.PlaceRow(*(c[i] if i < len(c) else "" for c in columns)) for i in range(count)]


def _lot_page(
    request: Request,
    session: Session,
    actor: Principal,
    lot_id: int,
    *,
    destinations: Form | None = None,
    stage: Form | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The lot's page; after a refused form, that form shows what was typed (`destinations` or `stage`)."""
    lang = _lang(request)
    try:
        lot = issuer.get_lot(session, actor, lot_id)
    except NotFound:
        return error_page(request, t("not_found", lang), 404)
    if destinations is None:
        markets = ", ".join(lot.destination_markets)
        gates = list(lot.border_gates)
        rows = [service.PlaceRow(p.name, p.country, str(p.lat), str(p.lon)) for p in lot.destination_places]
    else:
        markets = destinations.get("destination_markets")
        gates = destinations.getlist("border_gates")
        rows = [row for row in _place_rows(destinations) if not row.blank]
    if len(rows) < MAX_PLACES:
        rows.append(service.PlaceRow("", lot.destination_markets[0] if lot.destination_markets else "", "", ""))
    stage_names = {s.value: i18n.t(f"stage_{s.value}", lang) for s in Stage}
    saved = request.query_params.get("saved", "")
    notices = {"destinations": "destinations_saved", "stage": "stage_saved"}
    body = pages.render(
        "portal/lot.html",
        lang,
        f"/portal/lots/{lot_id}",
        _csrf(request),
        actor=actor,
        lot=lot,
        activations=[a for a in issuer.list_activations(session, actor) if a.lot == lot.code],
        alerts=service.own_alerts(session, actor, lot_id),
        files=service.lot_files(session, actor, lot_id),
        kinds=[k.value for k in DocumentKind],
        gates=BORDER_GATES,
        markets=markets,
        chosen_gates=gates,
        place_rows=rows,
        stage_names=stage_names,
        stage_times=[i18n.format_time(s.occurred_at, lang, s.country) for s in lot.stages],
        zones=service.ZONES,
        stage_form=stage or Form([]),
        notice=t(notices[saved], lang) if saved in notices else None,
        error=error,
    )
    return html(body, status)


@router.get("/lots/{lot_id:int}")
def lot_page(lot_id: ObjectId, request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    return _lot_page(request, session, actor, lot_id)


@router.post("/lots/{lot_id:int}/destinations")
async def set_destinations(lot_id: ObjectId, post: PortalPost, request: Request, session: DbSession) -> Response:
    actor, form = post.actor, post.form
    try:
        await run_in_threadpool(
            service.set_destinations,
            session,
            actor,
            lot_id,
            form.get("destination_markets"),
            form.getlist("border_gates"),
            _place_rows(form)[: MAX_PLACES + 1],
        )
    except TemError as exc:
        session.rollback()
        message = _message(exc, _lang(request))
        return _lot_page(request, session, actor, lot_id, destinations=form, error=message, status=exc.status_code)
    return RedirectResponse(f"/portal/lots/{lot_id}?lang={_lang(request)}&saved=destinations", status_code=303)


@router.post("/lots/{lot_id:int}/stages")
async def record_stage(lot_id: ObjectId, post: PortalPost, request: Request, session: DbSession) -> Response:
    actor, form = post.actor, post.form
    try:
        await run_in_threadpool(
            service.record_stage,
            session,
            actor,
            lot_id,
            form.get("stage"),
            form.get("occurred_at"),
            form.get("zone"),
            form.get("place"),
            form.get("country"),
            form.get("note"),
            form.get("consignee"),
        )
    except TemError as exc:
        session.rollback()
        message = _message(exc, _lang(request))
        return _lot_page(request, session, actor, lot_id, stage=form, error=message, status=exc.status_code)
    return RedirectResponse(f"/portal/lots/{lot_id}?lang={_lang(request)}&saved=stage", status_code=303)


# Products: what a packing house registers before its first lot and its first roll


def _products(
    request: Request,
    session: Session,
    actor: Principal,
    *,
    form: Form | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = _lang(request)
    body = pages.render(
        "portal/products.html",
        lang,
        "/portal/products",
        _csrf(request),
        actor=actor,
        products=issuer.list_products(session, actor),
        form=form or Form([]),
        notice=t("product_saved", lang) if request.query_params.get("saved") else None,
        error=error,
    )
    return html(body, status)


@router.get("/products")
def products(request: Request, state: State, session: DbSession) -> Response:
    actor = _packer(request, state)
    if actor is None:
        return _to_login(request)
    return _products(request, session, actor)


@router.post("/products")
async def register_product(post: PortalPost, request: Request, session: DbSession) -> Response:
    actor, form = post.actor, post.form
    product_form = service.ProductForm(
        gtin=form.get("gtin"),
        name_vi=form.get("name_vi"),
        name_en=form.get("name_en"),
        name_zh=form.get("name_zh"),
        variety=form.get("variety"),
        shelf_life_days=form.get("shelf_life_days"),
    )
    try:
        await run_in_threadpool(service.register_product, session, actor, product_form)
    except TemError as exc:
        session.rollback()
        message = _message(exc, _lang(request))
        return _products(request, session, actor, form=form, error=message, status=exc.status_code)
    return RedirectResponse(f"/portal/products?lang={_lang(request)}&saved=1", status_code=303)


@router.post("/orders")
async def create_order(post: PortalPost, request: Request, state: State, session: DbSession, keys: Keys) -> Response:
    actor, form = post.actor, post.form
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
async def activation_preview(post: PortalPost, request: Request, state: State, session: DbSession) -> Response:
    actor, form = post.actor, post.form
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
async def activation_confirm(post: PortalPost, request: Request, state: State, session: DbSession) -> Response:
    actor, form = post.actor, post.form
    lang = _lang(request)
    try:
        preview = service.preview_activation(
            session, actor, form.get("first", ""), form.get("last", ""), form.get("lot", "")
        )
        rules = GateRules.from_settings(state.settings)
        activation = await run_in_threadpool(service.activate, session, actor, preview, rules)
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
async def create_growing_area(post: PortalPost, request: Request, state: State, session: DbSession) -> Response:
    actor, form = post.actor, post.form
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
async def create_household(post: PortalPost, request: Request, state: State, session: DbSession) -> Response:
    actor, form = post.actor, post.form
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
async def create_lot(post: PortalPost, request: Request, state: State, session: DbSession) -> Response:
    actor, form = post.actor, post.form
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
async def revoke(post: PortalPost, request: Request, state: State, session: DbSession) -> Response:
    actor, form = post.actor, post.form
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
async def attach_file(lot_id: ObjectId, post: PortalUpload, request: Request, session: DbSession) -> Response:
    lang = _lang(request)
    name, data = post.file or ("", b"")
    try:
        await run_in_threadpool(service.attach_file, session, post.actor, lot_id, post.form.get("kind", ""), name, data)
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
