"""The installable inspector app at /inspect: the page, its assets, the service worker and the login.

Every asset is served from inspector/static/inspect (vendored libraries included): nothing comes from a
third-party host, and the Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from identity import service as identity
from identity.dependencies import CSRF_HEADER, SESSION_COOKIE, DbSession, InspectorOrMinistry, State
from inspector import schemas, service
from tem.core.errors import Forbidden
from templates import FOLDER as TEMPLATES

router = APIRouter(prefix="/inspect", include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static" / "inspect"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Bundle:
    version: str
    assets: dict[str, Asset]
    page: bytes
    worker: bytes


@cache
def bundle() -> Bundle:
    """Read the app's files once (on the first request, not at import); the version hashes them all."""
    assets: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or content_type is None or path.name == "sw.js":
            continue
        body = path.read_bytes()
        name = path.relative_to(STATIC).as_posix()
        assets[name] = Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    worker_source = (STATIC / "sw.js").read_text()
    digest = hashlib.sha256(worker_source.encode())
    for name, asset in assets.items():
        digest.update(name.encode() + asset.etag.encode())
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    page_template = env.get_template("inspect/app.html")
    digest.update(Path(str(page_template.filename)).read_bytes())
    version = digest.hexdigest()[:16]

    def asset_url(name: str) -> str:
        return f"/inspect/assets/{name}?v={version}"

    page = page_template.render(asset=asset_url).encode()
    precache = ["/inspect", "/inspect/manifest.webmanifest", "/.well-known/tem-keys.json"]
    precache += [f"/inspect/assets/{name}" for name in assets if name != "manifest.webmanifest"]
    worker = worker_source.replace("{{VERSION}}", version).replace("{{PRECACHE}}", json.dumps(precache)).encode()
    return Bundle(version, assets, page, worker)


def _not_modified(request: Request, etag: str) -> bool:
    return etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}


@router.get("")
@router.get("/")
def app_page() -> Response:
    return HTMLResponse(bundle().page, headers={**SECURITY_HEADERS, "Cache-Control": REVALIDATE})


@router.get("/sw.js")
def service_worker() -> Response:
    return Response(
        bundle().worker,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": REVALIDATE, "Service-Worker-Allowed": "/inspect", **SECURITY_HEADERS},
    )


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> Response:
    return _asset(request, "manifest.webmanifest")


@router.get("/assets/{name:path}")
def asset(request: Request, name: Annotated[str, PathParam(max_length=200)]) -> Response:
    return _asset(request, name)


def _asset(request: Request, name: str) -> Response:
    current = bundle()
    found = current.assets.get(name)  # only files read from the static folder: no path is ever opened here
    if found is None:
        return JSONResponse({"error": {"message": "no such asset"}}, status_code=404)
    cache_control = IMMUTABLE if request.query_params.get("v") == current.version else REVALIDATE
    headers = {"ETag": found.etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if _not_modified(request, found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.content_type, headers=headers)


# The session: an API token is exchanged once for an opaque cookie


def _secure(request: Request, state: State) -> bool:
    return request.url.scheme == "https" or state.settings.public_base_url.lower().startswith("https://")


@router.post("/login", response_model=schemas.Me)
async def login(data: schemas.LoginCreate, request: Request, state: State, session: DbSession) -> Response:
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"send the header {CSRF_HEADER}: 1")
    session_id, me = await run_in_threadpool(service.login, session, state.settings, data.token)
    response = JSONResponse(me.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    assert me.expires_at is not None
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int((me.expires_at - dt.datetime.now(dt.UTC)).total_seconds()),
        expires=me.expires_at,
        path="/",
        httponly=True,
        secure=_secure(request, state),
        samesite="strict",
    )
    return response


@router.post("/logout", status_code=204)
def logout(
    request: Request,
    state: State,
    session: DbSession,
    tem_inspect: Annotated[str | None, Cookie(max_length=200)] = None,
) -> Response:
    identity.end_session(session, tem_inspect)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=_secure(request, state), samesite="strict")
    return response


@router.get("/me", response_model=schemas.Me)
def whoami(
    session: DbSession,
    actor: InspectorOrMinistry,
    tem_inspect: Annotated[str | None, Cookie(max_length=200)] = None,
) -> Response:
    me = service.me(actor, identity.session_expiry(session, tem_inspect))
    return JSONResponse(me.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
