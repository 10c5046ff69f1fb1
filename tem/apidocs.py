"""`/docs` (Swagger UI) and `/redoc` from assets shipped in the wheel: a closed network still reads the API's docs.

The files in `tem/static/vendor/` are copied unchanged from the npm packages; their versions, checksums and
licences are in `tem/static/vendor/README.md`. FastAPI's own `/docs` and `/redoc` load them from a CDN, so
`create_app` turns those off and includes this router instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
PREFIX = "/docs/assets"
CONTENT_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

# Nothing but this site: Redoc's footer would load its logo from cdn.redoc.ly, and Swagger UI may show a badge
# from validator.swagger.io. Swagger UI's page starts it with an inline script (FastAPI's), allowed by its hash
# (tem/headers.py adds the page's hashes); Redoc searches in a worker it builds from a blob. Redoc's bundle adds
# style elements as it loads, before any nonce it could be given reaches them: /redoc alone allows inline style
# elements (`style-src-elem`; never inline scripts, nor style attributes).
CSP = {
    "/docs": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    "/redoc": "default-src 'self'; script-src 'self'; style-src 'self'; style-src-elem 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
}

router = APIRouter(include_in_schema=False)


def _guarded(page: HTMLResponse, path: str) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP[path]
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "same-origin"
    return page


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _guarded(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Tem API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
        ),
        "/docs",
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _guarded(
        get_redoc_html(
            openapi_url="/openapi.json",
            title="Tem API",
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon-32x32.png",
            with_google_fonts=False,
        ),
        "/redoc",
    )


@router.get(PREFIX + "/{name}")
def asset(name: Annotated[str, PathParam(max_length=40)]) -> Response:
    content_type = CONTENT_TYPES.get(name)  # only the listed names: no path from the request is ever opened
    if content_type is None:
        raise HTTPException(404)
    return Response(
        (VENDOR / name).read_bytes(),
        media_type=content_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


# Every status a route can answer beyond its own, by what the route is: documented once here rather than on each
# route. `identity.dependencies` answers 401 and 403 for a route with a caller; `identity.throttle` answers 429
# to any request that authenticates once its network has failed too often; a path with an id answers 404 for
# an unknown one; a write may conflict (409); a body may be malformed JSON (400); every route answers 503 while
# the database or Redis is away, and 422 for a parameter it cannot read.
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {"type": "string"},
                "field": {"type": "string"},
                "code": {"type": "string"},
            },
        }
    },
}
ERRORS = {
    "400": "The request body is not valid JSON, or a parameter cannot be read",
    "401": "No caller, or an unknown, revoked or expired token or session",
    "403": "The caller's role or organisation may not do this",
    "404": "No such thing, or not the caller's",
    "409": "In conflict with what is stored",
    "422": "A parameter or the body is invalid (the message names the field, never echoes the value)",
    "429": "Too many failed authentications from the caller's network; see Retry-After",
    "503": "A backing service is unavailable; see Retry-After",
    "414": "The request's URI is too long",
    "431": "The request's headers are too large",
}
#: Errors that are plain text (refused before the app: `resolver.runtime.ScanRouting`).
PLAIN = frozenset({"414", "431"})
#: EPCIS's own errors are RFC 9457 problems (chain.endpoints); the identity layer's are the Error object.
PROBLEM_PATHS = "/api/v1/epcis/"
WRITES = frozenset({"post", "put", "patch", "delete"})


def error_statuses(method: str, operation: dict[str, Any], path: str) -> list[str]:
    """The error statuses an operation may answer, by its method, path and security."""
    statuses = ["400", "414", "422", "429", "431", "503"]
    if operation.get("security"):
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if method in WRITES:
        statuses += ["404", "409"]
    return sorted(set(statuses))


def document_errors(app: FastAPI) -> None:
    """Adds the error statuses above to every operation of `app`'s OpenAPI document that lacks them."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in ("get", "head", "post", "put", "patch", "delete"):
                    continue
                responses = operation.setdefault("responses", {})
                for status in error_statuses(method, operation, path):
                    responses.setdefault(status, {"description": ERRORS[status]})
                    content = responses[status].setdefault("content", {})
                    if status in PLAIN:
                        content.setdefault("text/plain", {"schema": {"type": "string"}})
                        continue
                    content.setdefault("application/json", {"schema": {"$ref": "#/components/schemas/Error"}})
                    if path.startswith(PROBLEM_PATHS):
                        content.setdefault("application/problem+json", {"schema": {"type": "object"}})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
