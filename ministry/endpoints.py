"""The ministry's dashboard, alert pages, workflow forms and exports, under /ministry.

Who may call: the ministry role, with an API token (scripts) or the session cookie that the inspector
app's login also uses (browsers; `/ministry/login` exchanges a token for it). The HTML forms work without
JavaScript, so instead of the inspector app's CSRF header they carry a token derived from the session id,
and the cookie is SameSite=Strict. A province officer (the `province` role) may log in too, and sees the dashboard
and the alert pages of its own province's packing houses only; the exports and the administration pages stay the
ministry's.

The login form itself is guarded before there is a session: its token is an HMAC, under the instance secret,
of a random pre-login cookie (SameSite=Strict, HttpOnly), and the browser's Fetch Metadata must say the POST
came from this site (`Sec-Fetch-Site: same-origin`, or no such header from an older client). The pages send
`Referrer-Policy: same-origin`, so Chromium sends this site's Origin with the form rather than `null`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from alerts import schemas as alert_schemas
from alerts import service as alerts
from alerts.models import AlertScope
from alerts.schemas import AlertDetail
from detection.engine.model import Role
from identity import service as identity
from identity.dependencies import SESSION_COOKIE, Credentials, DbSession, State, identify
from identity.principal import Principal
from ministry import pages, pdf, repository, service
from ministry.phrases import choose_language, label, t
from reports import service as consumer_reports
from reports.schemas import ReportRead
from resolver.runtime import ResolverRuntime, Runtime
from tem.core.bounds import DbId
from tem.core.errors import Forbidden, InvalidInput, NotFound, TemError, Unauthorized
from tem.core.instance import instance_secret
from tem.core.settings import Settings

router = APIRouter(prefix="/ministry", include_in_schema=False)

AlertId = DbId
MAX_FORM_BYTES = 8192
LOGIN_COOKIE = "tem_login"  # the pre-login cookie that the login form's token is bound to
LOGIN_COOKIE_SECONDS = 3600
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def csrf_token(session_id: str) -> str:
    """Unforgeable without the HttpOnly session cookie, which a cross-site page cannot read."""
    return hashlib.sha256(b"tem-ministry-csrf:" + session_id.encode()).hexdigest()


def _browser_principal(request: Request, state: State, credentials: Credentials) -> Principal | None:
    """The caller, or None when there is no token and no live session (a page then sends them to log in). Forms
    carry the session's own CSRF token (`_check_csrf`), so no header is asked of the browser."""
    try:
        principal = identify(request, state, credentials, csrf_header=False)
    except Unauthorized:
        if credentials is not None:
            raise
        return None  # the session expired or ended: log in again
    return principal


def _browser_caller(principal: Annotated[Principal | None, Depends(_browser_principal)]) -> Principal | None:
    if principal is not None and principal.role is not Role.MINISTRY:
        raise Forbidden("these pages are for the ministry")
    return principal


def _officer_or_login(principal: Annotated[Principal | None, Depends(_browser_principal)]) -> Principal | None:
    """The ministry, or a province officer: the alert service limits the latter to its own province."""
    if principal is not None and principal.role not in OFFICER_ROLES:
        raise Forbidden("these pages are for the ministry and the provinces' officers")
    return principal


def _caller(principal: Annotated[Principal | None, Depends(_browser_caller)]) -> Principal:
    if principal is None:
        raise Unauthorized("log in at /ministry/login, or send 'Authorization: Bearer <token>'")
    return principal


def _officer(principal: Annotated[Principal | None, Depends(_officer_or_login)]) -> Principal:
    if principal is None:
        raise Unauthorized("log in at /ministry/login, or send 'Authorization: Bearer <token>'")
    return principal


OFFICER_ROLES = frozenset({Role.MINISTRY, Role.PROVINCE})
Ministry = Annotated[Principal, Depends(_caller)]
MinistryOrLogin = Annotated[Principal | None, Depends(_browser_caller)]
#: The dashboard, the alert pages and their workflow forms: the ministry, or a province officer for its province.
Officer = Annotated[Principal, Depends(_officer)]
OfficerOrLogin = Annotated[Principal | None, Depends(_officer_or_login)]


def _lang(request: Request) -> str:
    return choose_language(request.query_params.get("lang"))


