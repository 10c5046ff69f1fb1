"""The packing-house API. Routes are thin: parse, call the service, shape the answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from detection.engine.model import Role
from identity.dependencies import DbSession, Ministry, Packer, PackerOrMinistry, State, requires
from identity.principal import Principal
from issuer import schemas, service
from issuer.activation_gates import GateRules
from issuer.dependencies import REGISTRY_WRITES, Keys
from tem.core.bounds import DbId
from tem.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1", dependencies=REGISTRY_WRITES)


@router.post("/organisations", tags=["organisations"], response_model=schemas.OrganisationRead, status_code=201)
def create_organisation(data: schemas.OrganisationCreate, session: DbSession, state: State, actor: Ministry) -> object:
    return service.create_organisation(session, state.settings, actor, data)


@router.post("/products", tags=["products"], response_model=schemas.ProductRead, status_code=201)
def create_product(data: schemas.ProductCreate, session: DbSession, actor: Packer) -> object:
    return service.create_product(session, actor, data)


@router.get("/products", tags=["products"], response_model=list[schemas.ProductRead])
def list_products(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_products(session, actor)


@router.post("/growing-areas", tags=["growing areas"], response_model=schemas.GrowingAreaRead, status_code=201)
def create_growing_area(data: schemas.GrowingAreaCreate, session: DbSession, state: State, actor: Packer) -> object:
    return service.create_growing_area(session, state.settings, actor, data)


@router.get("/growing-areas", tags=["growing areas"], response_model=list[schemas.GrowingAreaRead])
def list_growing_areas(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_growing_areas(session, actor)


@router.post("/households", tags=["households"], response_model=schemas.HouseholdRead, status_code=201)
def create_household(data: schemas.HouseholdCreate, session: DbSession, actor: Packer) -> object:
    return service.create_household(session, actor, data)


@router.get("/households", tags=["households"], response_model=list[schemas.HouseholdRead])
def list_households(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_households(session, actor)


@router.post("/lots", tags=["lots"], response_model=schemas.LotRead, status_code=201)
def create_lot(data: schemas.LotCreate, session: DbSession, actor: Packer) -> object:
    return service.create_lot(session, actor, data)


@router.get("/lots", tags=["lots"], response_model=list[schemas.LotRead])
def list_lots(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_lots(session, actor)


@router.get("/lots/{lot_id}", tags=["lots"], response_model=schemas.LotRead)
def get_lot(lot_id: DbId, session: DbSession, actor: PackerOrMinistry) -> object:
    return service.get_lot(session, actor, lot_id)


@router.put("/lots/{lot_id}/destinations", tags=["lots"], response_model=schemas.LotRead)
def set_destinations(lot_id: DbId, data: schemas.LotDestinations, session: DbSession, actor: Packer) -> object:
    return service.set_destinations(session, actor, lot_id, data)


@router.post("/lots/{lot_id}/stages", tags=["lots"], response_model=schemas.StageRead, status_code=201)
def add_stage(lot_id: DbId, data: schemas.StageCreate, session: DbSession, actor: Packer) -> object:
    return service.add_stage(session, actor, lot_id, data)


@router.post("/lots/{lot_id}/documents", tags=["lots"], response_model=schemas.DocumentRead, status_code=201)
def add_document(lot_id: DbId, data: schemas.DocumentCreate, session: DbSession, actor: Packer) -> object:
    return service.add_document(session, actor, lot_id, data)


@router.post("/orders", tags=["orders"], response_model=schemas.OrderRead, status_code=201)
def create_order(data: schemas.OrderCreate, session: DbSession, keys: Keys, actor: Packer) -> object:
    return service.create_order(session, keys, actor, data)


@router.get("/orders", tags=["orders"], response_model=list[schemas.OrderRead])
def list_orders(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_orders(session, actor)


@router.get("/orders/{order_id}", tags=["orders"], response_model=schemas.OrderRead)
def get_order(order_id: DbId, session: DbSession, actor: PackerOrMinistry) -> object:
    return service.get_order(session, actor, order_id)


@router.post("/orders/{order_id}/approve", tags=["orders"], response_model=schemas.OrderRead)
def approve_order(order_id: DbId, session: DbSession, keys: Keys, actor: Ministry) -> object:
    return service.approve_order(session, keys, actor, order_id)


@router.post("/orders/{order_id}/reject", tags=["orders"], response_model=schemas.OrderRead)
def reject_order(order_id: DbId, data: schemas.OrderDecision, session: DbSession, actor: Ministry) -> object:
    return service.reject_order(session, actor, order_id, data.reason)


@router.get(
    "/orders/{order_id}/stamps.csv",
    tags=["orders"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "A header row `uri`, then one stamp URI per line"}},
)
def order_stamps_csv(
    order_id: DbId, session: DbSession, state: State, keys: Keys, actor: PackerOrMinistry
) -> StreamingResponse:
    stamps = service.order_stamps(session, keys, actor, order_id)
    base = state.settings.public_base_url

    def lines() -> Iterator[bytes]:
        yield b"uri\n"  # the header row (RFC 4180): one column
        batch: list[str] = []
        for uri in stamps.uris(base):
            batch.append(uri)
            if len(batch) == 2000:
                yield ("\n".join(batch) + "\n").encode()
                batch.clear()
        if batch:
            yield ("\n".join(batch) + "\n").encode()

    filename = f"tem-order-{order_id}-{stamps.first_serial}-{stamps.last_serial}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; header=present",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/activations", tags=["activations"], response_model=schemas.ActivationRead, status_code=201)
def activate(data: schemas.ActivationCreate, session: DbSession, state: State, actor: Packer) -> object:
    return service.activate(session, actor, data, GateRules.from_settings(state.settings))


@router.get("/activations", tags=["activations"], response_model=list[schemas.ActivationRead])
def list_activations(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_activations(session, actor)


@router.post("/revocations", tags=["revocations"], response_model=list[schemas.RevocationRead], status_code=201)
def revoke(data: schemas.RevocationCreate, session: DbSession, actor: PackerOrMinistry) -> object:
    return service.revoke(session, actor, data)


@router.get("/revocations", tags=["revocations"], response_model=list[schemas.RevocationRead])
def list_revocations(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_revocations(session, actor)


# The farming diary and evidence files of a growing area

AreaReader = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY, Role.PROVINCE, Role.INSPECTOR)]
AreaCode = Annotated[str, PathParam(min_length=2, max_length=40)]
MAX_EVIDENCE_UPLOAD = service.MAX_EVIDENCE_BYTES + 64 * 1024


@router.post(
    "/growing-areas/{code}/diary", tags=["farming diary"], response_model=schemas.DiaryEntryRead, status_code=201
)
def add_diary_entry(
    code: AreaCode, data: schemas.DiaryEntryCreate, session: DbSession, state: State, actor: Packer
) -> object:
    """Append an entry to the area's diary, for the household. Entries are never changed or deleted: a
    correction is a new entry whose `corrects` names the entry it supersedes."""
    return service.add_diary_entry(session, actor, code, data, GateRules.from_settings(state.settings))


@router.get("/growing-areas/{code}/diary", tags=["farming diary"], response_model=list[schemas.DiaryEntryRead])
def list_diary(code: AreaCode, session: DbSession, state: State, actor: AreaReader) -> object:
    return service.list_diary(session, actor, code, GateRules.from_settings(state.settings))


@router.post(
    "/growing-areas/{code}/evidence", tags=["growing areas"], response_model=schemas.EvidenceRead, status_code=201
)
async def add_evidence(code: AreaCode, request: Request, session: DbSession, actor: Packer) -> object:
    """Multipart: `file` (PDF, JPEG, PNG or TIFF, at most 20 MB), `kind` (imagery or report), and optionally
    `captured_on` (YYYY-MM-DD). The answer carries the file's SHA-256."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_EVIDENCE_UPLOAD:
        raise InvalidInput("the file is larger than 20 MB", field="file")
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=4096)
    except (HTTPException, MultiPartException):
        raise InvalidInput("the body is not a multipart form with one file", field="file") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("no file was sent", field="file")
        name, data = upload.filename or "", await upload.read(service.MAX_EVIDENCE_BYTES + 1)
        kind, when = str(form.get("kind") or ""), str(form.get("captured_on") or "")
    finally:
        await form.close()
    try:
        captured_on = dt.date.fromisoformat(when) if when else None
    except ValueError:
        raise InvalidInput("captured_on must be a date, YYYY-MM-DD", field="captured_on") from None
    return await run_in_threadpool(service.add_evidence, session, actor, code, kind, name, data, captured_on)


@router.get("/growing-areas/{code}/evidence", tags=["growing areas"], response_model=list[schemas.EvidenceRead])
def list_evidence(code: AreaCode, session: DbSession, actor: AreaReader) -> object:
    return service.list_evidence(session, actor, code)
