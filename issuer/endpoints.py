"""The packing-house API. Routes are thin: parse, call the service, shape the answer."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from identity.dependencies import DbSession, Ministry, Packer, PackerOrMinistry, State
from issuer import schemas, service
from issuer.dependencies import REGISTRY_WRITES, Keys

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
def get_lot(lot_id: int, session: DbSession, actor: PackerOrMinistry) -> object:
    return service.get_lot(session, actor, lot_id)


@router.put("/lots/{lot_id}/destinations", tags=["lots"], response_model=schemas.LotRead)
def set_destinations(lot_id: int, data: schemas.LotDestinations, session: DbSession, actor: Packer) -> object:
    return service.set_destinations(session, actor, lot_id, data)


@router.post("/lots/{lot_id}/stages", tags=["lots"], response_model=schemas.StageRead, status_code=201)
def add_stage(lot_id: int, data: schemas.StageCreate, session: DbSession, actor: Packer) -> object:
    return service.add_stage(session, actor, lot_id, data)


@router.post("/lots/{lot_id}/documents", tags=["lots"], response_model=schemas.DocumentRead, status_code=201)
def add_document(lot_id: int, data: schemas.DocumentCreate, session: DbSession, actor: Packer) -> object:
    return service.add_document(session, actor, lot_id, data)


@router.post("/orders", tags=["orders"], response_model=schemas.OrderRead, status_code=201)
def create_order(data: schemas.OrderCreate, session: DbSession, keys: Keys, actor: Packer) -> object:
    return service.create_order(session, keys, actor, data)


@router.get("/orders", tags=["orders"], response_model=list[schemas.OrderRead])
def list_orders(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_orders(session, actor)


@router.get("/orders/{order_id}", tags=["orders"], response_model=schemas.OrderRead)
def get_order(order_id: int, session: DbSession, actor: PackerOrMinistry) -> object:
    return service.get_order(session, actor, order_id)


@router.post("/orders/{order_id}/approve", tags=["orders"], response_model=schemas.OrderRead)
def approve_order(order_id: int, session: DbSession, keys: Keys, actor: Ministry) -> object:
    return service.approve_order(session, keys, actor, order_id)


@router.post("/orders/{order_id}/reject", tags=["orders"], response_model=schemas.OrderRead)
def reject_order(order_id: int, data: schemas.OrderDecision, session: DbSession, actor: Ministry) -> object:
    return service.reject_order(session, actor, order_id, data.reason)


@router.get(
    "/orders/{order_id}/stamps.csv",
    tags=["orders"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "A header row `uri`, then one stamp URI per line"}},
)
def order_stamps_csv(
    order_id: int, session: DbSession, state: State, keys: Keys, actor: PackerOrMinistry
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
def activate(data: schemas.ActivationCreate, session: DbSession, actor: Packer) -> object:
    return service.activate(session, actor, data)


@router.get("/activations", tags=["activations"], response_model=list[schemas.ActivationRead])
def list_activations(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_activations(session, actor)


@router.post("/revocations", tags=["revocations"], response_model=list[schemas.RevocationRead], status_code=201)
def revoke(data: schemas.RevocationCreate, session: DbSession, actor: PackerOrMinistry) -> object:
    return service.revoke(session, actor, data)


@router.get("/revocations", tags=["revocations"], response_model=list[schemas.RevocationRead])
def list_revocations(session: DbSession, actor: PackerOrMinistry) -> object:
    return service.list_revocations(session, actor)
