"""The public keyset that lets anyone verify a stamp offline."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Request, Response

from crypto import keyset_document
from identity.dependencies import DbSession, State
from issuer import keys

router = APIRouter()

CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag"}


@router.get("/.well-known/tem-keys.json", tags=["keys"], summary="Public signing keys (JWK set)")
def keyset(request: Request, session: DbSession, state: State) -> Response:
    body = json.dumps(keyset_document(keys.public_keys(session)), separators=(",", ":"), sort_keys=True).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        **CORS,
        "ETag": etag,
        "Cache-Control": f"public, max-age={state.settings.keyset_max_age_seconds}",
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.options("/.well-known/tem-keys.json", include_in_schema=False)
def keyset_preflight() -> Response:
    return Response(
        status_code=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Max-Age": "86400",
        },
    )
