"""The inspector API: verify a stamp with its live state, and record inspections. Routes are thin."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from alerts.dependencies import Alerts
from crypto import GtinError, normalize_gtin
from detection.engine.model import Place
from identity.dependencies import DbSession, InspectorOrMinistry, State, Verifier
from inspector import schemas, service
from inspector.models import InspectionResult
from resolver.location import device_place, peer_of
from resolver.runtime import Runtime
from tem.core.bounds import DbId, Moment
from tem.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1")


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone, e.g. 2026-06-01T00:00:00+07:00", field=name)
    return value


@router.get(
    "/stamps/verify",
    tags=["inspectors"],
    response_model=schemas.VerifyRead,
    summary="Check a stamp with its live state (inspectors, distributors, ministry); recorded as their scan",
)
async def verify_stamp(
    request: Request,
    state: State,
    runtime: Runtime,
    session: DbSession,
    actor: Verifier,
    uri: Annotated[str, Query(min_length=1, max_length=4096, description="The scanned stamp URI")],
    lat: Annotated[float | None, Query(ge=-90, le=90, description="The device's latitude")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="The device's longitude")] = None,
    accuracy: Annotated[float | None, Query(gt=0, le=1_000_000, description="Accuracy radius, metres")] = None,
) -> object:
    if (lat is None) != (lon is None):
        raise InvalidInput("give lat and lon together", field="lat")
    if accuracy is not None and lat is None:
        raise InvalidInput("accuracy needs lat and lon", field="accuracy")
    peer = peer_of(request.scope)
    ip = runtime.scans.client_ip(request.headers, peer)
    place: Place | None
    if lat is not None and lon is not None:
        place = device_place(lat, lon, accuracy if accuracy is not None else 100.0)
    else:
        place = runtime.resolver.locator.locate(request.headers, ip, peer)
    caller = service.Caller(actor, place, ip)
    return await service.verify(session, runtime, caller, uri)


@router.post(
    "/inspections",
    tags=["inspectors"],
    response_model=schemas.InspectionRead,
    status_code=201,
    responses={200: {"model": schemas.InspectionRead, "description": "A retry: the record was already stored"}},
    summary="Record an inspection; idempotent by client_id (or the Idempotency-Key header)",
)
async def record_inspection(
    data: schemas.InspectionCreate,
    response: Response,
    state: State,
    runtime: Runtime,
    alerts: Alerts,
    session: DbSession,
    actor: InspectorOrMinistry,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> object:
    snapshot = await runtime.registry.current()
    recorded = await run_in_threadpool(
        service.record_inspection,
        session,
        actor,
        data,
        idempotency_key,
        snapshot.keyset,
        snapshot.ranges,
        alerts,
    )
    if not recorded.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return recorded.inspection


@router.get(
    "/inspections",
    tags=["inspectors"],
    response_model=list[schemas.InspectionRead],
    summary="Inspections: the ministry sees all, an inspector their own",
)
def list_inspections(
    session: DbSession,
    actor: InspectorOrMinistry,
    inspector_id: Annotated[DbId | None, Query(description="ministry: one inspector")] = None,
    since: Moment | None = None,
    until: Moment | None = None,
    result: InspectionResult | None = None,
    gtin: Annotated[str | None, Query(max_length=14)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> object:
    if gtin is not None:
        try:
            gtin = normalize_gtin(gtin)
        except GtinError as exc:
            raise InvalidInput(str(exc), field="gtin") from None
    return service.list_inspections(
        session,
        actor,
        inspector_id,
        _aware(since, "since"),
        _aware(until, "until"),
        result,
        gtin,
        limit,
        offset,
    )
