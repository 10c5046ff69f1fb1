"""GS1 resolution above the stamp: a GTIN (`/01/{gtin}`) resolves to its product page, and a request the
resolver cannot place lower down walks up to it. Stamp requests are the hot path's (`resolver/hotpath.py`),
lot requests the trace page's (`resolver/trace.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crypto import GtinError, normalize_gtin
from resolver import linkset as links
from resolver.i18n import choose_language, t
from resolver.pages import render
from resolver.runtime import ResolverRuntime, Runtime

router = APIRouter()

CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Link, Location"}
PREFLIGHT = {**CORS, "Allow": "GET, HEAD, OPTIONS", "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"}


def base_of(request: Request) -> str:
    base: str = request.app.state.tem.settings.public_base_url
    return base.rstrip("/")


def link_response(request: Request, levels: Sequence[links.Level]) -> Response:
    """The GS1 answer for `levels[0]`: a redirect to the link type asked for, its linkset, or a 404."""
    found = links.resolve(
        levels,
        request.query_params.get("linkType"),
        request.headers.get("accept", ""),
        request.query_params.multi_items(),
    )
    link = links.link_header(levels[0], f"{levels[0].anchor}?linkType=linkset")
    if found.json_ld_context:
        link += ", " + links.context_link()
    headers = {**CORS, "Vary": "Accept", "Link": link, "Cache-Control": "no-store"}
    if found.location:
        headers["Location"] = found.location
    return Response(found.body, status_code=found.status, media_type=found.media_type, headers=headers)


def not_found(request: Request, status: int = 404, key: str = "not_found") -> HTMLResponse:
    language = choose_language(request.headers.get("accept-language"), request.query_params.get("lang"))
    body = render(
        "pages/verdict.html",
        language,
        request.url.path,
        list(request.query_params.multi_items()),
        verdict="unknown",
        lines=[t(key, language)],
        stamp=None,
    )
    return HTMLResponse(body, status_code=status, headers={**CORS, "Vary": "Accept"})


async def walk_up(request: Request, runtime: ResolverRuntime, gtin: str) -> Response:
    """A request for something under a GTIN that the resolver does not know falls back to the GTIN's links."""
    snapshot = await runtime.registry.current()
    product = await asyncio.to_thread(runtime.lots.product, snapshot.version, gtin)
    if product is None:
        return not_found(request)
    return link_response(request, [links.product_level(base_of(request), gtin, product.name["en"])])


@router.api_route("/01/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def product_link(request: Request, runtime: Runtime, rest: str) -> Response:
    """`/01/{gtin}`, with or without a trailing slash or a CPV (AI 22) qualifier."""
    parts = rest.removesuffix("/").split("/")
    if len(parts) not in (1, 3) or (len(parts) == 3 and (parts[1] != "22" or not parts[2])):
        return not_found(request, 400, "malformed")
    try:
        gtin = normalize_gtin(parts[0])
    except GtinError:
        return not_found(request, 400, "malformed")
    return await walk_up(request, runtime, gtin)


@router.options("/01/{rest:path}", include_in_schema=False)
async def preflight(rest: str) -> Response:
    return Response(status_code=204, headers={**PREFLIGHT, "Access-Control-Allow-Headers": "accept, accept-language"})


@router.api_route("/products/{gtin}", methods=["GET", "HEAD"], include_in_schema=False)
async def product_page(
    request: Request,
    runtime: Runtime,
    gtin: str,
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """The product's page: what it is and who packs it, and that only a stamp's own code checks a fruit."""
    language = choose_language(request.headers.get("accept-language"), lang)
    try:
        gtin14 = normalize_gtin(gtin)
    except GtinError:
        return not_found(request)
    snapshot = await runtime.registry.current()
    product = await asyncio.to_thread(runtime.lots.product, snapshot.version, gtin14)
    if product is None:
        return not_found(request)
    level = links.product_level(base_of(request), gtin14, product.name["en"])
    body = render(
        "pages/product.html",
        language,
        request.url.path,
        list(request.query_params.multi_items()),
        product=product,
        product_name=product.name.get(language) or product.name["en"],
    )
    headers = {
        "Cache-Control": "public, max-age=300",
        "Content-Language": language,
        "Link": links.link_header(level, f"{level.anchor}?linkType=linkset"),
        **CORS,
    }
    return HTMLResponse(body, headers=headers)