def _csrf(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    return csrf_token(cookie) if cookie else ""


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("the form is too large")
    try:
        return dict(parse_qsl(body.decode(), max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form could not be read") from None


def _bearer(request: Request) -> bool:
    """Whether the request is authenticated by a Bearer token, as `identify` reads it (FastAPI's `HTTPBearer`): any
    other Authorization header (Basic, a bare word, "Bearer" with no token) is ignored there, so the session
    cookie authenticates and the form's token is required."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _check_csrf(request: Request, form: dict[str, str]) -> None:
    """Bearer callers need none (a bad token is refused before this); whenever the session cookie is what
    authenticates, the form must carry that session's own token."""
    if _bearer(request):
        return
    expected = _csrf(request)
    if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
        raise Forbidden("the form has expired; reload the page and try again")


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"/ministry/login?lang={_lang(request)}", status_code=303)


# Login


def _login_token(settings: Settings, nonce: str) -> str:
    """The login form's token: unforgeable without the instance secret and the HttpOnly pre-login cookie."""
    return hmac.new(instance_secret(settings), b"tem-ministry-login:" + nonce.encode(), hashlib.sha256).hexdigest()


def _login_html(request: Request, state: State, lang: str, error: str | None = None, status: int = 200) -> Response:
    """The login page, with a token bound to the pre-login cookie (set here when the browser has none)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    fresh = not (16 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum())
    if fresh:
        nonce = secrets.token_urlsafe(32)
    response = html(pages.login_page(lang, error, _login_token(state.settings, nonce)), status)
    if fresh:
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=LOGIN_COOKIE_SECONDS,
            path="/ministry/login",
            httponly=True,
            secure=_secure(request, state),
            samesite="strict",
        )
    return response


def _secure(request: Request, state: State) -> bool:
    return request.url.scheme == "https" or state.settings.public_base_url.lower().startswith("https://")


def _login_from_our_page(request: Request, state: State, form: dict[str, str]) -> bool:
    """Fetch Metadata first (a browser says where the POST came from), then the form's token."""
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return False
    origin = request.headers.get("origin")
    ours = {str(request.base_url).rstrip("/"), state.settings.public_base_url.rstrip("/"), "null"}
    if origin is not None and origin not in ours:
        return False
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = _login_token(state.settings, nonce) if nonce else ""
    return bool(expected) and hmac.compare_digest(form.get("csrf", ""), expected)


@router.get("/login")
def login_form(request: Request, state: State) -> Response:
    return _login_html(request, state, _lang(request))


@router.post("/login")
async def login(request: Request, state: State, session: DbSession) -> Response:
    lang = _lang(request)
    form = await _form(request)
    if not _login_from_our_page(request, state, form):
        return _login_html(request, state, lang, t("login_not_our_page", lang), 403)
    token = form.get("token", "").strip()
    principal = await run_in_threadpool(identity.authenticate, session, token) if token else None
    if principal is None:
        return _login_html(request, state, lang, t("login_failed", lang), 401)
    if principal.role not in OFFICER_ROLES:
        return _login_html(request, state, lang, t("login_not_ministry", lang), 403)
    hours = state.settings.inspect_session_hours
    session_id, expires_at = await run_in_threadpool(identity.start_session, session, principal, hours)
    response = RedirectResponse(f"/ministry?lang={lang}", status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int((expires_at - dt.datetime.now(dt.UTC)).total_seconds()),
        path="/",
        httponly=True,
        secure=_secure(request, state),
        samesite="strict",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ministry/login", httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request, session: DbSession, _actor: Officer) -> Response:
    _check_csrf(request, await _form(request))
    identity.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"/ministry/login?lang={_lang(request)}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# Pages


@router.get("")
@router.get("/")
def dashboard(request: Request, session: DbSession, actor: OfficerOrLogin) -> Response:
    if actor is None:
        return _to_login(request)
    params = request.query_params.multi_items()
    return html(pages.dashboard_page(session, params, _lang(request), _csrf(request), actor=actor))


@router.get("/alerts/{alert_id}")
async def alert_page(
    alert_id: AlertId, request: Request, session: DbSession, actor: OfficerOrLogin, runtime: Runtime
) -> Response:
    if actor is None:
        return _to_login(request)

    def read() -> tuple[AlertDetail, list[dict[str, Any]], list[ReportRead]]:
        detail = alerts.get_alert(session, actor, alert_id)
        scans = repository.trail(session, repository.alert_row(session, alert_id))
        reports = _reports(session, actor, alert_id)
        # Done with the database: the session (which recorded this login's use) lets go of SQLite's lock
        # before the registry reads it on a connection of its own.
        session.commit()
        return detail, scans, reports

    detail, scans, reports = await run_in_threadpool(read)
    verdict = await _stamp_verdict(runtime, detail)
    return html(pages.alert_page(detail, scans, _lang(request), _csrf(request), reports=reports, verdict=verdict))


def _reports(session: DbSession, actor: Principal, alert_id: int) -> list[ReportRead]:
    """The consumers' reports (their contacts and photos) are the ministry's alone, as `/api/v1/reports` is."""
    if actor.role is not Role.MINISTRY:
        return []
    return consumer_reports.list_reports(session, alert_id, None, None, 100, 0)


async def _stamp_verdict(runtime: ResolverRuntime, alert: AlertDetail) -> str | None:
    """The stamp's verdict as every check of it reads it now (`ScanService.verdict`); None for other alerts."""
    if alert.scope is not AlertScope.STAMP or alert.gtin is None or not (alert.serial or "").isdigit():
        return None
    serial = int(alert.serial or 0)
    lookup = (await runtime.registry.current()).ranges.lookup(alert.gtin, serial, "")
    return (await runtime.scans.verdict(alert.gtin, serial, lookup)).value


@router.post("/alerts/{alert_id}/transitions")
async def transition(alert_id: AlertId, request: Request, session: DbSession, actor: Officer) -> Response:
    form = await _form(request)
    _check_csrf(request, form)
    lang = _lang(request)
    try:
        data = alert_schemas.TransitionCreate(to=form.get("to", ""), comment=form.get("comment") or None)
        await run_in_threadpool(alerts.transition, session, actor, alert_id, data)
    except (TemError, ValueError) as exc:
        if isinstance(exc, NotFound):
            raise
        detail = alerts.get_alert(session, actor, alert_id)
        message = _workflow_message(exc, detail.status.value, form.get("to", ""), lang)
        scans = repository.trail(session, repository.alert_row(session, alert_id))
        reports = _reports(session, actor, alert_id)
        status = exc.status_code if isinstance(exc, TemError) else 422
        return html(pages.alert_page(detail, scans, lang, _csrf(request), message, reports=reports), status)
    return RedirectResponse(f"/ministry/alerts/{alert_id}?lang={lang}", status_code=303)


def _workflow_message(exc: TemError | ValueError, status: str, to: str, lang: str) -> str:
    """The refusals an officer meets at the workflow form, in the page's language; anything else as it is."""
    if isinstance(exc, ValueError) and "needs a comment" in str(exc):
        return t("comment_needed", lang, to=label("st", to, lang))
    if isinstance(exc, TemError) and exc.field == "to":
        return t("transition_refused", lang, now=label("st", status, lang), to=label("st", to, lang))
    return exc.message if isinstance(exc, TemError) else _validation_message(exc)


def _validation_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
    return str(exc)


# Exports


@router.get("/export/alerts.csv")
def export_alerts(request: Request, state: State, session: DbSession, _actor: Ministry) -> Response:
    where = service.parse_filter(session, request.query_params.multi_items())

    def rows() -> Iterator[str]:
        # Its own connection: the request's unit of work ends before the body streams.
        with state.db.engine.connect() as conn:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_ALERT_COLUMNS)
            for number, alert in enumerate(repository.iter_alerts(conn, where), start=1):
                writer.writerow([_csv_value(alert[c]) for c in CSV_ALERT_COLUMNS])
                if number % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

    return _download(StreamingResponse(rows(), media_type="text/csv; charset=utf-8"), f"alerts-{_span(where)}.csv")


CSV_ALERT_COLUMNS = (
    "id",
    "first_seen_at",
    "last_seen_at",
    "type",
    "severity",
    "status",
    "scope",
    "gtin",
    "serial",
    "lot",
    "packing_house",
    "province",
    "country",
    "count",
    "explanation_vi",
    "explanation_en",
)
CSV_STAMP_COLUMNS = (
    "month",
    "packing_house",
    "gtin",
    "product",
    "issued",
    "activated",
    "stamps_scanned",
    "scans",
)


def _csv_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a spreadsheet must not run a cell as a formula
    return value


def _span(where: repository.ReportFilter) -> str:
    return f"{where.since.isoformat()}_{where.until.isoformat()}"


def _download(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/export/stamps.csv")
def export_stamps(request: Request, session: DbSession, _actor: Ministry) -> Response:
    where = service.parse_filter(session, request.query_params.multi_items())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_STAMP_COLUMNS)
    for row in service.stamp_rows(session, where):  # months × products: bounded by the range's 366 days
        writer.writerow(
            [
                row.month.strftime("%Y-%m"),
                row.packing_house,
                row.gtin,
                _csv_value(row.product_vi),
                row.issued,
                row.activated,
                row.stamps_scanned,
                row.scans,
            ]
        )
    return _download(Response(buffer.getvalue(), media_type="text/csv; charset=utf-8"), f"stamps-{_span(where)}.csv")


@router.get("/export/report.pdf")
def export_pdf(request: Request, session: DbSession, _actor: Ministry) -> Response:
    where = service.parse_filter(session, request.query_params.multi_items())
    report = service.build_report(session, where)
    body = pdf.render_report(report, _lang(request))
    return _download(Response(body, media_type="application/pdf"), f"report-{_span(where)}.pdf")
