"""The public keyset that lets anyone verify a stamp offline."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Request, Response

from crypto import keyset_document
from crypto.jws import sign_compact
from identity.dependencies import DbSession, State
from issuer import audit, keys
from issuer.dependencies import Keys

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


@router.get(
    "/.well-known/tem-audit-head",
    tags=["keys"],
    summary="The audit chain's head, signed (compact JWS, EdDSA)",
    responses={200: {"content": {"application/jose": {}}}, 409: {"description": "No active signing key"}},
)
def audit_head(session: DbSession, signing: Keys) -> Response:
    """`{"seq", "head", "at"}`: the last row of the audit chain (`tem audit verify`), signed with the active stamp key,
    whose `kid` is in `/.well-known/tem-keys.json`. Keep copies: a later head that does not extend them shows that
    rows were removed or rewritten."""
    seq, head, at = audit.head(session)
    payload = {"seq": seq, "head": head, "at": at.isoformat().replace("+00:00", "Z") if at else None}
    token = sign_compact(signing.active_signer(session), payload, typ="tem-audit-head+jwt")
    return Response(token, media_type="application/jose", headers={**CORS, "Cache-Control": "no-store"})
