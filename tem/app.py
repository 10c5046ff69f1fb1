"""App assembly: resources are built in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.from_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from alerts.endpoints import router as alerts_router
from alerts.service import AlertService
from chain.endpoints import router as epcis_router
from chain.outbox_endpoints import router as portal_outbox_router
from detection.engine.model import AlertLevelChange
from epcis.outbox import run_portal_outbox
from identity.throttle import AuthThrottle
from inspector.app import router as inspect_app_router
from inspector.endpoints import router as inspector_router
from issuer.endpoints import router as issuer_router
from issuer.keys import SignerCache
from issuer.print_endpoints import router as print_router
from issuer.token_endpoints import router as tokens_router
from ministry.admin import router as ministry_admin_router
from ministry.areas import router as growing_area_register_router
from ministry.endpoints import router as ministry_router
from portal.endpoints import router as portal_router
from reports.endpoints import api as reports_api
from reports.endpoints import router as reports_router
from resolver.front import error_page, wants_html
from resolver.front import router as front_router
from resolver.i18n import choose_language
from resolver.product import router as product_router
from resolver.runtime import ResolverRuntime, ScanRouting
from resolver.trace import router as trace_router
from resolver.wellknown import router as keyset_router
from tem.apidocs import document_errors
from tem.apidocs import router as apidocs_router
from tem.core.db import Database
from tem.core.errors import TemError
from tem.core.settings import Settings
from tem.headers import SecurityHeaders
from tem.observability import router as metrics_router
from tem.proxies import TrustedProxies
from tem.runtime import build_runtime

log = logging.getLogger("tem")


@dataclass
class TemState:
    """Everything one process's routes use, built in the lifespan. It is the `AppState` of `identity`, the
    issuer's `IssuerState`, and holds the resolver's runtime (`resolver.runtime.get_runtime`)."""

    settings: Settings
    db: Database
    resolver: ResolverRuntime
    alerts: AlertService
    redis: Redis | None = None
    signers: SignerCache = field(default_factory=SignerCache)

    def registry_changed(self) -> None:
        # This process changed the registry: the resolver rebuilds before its next scan.
        self.resolver.registry.dirty = True

    def stamp_alerts_changed(self, changes: Sequence[AlertLevelChange]) -> None:
        # A route's unit of work ends in a worker thread of the event loop that serves the route.
        anyio.from_thread.run(self.resolver.change_alert_levels, changes)


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def _answer(request: Request, response: JSONResponse, message: str) -> Response:
    """A browser's navigation gets the error as a translated page with a link home; API clients the JSON."""
    if not wants_html(request):
        return response
    status = response.status_code
    # A 4xx's own words say what to change (a bad date, say); which page or role is missing says nothing more.
    detail = message if 400 <= status < 500 and status not in (401, 403, 404, 405) else None
    page = error_page(request, status, detail)
    for name in ("Retry-After", "Allow"):
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


def _unechoed(message: str, value: object) -> str:
    """A validator's words without the submitted value: an error never reflects raw input back."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return message
    for shown in (repr(value), repr(str(value)), str(value)):
        if len(shown) >= 3 and shown in message:  # shorter would eat the words themselves
            message = message.replace(shown, "the value given")
    return message


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        message = "the request body is not valid JSON"
        return _answer(request, _error(400, message), message)
    messages = []
    for e in errors:
        name = _field_name(tuple(e.get("loc", ())))
        text_ = _unechoed(str(e.get("msg", "is invalid")).removeprefix("Value error, "), e.get("input"))
        messages.append(f"{name}: {text_}" if name else text_)
    first = _field_name(tuple(errors[0].get("loc", ()))) if errors else None
    return _answer(request, _error(422, "; ".join(messages), first or None), "; ".join(messages))


async def _on_tem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TemError)
    if exc.code is None:
        return _answer(request, _error(exc.status_code, exc.message, exc.field), exc.message)
    # An error that knows its words in vi, en and zh answers in the Accept-Language asked for (English when none).
    message = exc.localised(choose_language(request.headers.get("accept-language")))
    body: dict[str, Any] = {"code": exc.code, "message": message, **({"field": exc.field} if exc.field else {})}
    return _answer(request, JSONResponse({"error": body}, status_code=exc.status_code), message)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "not found", 405: "method not allowed"}
    message = str(exc.detail) if exc.detail else messages.get(exc.status_code, "error")
    response = _error(exc.status_code, message)
    if exc.headers:  # a 401's WWW-Authenticate
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed(request)
    return _answer(request, response, message)


def _allowed(request: Request) -> str:
    """Every method some route takes at this path: Starlette's own Allow names only the first route's."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


