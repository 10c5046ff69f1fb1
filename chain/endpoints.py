"""EPCIS 2.0's REST binding for every actor along the chain: capture (with capture jobs) and the event query."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from chain import repository
from chain.capture import CaptureRefused, Problem, capture, job_for, new_job, schema_problems
from detection.engine.model import Role
from epcis.identifiers import IdentifierError
from epcis.models import CaptureJob, EpcisEvent
from epcis.store import CONTEXT, time_text
from identity.dependencies import DbSession, State, requires
from identity.principal import Principal
from tem.core.bounds import DbId, Moment
from tem.core.db import Database
from tem.core.time import utcnow

router = APIRouter(prefix="/api/v1/epcis", tags=["epcis"])

Capturer = Annotated[Principal, requires(Role.PACKER, Role.DISTRIBUTOR)]
EventReader = Annotated[
    Principal, requires(Role.PACKER, Role.DISTRIBUTOR, Role.MINISTRY, Role.PROVINCE, Role.INSPECTOR)
]

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
PROBLEM = "application/problem+json"
CBV_PREFIXES = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")


def problem(status: int, title: str, problems: list[Problem], headers: dict[str, str] | None = None) -> JSONResponse:
    """RFC 9457 problem details; each problem names the JSON pointer it is about."""
    detail = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems[:3])
    body = {
        "type": "https://ref.gs1.org/standards/epcis/"
        + ("ValidationException" if status == 400 else "ForbiddenException"),
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"pointer": p.pointer, "detail": p.message} for p in problems],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _job_url(job_id: int) -> str:
    return f"/api/v1/epcis/capture/{job_id}"


def _run_capture(db: Database, actor: Principal, document: dict[str, Any]) -> tuple[int, CaptureRefused | None]:
    """Record the job, then the events in one unit of work; a refused document leaves a failed job behind."""
    with db.session() as session:
        job_id = new_job(session, actor).id
    try:
        with db.session() as session:
            job = session.get(CaptureJob, job_id)
            assert job is not None
            ids = capture(session, actor, document, job)
            job.status, job.event_count, job.finished_at = "success", len(ids), utcnow()
    except CaptureRefused as refused:
        with db.session() as session:
            job = session.get(CaptureJob, job_id)
            assert job is not None
            job.status, job.finished_at = "failed", utcnow()
            job.errors = [{"pointer": p.pointer, "detail": p.message} for p in refused.problems]
        return job_id, refused
    return job_id, None


@router.post(
    "/capture",
    status_code=202,
    summary="Capture an EPCIS 2.0 document",
    responses={
        202: {"description": "captured; `Location` is the capture job"},
        400: {"description": "not a valid EPCIS 2.0 document, or events that do not match Tem's records"},
        403: {"description": "an event names a lot the caller's organisation does not hold"},
        413: {"description": "the document is larger than 20 MB"},
    },
)
async def capture_document(request: Request, state: State, actor: Capturer) -> Response:
    body = await request.body()
    if len(body) > MAX_DOCUMENT_BYTES:
        return problem(413, "document too large", [Problem("", "an EPCIS document may be at most 20 MB")])
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return problem(400, "not JSON", [Problem("", f"the body is not JSON: {str(exc)[:120]}")])
    problems = await run_in_threadpool(schema_problems, document)
    if problems:
        return problem(400, "not a valid EPCIS 2.0 document", problems)
    job_id, refused = await run_in_threadpool(_run_capture, state.db, actor, document)
    headers = {"Location": _job_url(job_id)}
    if refused is not None:
        return problem(refused.status, refused.title, refused.problems, headers)
    return JSONResponse({"captureID": str(job_id)}, status_code=202, headers=headers)


@router.get("/capture/{capture_id}", summary="A capture job: running, success and errors")
def capture_job(capture_id: DbId, session: DbSession, actor: Capturer) -> Response:
    job = job_for(session, actor, capture_id)
    if job is None:
        return problem(404, "no such capture job", [Problem("", f"no capture job {capture_id} of yours")])
    return JSONResponse(
        {
            "captureID": str(job.id),
            "createdAt": time_text(job.created_at),
            "finishedAt": time_text(job.finished_at) if job.finished_at else None,
            "running": job.status == "running",
            "success": job.status == "success",
            "captureErrorBehaviour": "rollback",
            "eventCount": job.event_count,
            "errors": job.errors,
        }
    )


def _listed(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _biz_steps(values: list[str]) -> list[str]:
    """A CBV step is stored as its short name; a query may give it in any of its forms."""
    out = []
    for value in values:
        short = value
        for prefix in CBV_PREFIXES:
            short = short.removeprefix(prefix)
        out.append(short)
    return out


def page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def read_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.startswith("after:") or not text[6:].isdigit() or len(text) > 30:
        raise ValueError("nextPageToken is not one this server gave")
    return int(text[6:])


def query_document(events: list[EpcisEvent]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": time_text(utcnow()),
        "epcisBody": {
            "queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": [e.body for e in events]}}
        },
    }


@router.get(
    "/events",
    summary="Query events (EPCIS 2.0 SimpleEventQuery parameters)",
    responses={
        200: {"description": "EPCISQueryDocument", "content": {"application/ld+json": {"schema": {"type": "object"}}}},
        400: {"description": "a parameter that cannot be read"},
    },
)
def query_events(
    request: Request,
    session: DbSession,
    actor: EventReader,
    event_type: Annotated[list[str] | None, Query(alias="eventType", max_length=200)] = None,
    ge_event_time: Annotated[Moment | None, Query(alias="GE_eventTime")] = None,
    lt_event_time: Annotated[Moment | None, Query(alias="LT_eventTime")] = None,
    eq_biz_step: Annotated[list[str] | None, Query(alias="EQ_bizStep", max_length=2000)] = None,
    eq_biz_location: Annotated[list[str] | None, Query(alias="EQ_bizLocation", max_length=2000)] = None,
    match_epc: Annotated[list[str] | None, Query(alias="MATCH_epc", max_length=8000)] = None,
    match_any_epc: Annotated[list[str] | None, Query(alias="MATCH_anyEPC", max_length=8000)] = None,
    match_epc_class: Annotated[list[str] | None, Query(alias="MATCH_epcClass", max_length=8000)] = None,
    match_any_epc_class: Annotated[list[str] | None, Query(alias="MATCH_anyEPCClass", max_length=8000)] = None,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 100,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken", max_length=60)] = None,
) -> Response:
    for name, moment in (("GE_eventTime", ge_event_time), ("LT_eventTime", lt_event_time)):
        if moment is not None and moment.tzinfo is None:
            return problem(400, "bad parameter", [Problem(name, "give a time zone, e.g. 2026-06-01T00:00:00+07:00")])
    try:
        after = read_page_token(next_page_token) if next_page_token else 0
        query = repository.EventQuery(
            event_types=_listed(event_type),
            ge_time=ge_event_time,
            lt_time=lt_event_time,
            biz_steps=_biz_steps(_listed(eq_biz_step)),
            biz_locations=_listed(eq_biz_location),
            match_epc=_listed(match_epc),
            match_any_epc=_listed(match_any_epc),
            match_epc_class=_listed(match_epc_class),
            match_any_epc_class=_listed(match_any_epc_class),
        )
        found = repository.events(session, actor, query, after, per_page + 1)
    except (IdentifierError, ValueError) as exc:
        return problem(400, "bad parameter", [Problem("", str(exc))])
    page, more = found[:per_page], len(found) > per_page
    headers = {}
    if more:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
        params.append(("nextPageToken", page_token(page[-1].id)))
        headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return JSONResponse(query_document(page), media_type="application/ld+json", headers=headers)
