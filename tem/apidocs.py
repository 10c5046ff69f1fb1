"""`/docs` (Swagger UI) and `/redoc` from assets shipped in the wheel: a closed network still reads the API's docs.

The files in `tem/static/vendor/` are copied unchanged from the npm packages; their versions, checksums and
licences are in `tem/static/vendor/README.md`. FastAPI's own `/docs` and `/redoc` load them from a CDN, so
`create_app` turns those off and includes this router instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
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
# from validator.swagger.io. Swagger UI's page starts it with an inline script (FastAPI's), Redoc searches in a
# worker it builds from a blob.
CSP = {
    "/docs": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    "/redoc": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
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
