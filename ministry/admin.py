"""The ministry's administration pages, under /ministry: order approval, organisations and API tokens.

Same callers and the same guard as the dashboard (`ministry.endpoints`): the ministry role, by token or by the
session cookie, and every form carries the session's CSRF token. Each action is the API's own service call
(`issuer.service`), so the page and `POST /api/v1/...` cannot drift apart. A refusal is the page again with a
message in the reader's words and the service's status code, never a JSON body.

A success redirects to the page with `?done=<key>&id=<row>`: `key` is one of a fixed few (`DONE`), and the message
is the page's own translated sentence, filled in from the row it names as the database holds it (shown only when the
row is found in the state the key says). Nothing else of the URL is ever written on the page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from identity.dependencies import DbSession, State, changes_registry
from identity.principal import Principal
from issuer import schemas as issuer_schemas
from issuer import service as issuer
from issuer.dependencies import Keys
from ministry import repository
from ministry.endpoints import Ministry, MinistryOrLogin, _check_csrf, _csrf, _form, _lang, _to_login, html
from ministry.pages import _render
from ministry.phrases import label, t
from tem.core.bounds import DbId
from tem.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TemError
from tem.core.settings import OrderApproval

router = APIRouter(prefix="/ministry", include_in_schema=False)

RowId = DbId
ORG_KINDS = ("packing_house", "inspection_agency", "distributor", "ministry", "province_authority")
TOKEN_ROLES = ("packer", "inspector", "distributor", "ministry", "province")


def _invalid(exc: ValidationError, lang: str) -> str:
    names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
    return t("adm_form_invalid", lang, fields=", ".join(label("adm_f", n, lang) for n in names))


async def _checked_form(request: Request) -> dict[str, str] | None:
    """The form, or None when its CSRF token is wrong (the caller shows the page with a message and a 403)."""
    form = await _form(request)
    try:
        _check_csrf(request, form)
    except Forbidden:
        return None
    return form


#: What a success redirect may say: its `done` key, per page.
DONE = {"orders": ("approved", "rejected"), "organisations": ("org_created",), "users": ("token_revoked",)}


def _done(path: str, lang: str, key: str, row_id: int) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'lang': lang, 'done': key, 'id': row_id})}", status_code=303)


def _done_row(request: Request, page: str) -> tuple[str, int] | None:
    """The key and row id of a success redirect to this page; None for anything else in the query."""
    key = request.query_params.get("done", "")
    row = request.query_params.get("id", "")
    if key not in DONE[page] or not (row.isascii() and row.isdigit() and len(row) <= 10):
        return None
    return key, int(row)


# Orders


def _orders_page(
    request: Request, state: State, session: Session, error: str | None = None, status: int = 200
) -> Response:
    lang = _lang(request)
    decided = repository.decided_orders(session)
    done = _done_row(request, "orders")
    notice = None
    if done is not None and any(o.id == done[1] and o.status == done[0] for o in decided):
        notice = t(f"adm_done_{done[0]}", lang, id=done[1])
    body = _render(
        "ministry/orders.html",
        lang,
        "/ministry/orders",
        [],
        csrf=_csrf(request),
        error=error,
        notice=notice,
        pending=repository.pending_orders(session),
        decided=decided,
        automatic=state.settings.order_approval is OrderApproval.AUTO,
    )
    return html(body, status)


def _order_error(exc: TemError | ValidationError, order_id: int, lang: str) -> tuple[str, int]:
    if isinstance(exc, ValidationError):
        return t("adm_reason_needed", lang), 422
    if isinstance(exc, NotFound):
        return t("adm_order_not_found", lang, id=order_id), exc.status_code
    if isinstance(exc, Conflict):
        return t("adm_order_decided", lang, id=order_id), exc.status_code
    return exc.message, exc.status_code


@router.get("/orders")
def orders_page(request: Request, state: State, session: DbSession, actor: MinistryOrLogin) -> Response:
    if actor is None:
        return _to_login(request)
    return _orders_page(request, state, session)


@router.post("/orders/{order_id}/approve", dependencies=[Depends(changes_registry)])
async def approve_order(
    order_id: RowId, request: Request, state: State, session: DbSession, keys: Keys, actor: Ministry
) -> Response:
    lang = _lang(request)
    if await _checked_form(request) is None:
        return _orders_page(request, state, session, t("adm_form_expired", lang), 403)
    try:
        issuer.approve_order(session, keys, actor, order_id)
    except TemError as exc:
        return _orders_page(request, state, session, *_order_error(exc, order_id, lang))
    return _done("/ministry/orders", lang, "approved", order_id)


@router.post("/orders/{order_id}/reject")
async def reject_order(
    order_id: RowId, request: Request, state: State, session: DbSession, actor: Ministry
) -> Response:
    lang = _lang(request)
    form = await _checked_form(request)
    if form is None:
        return _orders_page(request, state, session, t("adm_form_expired", lang), 403)
    try:
        data = issuer_schemas.OrderDecision(reason=form.get("reason", "").strip())
        issuer.reject_order(session, actor, order_id, data.reason)
    except (TemError, ValidationError) as exc:
        return _orders_page(request, state, session, *_order_error(exc, order_id, lang))
    return _done("/ministry/orders", lang, "rejected", order_id)


# Organisations


def _organisations_page(
    request: Request, session: Session, error: str | None = None, status: int = 200, form: dict[str, str] | None = None
) -> Response:
    lang = _lang(request)
    organisations = issuer.list_organisations(session)
    done = _done_row(request, "organisations")
    created = next((o for o in organisations if done is not None and o.id == done[1]), None)
    body = _render(
        "ministry/organisations.html",
        lang,
        "/ministry/organisations",
        [],
        csrf=_csrf(request),
        error=error,
        notice=t("adm_org_created", lang, code=created.code) if created is not None else None,
        organisations=organisations,
        kinds=ORG_KINDS,
        form=form or {},
    )
    return html(body, status)


@router.get("/organisations")
def organisations_page(request: Request, session: DbSession, actor: MinistryOrLogin) -> Response:
    if actor is None:
        return _to_login(request)
    return _organisations_page(request, session)


@router.post("/organisations")
async def create_organisation(request: Request, state: State, session: DbSession, actor: Ministry) -> Response:
    lang = _lang(request)
    form = await _checked_form(request)
    if form is None:
        return _organisations_page(request, session, t("adm_form_expired", lang), 403)
    fields = {k: form.get(k, "").strip() for k in ("kind", "name", "code", "province")}
    try:
        data = issuer_schemas.OrganisationCreate.model_validate(fields)
        org = issuer.create_organisation(session, state.settings, actor, data)
    except ValidationError as exc:
        return _organisations_page(request, session, _invalid(exc, lang), 422, fields)
    except TemError as exc:
        message = _org_error(exc, fields["code"].upper(), lang)
        return _organisations_page(request, session, message, exc.status_code, fields)
    return _done("/ministry/organisations", lang, "org_created", org.id)


def _org_error(exc: TemError, code: str, lang: str) -> str:
    if isinstance(exc, Conflict):
        return t("adm_org_code_taken", lang, code=code)
    if isinstance(exc, InvalidInput) and exc.field == "code":
        return t("adm_org_code_invalid", lang, code=code)
    return exc.message


# API tokens


def _users_page(
    request: Request,
    session: Session,
    actor: Principal,
    error: str | None = None,
    status: int = 200,
    new_token: tuple[int, str] | None = None,
) -> Response:
    lang = _lang(request)
    tokens = issuer.list_tokens(session, actor)
    done = _done_row(request, "users")
    revoked = next((tok for tok, _ in tokens if done is not None and tok.id == done[1] and tok.revoked_at), None)
    body = _render(
        "ministry/users.html",
        lang,
        "/ministry/users",
        [],
        csrf=_csrf(request),
        error=error,
        notice=t("adm_token_revoked", lang, id=revoked.id) if revoked is not None else None,
        tokens=tokens,
        organisations=issuer.list_organisations(session),
        roles=TOKEN_ROLES,
        new_token=new_token,
    )
    return html(body, status)


@router.get("/users")
def users_page(request: Request, session: DbSession, actor: MinistryOrLogin) -> Response:
    if actor is None:
        return _to_login(request)
    return _users_page(request, session, actor)


@router.post("/users")
async def create_token(request: Request, session: DbSession, actor: Ministry) -> Response:
    lang = _lang(request)
    form = await _checked_form(request)
    if form is None:
        return _users_page(request, session, actor, t("adm_form_expired", lang), 403)
    fields = {k: form.get(k, "").strip() for k in ("organisation", "role", "name")}
    try:
        data = issuer_schemas.TokenCreate.model_validate(fields)
        row, token = issuer.create_token(session, actor, data)
    except ValidationError as exc:
        return _users_page(request, session, actor, _invalid(exc, lang), 422)
    except TemError as exc:
        return _users_page(request, session, actor, _token_error(exc, fields, lang), exc.status_code)
    # The token is in this answer only (never in a URL, never stored): the page is no-store.
    return _users_page(request, session, actor, status=201, new_token=(row.id, token))


def _token_error(exc: TemError, fields: dict[str, str], lang: str) -> str:
    if isinstance(exc, NotFound):
        return t("adm_org_not_found", lang, code=fields["organisation"])
    if isinstance(exc, InvalidInput) and exc.field == "role":
        return t("adm_role_kind", lang, role=label("adm_role", fields["role"], lang))
    return exc.message


@router.post("/users/{token_id}/revoke")
async def revoke_token(token_id: RowId, request: Request, session: DbSession, actor: Ministry) -> Response:
    lang = _lang(request)
    if await _checked_form(request) is None:
        return _users_page(request, session, actor, t("adm_form_expired", lang), 403)
    try:
        issuer.revoke_token(session, actor, token_id)
    except TemError as exc:
        key = "adm_token_not_found" if isinstance(exc, NotFound) else "adm_token_already_revoked"
        message = t(key, lang, id=token_id) if isinstance(exc, NotFound | Conflict) else exc.message
        return _users_page(request, session, actor, message, exc.status_code)
    return _done("/ministry/users", lang, "token_revoked", token_id)