async def _on_unavailable(request: Request, exc: Exception) -> Response:
    log.error("backing_service_unavailable error=%s", type(exc).__name__)
    response = _error(503, "a backing service is unavailable; try again shortly")
    response.headers["Retry-After"] = "30"
    return _answer(request, response, "")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", exc_info=(type(exc), exc, exc.__traceback__))
    return _answer(request, _error(500, "internal error; it has been logged"), "")


def create_app(settings: Settings | None = None) -> FastAPI:  # noqa: PLR0915  # one line per router and handler
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.home.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        redis = Redis.from_url(settings.redis_url, socket_timeout=2) if settings.redis_url else None
        alerts = AlertService(settings)
        runtime = await build_runtime(settings, db, alerts)
        webhooks = None
        if runtime.worker is not None:  # the in-process worker's companion; does nothing without webhook URLs
            webhooks = asyncio.create_task(alerts.run_webhooks(db, runtime.stop))
        portal_sender = None
        if runtime.worker is not None and settings.portal_url:  # the national portal's outbox, likewise
            portal_sender = asyncio.create_task(run_portal_outbox(db, settings, runtime.stop))
        app.state.tem = TemState(settings=settings, db=db, redis=redis, resolver=runtime, alerts=alerts)
        # Everything built so far (modules, routes, models) lives as long as the process: moved out of the
        # collector's reach, a full collection no longer walks it and stalls scans for a few hundred ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.close()
            if webhooks is not None:
                webhooks.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await webhooks
            if portal_sender is not None:
                portal_sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await portal_sender
            db.dispose()
            if redis is not None:
                redis.close()

    app = FastAPI(
        title="Tem",
        summary="Stamp issuance and anti-counterfeit labels for Vietnam's agricultural traceability plan",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are tem.apidocs: their assets ship in the wheel, no CDN
        redoc_url=None,
        # Starlette's slash redirects build the target from the Host header: an open redirect.
        redirect_slashes=False,
    )
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(TemError, _on_tem_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RedisError, _on_unavailable)
    app.add_exception_handler(OperationalError, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
    app.include_router(issuer_router)
    app.include_router(print_router)
    app.include_router(tokens_router)
    app.include_router(keyset_router)
    app.include_router(trace_router)
    app.include_router(product_router)  # after the trace page: its /01/ route takes what is left
    app.include_router(alerts_router)
    app.include_router(inspector_router)
    app.include_router(inspect_app_router)
    app.include_router(ministry_router)
    app.include_router(growing_area_register_router)
    app.include_router(ministry_admin_router)
    app.include_router(portal_router)
    app.include_router(reports_router)
    app.include_router(reports_api)
    app.include_router(portal_outbox_router)
    app.include_router(epcis_router)
    app.include_router(metrics_router)
    app.include_router(front_router)
    app.include_router(apidocs_router)
    document_errors(app)  # the error statuses every route may answer, in the OpenAPI document (tem/apidocs.py)
    app.add_middleware(AuthThrottle)  # failed logins and bad tokens, per client network (identity.throttle)
    app.add_middleware(ScanRouting)
    # Outermost: every answer, scans' included, gets the security headers (tem/headers.py).
    app.add_middleware(SecurityHeaders, https_base=settings.public_base_url.lower().startswith("https:"))
    # Outermost of all: the client a trusted proxy forwards (TEM_TRUSTED_PROXIES), for every layer inside.
    app.add_middleware(TrustedProxies, trusted=settings.trusted_proxies)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: the database and Redis answer")
    def readyz(request: Request) -> JSONResponse:
        state: TemState = request.app.state.tem
        checks: dict[str, str] = {}
        try:
            with state.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure as "not ready"
            checks["database"] = f"error: {type(exc).__name__}"
        if state.redis is not None:
            try:
                state.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        else:
            checks["redis"] = "not used (embedded in-process state)"
        ready = all(not v.startswith("error") for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return app
