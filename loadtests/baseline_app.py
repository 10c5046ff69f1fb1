"""The naive baseline of the resolver benchmark: a plain FastAPI scan route, as a first version would be.

It does the same job as the resolver's hot path, the obvious way: FastAPI routing and parameter
binding, the same stamp parser, an Ed25519 verification with PyNaCl on *every* request (no cache),
an INCR + PFADD pipeline on Redis through ``redis.asyncio``, then a 307 to the lot's trace page. It
does less than the resolver (no range lookup, no durable scan log, no scan token), so beating it is
about how the work is done, not about doing less.

Run by ``loadtests/bench_resolver.py`` under uvicorn with one worker::

    TEM_BASELINE_KEYS='{"KID": "hex public key"}' TEM_BASELINE_LOT=LOT-1 \\
    TEM_BASELINE_REDIS_URL=redis://127.0.0.1:6379/0 TEM_BASELINE_PREFIX=tem-bench-x \\
    .venv/bin/uvicorn loadtests.baseline_app:app --port 8001 --workers 1
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from redis.asyncio import Redis

from crypto import StampFormatError, parse_stamp_path, signing_message

KEYS = {kid: VerifyKey(bytes.fromhex(key)) for kid, key in json.loads(os.environ["TEM_BASELINE_KEYS"]).items()}
LOT = os.environ.get("TEM_BASELINE_LOT", "LOT-1")
BASE = os.environ.get("TEM_BASELINE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
PREFIX = os.environ.get("TEM_BASELINE_PREFIX", "tem-baseline")
redis = Redis.from_url(os.environ.get("TEM_BASELINE_REDIS_URL", "redis://127.0.0.1:6379/0"))


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await redis.aclose()


app = FastAPI(lifespan=lifespan)


@app.get("/01/{gtin}/21/{serial}")
async def scan(gtin: str, serial: str, request: Request) -> Response:
    try:
        stamp = parse_stamp_path(request.url.path, request.url.query)
    except StampFormatError:
        return HTMLResponse("<p>This is not a valid stamp code.</p>", status_code=400)
    key = KEYS.get(stamp.kid)
    try:
        if key is None:
            raise BadSignatureError
        key.verify(signing_message(stamp.kid, stamp.gtin, stamp.serial), stamp.signature)
    except BadSignatureError:
        return HTMLResponse("<p>Counterfeit.</p>")
    device = request.cookies.get("tem_d")
    new_device = device is None
    device = device or secrets.token_urlsafe(16)
    tag = f"{PREFIX}:baseline:{{{stamp.gtin}:{stamp.serial}}}"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(f"{tag}:n")
        pipe.pfadd(f"{tag}:h", device)
        await pipe.execute()
    response = RedirectResponse(f"{BASE}/01/{gtin}/10/{LOT}?serial={stamp.serial}", status_code=307)
    if new_device:
        response.set_cookie("tem_d", device, max_age=63_072_000, httponly=True, samesite="lax")
    return response


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
