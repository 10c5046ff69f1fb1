"""Registry logic. Services check rules and flush; the caller's unit of work commits or rolls back."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import StampSigner
from detection.engine.model import Role
from detection.ports import RevocationCategory
from identity import repository as identity_repository
from identity.models import ApiToken, Organisation, OrgKind
from identity.principal import Principal, hash_token, new_token
from issuer import activation_gates, areas, audit, chain_events, repository, schemas
from issuer.activation_gates import GateRules
from issuer.keys import SignerCache, load_kek
from issuer.models import (
    Activation,
    AreaEvidence,
    DiaryEntry,
    DiaryKind,
    FarmerHousehold,
    GrowingArea,
    Lot,
    LotDocument,
    LotGrowingArea,
    LotHousehold,
    OrderStatus,
    Product,
    Revocation,
    RollOrder,
    SerialRange,
    StageRecord,
)
from issuer.validation import code_matching
from printing.templates import list_templates
from tem.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tem.core.settings import OrderApproval, Settings
from tem.core.time import utcnow
from templates import LABELS

ROLE_KINDS: dict[Role, tuple[OrgKind, ...]] = {
    Role.PACKER: (OrgKind.PACKING_HOUSE,),
    Role.INSPECTOR: (OrgKind.INSPECTION_AGENCY, OrgKind.MINISTRY),
    Role.DISTRIBUTOR: (OrgKind.DISTRIBUTOR,),
    Role.MINISTRY: (OrgKind.MINISTRY,),
    Role.PROVINCE: (OrgKind.PROVINCE_AUTHORITY,),
}


def _scope(actor: Principal) -> int | None:
    """The organisation a caller is limited to: packers see their own, the ministry sees all."""
    if actor.role is Role.MINISTRY:
        return None
    if actor.role is Role.PACKER and actor.organisation_id is not None:
        return actor.organisation_id
    raise Forbidden("this role cannot use the registry")


def _own_org(actor: Principal) -> int:
    if actor.role is not Role.PACKER or actor.organisation_id is None:
        raise Forbidden("only a packing house can do this")
    return actor.organisation_id


def _require_ministry(actor: Principal) -> None:
    if actor.role is not Role.MINISTRY:
        raise Forbidden("only ministry staff can do this")


def _flush_unique(session: Session, message: str, field: str) -> None:
    """A unique-constraint race is an expected conflict, not a server error."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(message, field=field) from None


# Organisations and tokens


def create_organisation(
    session: Session, settings: Settings, actor: Principal, data: schemas.OrganisationCreate
) -> Organisation:
    _require_ministry(actor)
    code = data.code.strip().upper()
    if data.kind is OrgKind.PACKING_HOUSE:
        try:
            code = code_matching(code, settings.packing_house_code_pattern, "packing-house code")
        except ValueError as exc:
            raise InvalidInput(str(exc), field="code") from None
    if repository.organisation_by_code(session, code) is not None:
        raise Conflict(f"an organisation with code {code} already exists", field="code")
    if data.gln is not None and repository.organisation_by_gln(session, data.gln) is not None:
        raise Conflict(f"an organisation with GLN {data.gln} already exists", field="gln")
    org = Organisation(kind=data.kind.value, name=data.name, code=code, province=data.province, gln=data.gln)
    session.add(org)
    _flush_unique(session, f"an organisation with code {code} already exists", "code")
    audit.record(session, actor, "organisation.created", f"organisation:{code}", {"kind": org.kind}, org.id)
    return org


def organisation(session: Session, code: str) -> Organisation:
    org = repository.organisation_by_code(session, code)
    if org is None:
        raise NotFound(f"no organisation with code {code!r}", field="org")
    return org


def create_token(session: Session, actor: Principal, data: schemas.TokenCreate) -> tuple[ApiToken, str]:
    """Returns the token row and the token itself, which is shown once and never stored."""
    _require_ministry(actor)
    org = organisation(session, data.organisation)
    if OrgKind(org.kind) not in ROLE_KINDS[data.role]:
        allowed = ", ".join(kind.value for kind in ROLE_KINDS[data.role])
        raise InvalidInput(
            f"role {data.role.value} needs an organisation of kind {allowed}; {org.code} is {org.kind}",
            field="role",
        )
    token = new_token()
    expires = utcnow() + dt.timedelta(days=data.expires_in_days) if data.expires_in_days is not None else None
    row = ApiToken(
        organisation_id=org.id, role=data.role.value, name=data.name, token_hash=hash_token(token), expires_at=expires
    )
    session.add(row)
    session.flush()
    details = {"role": row.role, "name": row.name, "expires_at": expires.isoformat() if expires else None}
    audit.record(session, actor, "token.created", f"token:{row.id}", details, org.id)
    return row, token


def list_organisations(session: Session) -> list[Organisation]:
    return identity_repository.organisations(session)


def list_tokens(session: Session, actor: Principal) -> list[tuple[ApiToken, Organisation]]:
    """Every API token with its organisation (never the token itself: only its hash is kept)."""
    _require_ministry(actor)
    return identity_repository.tokens(session)


def revoke_token(session: Session, actor: Principal, token_id: int) -> ApiToken:
    """A revoked token stops authenticating at once, and so do the browser sessions started from it. The ministry
    revokes any token; any caller may revoke the token it is calling with."""
    if actor.token_id != token_id:
        _require_ministry(actor)
    row = identity_repository.token_by_id(session, token_id)
    if row is None:
        raise NotFound(f"no API token with id {token_id}", field="token")
    if row.revoked_at is not None:
        raise Conflict(f"API token {token_id} is already revoked")
    row.revoked_at = utcnow()
    session.flush()
    audit.record(
        session, actor, "token.revoked", f"token:{row.id}", {"role": row.role, "name": row.name}, row.organisation_id
    )
    return row


# Products, growing areas, households


def create_product(session: Session, actor: Principal, data: schemas.ProductCreate) -> Product:
    org_id = _own_org(actor)
    if repository.product_by_gtin(session, data.gtin, None) is not None:
        raise Conflict(f"GTIN {data.gtin} is already registered", field="gtin")
    product = Product(organisation_id=org_id, **data.model_dump())
    session.add(product)
    _flush_unique(session, f"GTIN {data.gtin} is already registered", "gtin")
    audit.record(session, actor, "product.created", f"product:{product.gtin}", {})
    return product


def list_products(session: Session, actor: Principal) -> Sequence[Product]:
    return repository.products(session, _scope(actor))


def _product(session: Session, actor: Principal, gtin: str) -> Product:
    product = repository.product_by_gtin(session, gtin, _scope(actor))
    if product is None:
        raise NotFound(f"no product with GTIN {gtin}", field="gtin")
    return product


def create_growing_area(
    session: Session, settings: Settings, actor: Principal, data: schemas.GrowingAreaCreate
) -> GrowingArea:
    org_id = _own_org(actor)
    try:
        code = code_matching(data.code, settings.growing_area_code_pattern, "growing-area code")
    except ValueError as exc:
        raise InvalidInput(str(exc), field="code") from None
    if areas.by_code(session, code) is not None:  # unique nationally, whichever packing house holds it
        raise Conflict(f"growing area {code} is already registered", field="code")
    fields = {**data.model_dump(), "code": code, **areas.boundary_fields(data.boundary)}
    area = GrowingArea(organisation_id=org_id, **fields)
    session.add(area)
    _flush_unique(session, f"growing area {code} is already registered", "code")
    audit.record(session, actor, "growing_area.created", f"growing_area:{code}", {})
    return area


def list_growing_areas(session: Session, actor: Principal) -> Sequence[GrowingArea]:
    return repository.growing_areas(session, _scope(actor))


def create_household(session: Session, actor: Principal, data: schemas.HouseholdCreate) -> schemas.HouseholdRead:
    org_id = _own_org(actor)
    code = data.growing_area.strip().upper()
    area = repository.growing_areas_by_code(session, org_id, [code]).get(code)
    if area is None:
        raise NotFound(f"no growing area with code {code}", field="growing_area")
    household = FarmerHousehold(organisation_id=org_id, growing_area_id=area.id, name=data.name)
    session.add(household)
    session.flush()
    audit.record(session, actor, "household.created", f"household:{household.id}", {})
    return schemas.HouseholdRead(id=household.id, name=household.name, growing_area=area.code)


def list_households(session: Session, actor: Principal) -> list[schemas.HouseholdRead]:
    return [
        schemas.HouseholdRead(id=h.id, name=h.name, growing_area=code)
        for h, code in repository.households(session, _scope(actor))
    ]


# Lots and stage records


def create_lot(session: Session, actor: Principal, data: schemas.LotCreate) -> schemas.LotRead:
    org_id = _own_org(actor)
    product = _product(session, actor, data.gtin)
    if repository.lots(session, org_id, data.code):
        raise Conflict(f"lot {data.code} already exists", field="code")
    codes = sorted({code.strip().upper() for code in data.growing_areas})
    areas = repository.growing_areas_by_code(session, org_id, codes)
    missing = [code for code in codes if code not in areas]
    if missing:
        raise NotFound(f"unknown growing area code(s): {', '.join(missing)}", field="growing_areas")
    household_ids = sorted(set(data.households))
    found = {h.id for h, _ in repository.households(session, org_id, household_ids)}
    unknown = [str(i) for i in household_ids if i not in found]
    if unknown:
        raise NotFound(f"unknown farmer household id(s): {', '.join(unknown)}", field="households")
    lot = Lot(
        organisation_id=org_id,
        product_id=product.id,
        code=data.code,
        harvest_dates=sorted({d.isoformat() for d in data.harvest_dates}),
        packing_date=data.packing_date,
        quantity=data.quantity,
        quantity_unit=data.quantity_unit,
        destination_markets=sorted(set(data.destination_markets)),
        border_gates=sorted(set(data.border_gates)),
        destination_places=[p.model_dump() for p in data.destination_places],
        show_household_names=data.show_household_names,
    )
    session.add(lot)
    _flush_unique(session, f"lot {data.code} already exists", "code")
    session.add_all(LotGrowingArea(lot_id=lot.id, growing_area_id=areas[c].id) for c in codes)
    session.add_all(LotHousehold(lot_id=lot.id, household_id=i) for i in household_ids)
    session.flush()
    audit.record(session, actor, "lot.created", f"lot:{lot.code}", {"gtin": product.gtin})
    return _lot_reads(session, [(lot, product.gtin)])[0]


def _lot_reads(session: Session, rows: Sequence[tuple[Lot, str]]) -> list[schemas.LotRead]:
    ids = [lot.id for lot, _ in rows]
    areas = repository.lot_growing_area_codes(session, ids)
    households = repository.lot_household_rows(session, ids)
    stages = repository.stages(session, ids)
    documents = repository.documents(session, ids)
    consignees = repository.organisation_codes(
        session, {s.consignee_organisation_id for rows in stages.values() for s in rows if s.consignee_organisation_id}
    )
    return [
        schemas.LotRead(
            id=lot.id,
            code=lot.code,
            gtin=gtin,
            harvest_dates=[dt.date.fromisoformat(d) for d in lot.harvest_dates],
            packing_date=lot.packing_date,
            quantity=lot.quantity,
            quantity_unit=lot.quantity_unit,
            destination_markets=lot.destination_markets,
            border_gates=lot.border_gates,
            destination_places=[schemas.DeclaredPlace.model_validate(p) for p in lot.destination_places],
            growing_areas=areas[lot.id],
            households=[
                schemas.HouseholdRead(id=h.id, name=h.name, growing_area=code) for h, code in households[lot.id]
            ],
            show_household_names=lot.show_household_names,
            stages=[stage_read(s, consignees.get(s.consignee_organisation_id or 0)) for s in stages[lot.id]],
            documents=[schemas.DocumentRead.model_validate(d) for d in documents[lot.id]],
        )
        for lot, gtin in rows
    ]


def list_lots(session: Session, actor: Principal) -> list[schemas.LotRead]:
    return _lot_reads(session, repository.lots(session, _scope(actor)))


def get_lot(session: Session, actor: Principal, lot_id: int) -> schemas.LotRead:
    row = repository.lot_by_id(session, lot_id, _scope(actor))
    if row is None:
        raise NotFound(f"no lot with id {lot_id}")
    return _lot_reads(session, [row])[0]


def _own_lot_by_code(session: Session, actor: Principal, code: str) -> tuple[Lot, str]:
    rows = repository.lots(session, _scope(actor), code)
    if not rows:
        raise NotFound(f"no lot with code {code}", field="lot")
    if len(rows) > 1:
        raise InvalidInput(f"lot code {code} is used by several packing houses; use the lot's id", field="lot")
    return rows[0]


def set_destinations(session: Session, actor: Principal, lot_id: int, data: schemas.LotDestinations) -> schemas.LotRead:
    """Replace the lot's declared destinations (markets, border gates, places): what detection checks its scans
    against from the next registry refresh on, which the audit record below triggers."""
    org_id = _own_org(actor)
    row = repository.lot_by_id(session, lot_id, org_id)
    if row is None:
        raise NotFound(f"no lot with id {lot_id}")
    lot, gtin = row
    lot.destination_markets = sorted(set(data.destination_markets))
    lot.border_gates = sorted(set(data.border_gates))
    lot.destination_places = [p.model_dump() for p in data.destination_places]
    session.flush()
    audit.record(
        session,
        actor,
        "lot.destinations_changed",
        f"lot:{lot.code}",
        {
            "destination_markets": lot.destination_markets,
            "border_gates": lot.border_gates,
            "destination_places": [p.name for p in data.destination_places],
        },
    )
    return _lot_reads(session, [(lot, gtin)])[0]


def _consignee(session: Session, code: str, own_org: int) -> Organisation:
    org = repository.organisation_by_code(session, code.strip().upper())
    if org is None:
        raise InvalidInput(f"no organisation with code {code}", field="consignee")
    if org.id == own_org or org.kind not in (OrgKind.DISTRIBUTOR, OrgKind.PACKING_HOUSE):
        raise InvalidInput(
            f"{code} cannot receive a lot: a consignee is a distributor or another packing house", field="consignee"
        )
    return org


def stage_read(record: StageRecord, consignee_code: str | None) -> schemas.StageRead:
    read = schemas.StageRead.model_validate(record)
    read.consignee = consignee_code
    return read


def add_stage(session: Session, actor: Principal, lot_id: int, data: schemas.StageCreate) -> schemas.StageRead:
    """Record a stage of the packer's lot, and the EPCIS event that says it. A shipping stage may name its
    consignee, which may then record the lot's next stages."""
    org_id = _own_org(actor)
    found = repository.lot_by_id(session, lot_id, org_id)
    if found is None:
        raise NotFound(f"no lot with id {lot_id}")
    lot, gtin = found
    consignee = _consignee(session, data.consignee, org_id) if data.consignee else None
    record = StageRecord(
        lot_id=lot_id,
        consignee_organisation_id=consignee.id if consignee else None,
        **data.model_dump(exclude={"consignee"}),
    )
    session.add(record)
    session.flush()
    chain_events.record_stage(session, lot, gtin, record)
    details: dict[str, object] = {"stage": data.stage.value}
    if consignee is not None:
        details["consignee"] = consignee.code
    audit.record(session, actor, "lot.stage_recorded", f"lot:{lot_id}", details)
    return stage_read(record, consignee.code if consignee else None)


def add_document(session: Session, actor: Principal, lot_id: int, data: schemas.DocumentCreate) -> LotDocument:
    """Attach a phytosanitary certificate number or a lab result to one of the packer's lots."""
    org_id = _own_org(actor)
    if repository.lot_by_id(session, lot_id, org_id) is None:
        raise NotFound(f"no lot with id {lot_id}")
    document = LotDocument(lot_id=lot_id, **data.model_dump())
    session.add(document)
    session.flush()
    audit.record(session, actor, "lot.document_attached", f"lot:{lot_id}", {"kind": data.kind.value})
    return document


# Roll orders and serial allocation


@dataclass(frozen=True, slots=True)
class Keys:
    """What issuing needs to reach the signing keys."""

    settings: Settings
    signers: SignerCache

    def active_signer(self, session: Session) -> StampSigner:
        return self.signers.active_signer(session, load_kek(self.settings))

    def signer(self, session: Session, kid: str) -> StampSigner:
        return self.signers.signer(session, kid, load_kek(self.settings))


def _order_read(order: RollOrder, gtin: str, serial_range: SerialRange | None) -> schemas.OrderRead:
    return schemas.OrderRead(
        id=order.id,
        gtin=gtin,
        quantity=order.quantity,
        template=order.template,
        status=OrderStatus(order.status),
        kid=order.kid,
        first_serial=serial_range.first_serial if serial_range else None,
        last_serial=serial_range.last_serial if serial_range else None,
        created_by=order.created_by,
        created_at=order.created_at,
        rejection_reason=order.rejection_reason,
    )


def _issue(session: Session, keys: Keys, actor: Principal, order: RollOrder, gtin: str) -> SerialRange:
    """Allocate the order's serials under the active key. Stamps are signed from (kid, gtin, serial)."""
    signer = keys.active_signer(session)
    first, last = repository.allocate(session, gtin, order.quantity)
    serial_range = SerialRange(
        order_id=order.id,
        organisation_id=order.organisation_id,
        gtin=gtin,
        first_serial=first,
        last_serial=last,
        kid=signer.kid,
    )
    order.kid = signer.kid
    order.status = OrderStatus.APPROVED.value
    session.add(serial_range)
    session.flush()
    audit.record(
        session,
        actor,
        "order.issued",
        f"order:{order.id}",
        {"gtin": gtin, "first_serial": first, "last_serial": last, "kid": signer.kid},
        order.organisation_id,
    )
    return serial_range


def _check_template(settings: Settings, name: str) -> None:
    """An order names the template it will print with; one that does not exist could never be printed."""
    folder = settings.label_templates or LABELS
    names = list_templates(folder) if folder.is_dir() else []
    if name not in names:
        raise InvalidInput(
            f"no label template {name!r}; the available templates are: {', '.join(names)}", field="template"
        )


def create_order(
    session: Session,
    keys: Keys,
    actor: Principal,
    data: schemas.OrderCreate,
    organisation_id: int | None = None,
) -> schemas.OrderRead:
    """A packer orders for itself; the console operator may order on an organisation's behalf."""
    org_id = organisation_id if actor.token_id is None and organisation_id else _own_org(actor)
    maximum = keys.settings.max_order_quantity
    if data.quantity > maximum:
        raise InvalidInput(f"quantity {data.quantity} is above the maximum of {maximum} per order", field="quantity")
    product = repository.product_by_gtin(session, data.gtin, org_id)
    if product is None:
        raise NotFound(f"no product with GTIN {data.gtin}", field="gtin")
    _check_template(keys.settings, data.template)
    order = RollOrder(
        organisation_id=org_id,
        product_id=product.id,
        quantity=data.quantity,
        template=data.template,
        status=OrderStatus.PENDING.value,
        created_by=actor.actor,
    )
    session.add(order)
    session.flush()
    audit.record(
        session,
        actor,
        "order.created",
        f"order:{order.id}",
        {"gtin": product.gtin, "quantity": data.quantity},
        org_id,
    )
    serial_range = None
    if keys.settings.order_approval is OrderApproval.AUTO:
        serial_range = _issue(session, keys, actor, order, product.gtin)
    return _order_read(order, product.gtin, serial_range)


def list_orders(session: Session, actor: Principal) -> list[schemas.OrderRead]:
    return [_order_read(*row) for row in repository.orders(session, _scope(actor))]


def get_order(session: Session, actor: Principal, order_id: int) -> schemas.OrderRead:
    rows = repository.orders(session, _scope(actor), order_id)
    if not rows:
        raise NotFound(f"no order with id {order_id}")
    return _order_read(*rows[0])


def _pending_order(session: Session, order_id: int) -> tuple[RollOrder, str]:
    order = repository.lock_order(session, order_id)
    rows = repository.orders(session, None, order_id)
    if order is None or not rows:
        raise NotFound(f"no order with id {order_id}")
    if order.status != OrderStatus.PENDING.value:
        raise Conflict(f"order {order_id} is already {order.status}")
    return order, rows[0][1]


def approve_order(session: Session, keys: Keys, actor: Principal, order_id: int) -> schemas.OrderRead:
    _require_ministry(actor)
    order, gtin = _pending_order(session, order_id)
    order.decided_by = actor.actor
    order.decided_at = utcnow()
    serial_range = _issue(session, keys, actor, order, gtin)
    return _order_read(order, gtin, serial_range)


def reject_order(session: Session, actor: Principal, order_id: int, reason: str) -> schemas.OrderRead:
    _require_ministry(actor)
    order, gtin = _pending_order(session, order_id)
    order.status = OrderStatus.REJECTED.value
    order.decided_by = actor.actor
    order.decided_at = utcnow()
    order.rejection_reason = reason
    session.flush()
    audit.record(session, actor, "order.rejected", f"order:{order.id}", {"reason": reason}, order.organisation_id)
    return _order_read(order, gtin, None)


@dataclass(frozen=True, slots=True)
class OrderStamps:
    order_id: int
    gtin: str
    first_serial: int
    last_serial: int
    signer: StampSigner

    def uris(self, base: str) -> Iterator[str]:
        return self.signer.uris(base, self.gtin, self.first_serial, self.last_serial)


def order_stamps(session: Session, keys: Keys, actor: Principal, order_id: int) -> OrderStamps:
    """What is needed to stream an order's stamps; the signing itself happens outside the transaction."""
    rows = repository.orders(session, _scope(actor), order_id)
    if not rows:
        raise NotFound(f"no order with id {order_id}")
    order, gtin, serial_range = rows[0]
    if serial_range is None:
        raise Conflict(f"order {order_id} is {order.status}; it has no stamps yet")
    signer = keys.signer(session, serial_range.kid)
    audit.record(
        session,
        actor,
        "order.stamps_downloaded",
        f"order:{order_id}",
        {"first_serial": serial_range.first_serial, "last_serial": serial_range.last_serial},
        order.organisation_id,
    )
    return OrderStamps(order_id, gtin, serial_range.first_serial, serial_range.last_serial, signer)


# Activation and revocation


def _range_text(first: int, last: int) -> str:
    return f"{first}–{last}" if first != last else str(first)


def _check_issued_to(session: Session, gtin: str, first: int, last: int, organisation_id: int | None) -> int:
    """The range must be wholly issued to one organisation (this one, when given); returns it."""
    ranges = repository.issued_overlapping(session, gtin, first, last)
    owners = {r.organisation_id for r in ranges}
    if organisation_id is not None and owners - {organisation_id}:
        raise InvalidInput(
            f"serials {_range_text(first, last)} of GTIN {gtin} were not issued to your packing house",
            field="first_serial",
        )
    if len(owners) > 1:
        raise InvalidInput("the range covers stamps of several packing houses; revoke each part", field="first_serial")
    expected = first
    for r in ranges:
        if r.first_serial > expected:
            break
        expected = max(expected, r.last_serial + 1)
    if not ranges or expected <= last:
        raise InvalidInput(
            f"serials {_range_text(first, last)} of GTIN {gtin} have not all been issued"
            + (" to your packing house" if organisation_id is not None else ""),
            field="first_serial",
        )
    return owners.pop()


def activate(
    session: Session, actor: Principal, data: schemas.ActivationCreate, rules: GateRules | None = None
) -> schemas.ActivationRead:
    org_id = _own_org(actor)
    lot, lot_gtin = _own_lot_by_code(session, actor, data.lot)
    areas.check_area_status(session, lot)
    activation_gates.check(session, lot, rules or GateRules())
    if lot_gtin != data.gtin:
        raise InvalidInput(f"lot {data.lot} is for GTIN {lot_gtin}, not {data.gtin}", field="gtin")
    repository.lock_gtin(session, data.gtin)
    _check_issued_to(session, data.gtin, data.first_serial, data.last_serial, org_id)
    clash = repository.activations_overlapping(session, data.gtin, data.first_serial, data.last_serial)
    if clash:
        taken = ", ".join(_range_text(a.first_serial, a.last_serial) for a in clash)
        raise Conflict(f"serials {taken} are already activated", field="first_serial")
    revoked = repository.revocations_overlapping(session, data.gtin, data.first_serial, data.last_serial)
    if revoked:
        gone = ", ".join(_range_text(r.first_serial, r.last_serial) for r in revoked)
        raise Conflict(f"serials {gone} are revoked and cannot be activated", field="first_serial")
    activation = Activation(
        organisation_id=org_id,
        lot_id=lot.id,
        gtin=data.gtin,
        first_serial=data.first_serial,
        last_serial=data.last_serial,
        created_by=actor.actor,
    )
    session.add(activation)
    _flush_unique(session, "these serials are already activated", "first_serial")
    chain_events.record_activation(session, activation, lot)
    audit.record(
        session,
        actor,
        "stamps.activated",
        f"lot:{lot.code}",
        {"gtin": data.gtin, "first_serial": data.first_serial, "last_serial": data.last_serial},
    )
    return schemas.ActivationRead(
        id=activation.id,
        gtin=activation.gtin,
        first_serial=activation.first_serial,
        last_serial=activation.last_serial,
        lot=lot.code,
        created_at=activation.created_at,
    )


def list_activations(session: Session, actor: Principal) -> list[schemas.ActivationRead]:
    return [
        schemas.ActivationRead(
            id=a.id,
            gtin=a.gtin,
            first_serial=a.first_serial,
            last_serial=a.last_serial,
            lot=code,
            created_at=a.created_at,
        )
        for a, code in repository.activations(session, _scope(actor))
    ]


def revoke(session: Session, actor: Principal, data: schemas.RevocationCreate) -> list[schemas.RevocationRead]:
    """Revoke a serial range (a lost roll) or every activated range of a lot (a banned lot)."""
    scope = _scope(actor)
    targets: list[tuple[str, int, int, int, Lot | None]] = []
    if data.lot is not None:
        lot, gtin = _own_lot_by_code(session, actor, data.lot)
        ranges = repository.activations_of_lot(session, lot.id)
        if not ranges:
            raise InvalidInput(f"lot {lot.code} has no activated stamps to revoke", field="lot")
        targets = [(gtin, a.first_serial, a.last_serial, lot.organisation_id, lot) for a in ranges]
    else:
        # The schema guarantees a full range when no lot is given.
        assert data.gtin is not None
        assert data.first_serial is not None
        assert data.last_serial is not None
        owner = _check_issued_to(session, data.gtin, data.first_serial, data.last_serial, scope)
        targets = [(data.gtin, data.first_serial, data.last_serial, owner, None)]
    created = []
    for gtin, first, last, owner, revoked_lot in targets:
        revocation = Revocation(
            organisation_id=owner,
            gtin=gtin,
            first_serial=first,
            last_serial=last,
            lot_id=revoked_lot.id if revoked_lot else None,
            category=data.category.value,
            reason=data.reason,
            created_by=actor.actor,
        )
        session.add(revocation)
        session.flush()
        chain_events.record_revocation(session, revocation, revoked_lot, gtin)
        audit.record(
            session,
            actor,
            "stamps.revoked",
            f"lot:{revoked_lot.code}" if revoked_lot else f"gtin:{gtin}",
            {
                "gtin": gtin,
                "first_serial": first,
                "last_serial": last,
                "category": data.category.value,
                "reason": data.reason,
            },
            owner,
        )
        created.append(
            schemas.RevocationRead(
                id=revocation.id,
                gtin=gtin,
                first_serial=first,
                last_serial=last,
                lot=revoked_lot.code if revoked_lot else None,
                category=data.category,
                reason=data.reason,
                created_at=revocation.created_at,
            )
        )
    return created


def list_revocations(session: Session, actor: Principal) -> list[schemas.RevocationRead]:
    return [
        schemas.RevocationRead(
            id=r.id,
            gtin=r.gtin,
            first_serial=r.first_serial,
            last_serial=r.last_serial,
            lot=code,
            category=RevocationCategory(r.category),
            reason=r.reason,
            created_at=r.created_at,
        )
        for r, code in repository.revocations(session, _scope(actor))
    ]


# The farming diary and the evidence files of a growing area


def _own_area(session: Session, actor: Principal, code: str) -> GrowingArea:
    org_id = _own_org(actor)
    code = code.strip().upper()
    area = repository.growing_areas_by_code(session, org_id, [code]).get(code)
    if area is None:
        raise NotFound(f"no growing area with code {code}")
    return area


def _diary_read(
    entry: DiaryEntry, area: str, superseded_by: int | None, pesticides: activation_gates.Pesticides
) -> schemas.DiaryEntryRead:
    ingredients = list(entry.active_ingredients or [])
    return schemas.DiaryEntryRead(
        id=entry.id,
        growing_area=area,
        date=entry.date,
        kind=DiaryKind(entry.kind),
        product=entry.product,
        active_ingredients=ingredients,
        dose=entry.dose,
        unit=entry.unit,
        phi_days=entry.phi_days,
        effective_phi_days=activation_gates.phi_of(entry, pesticides),
        note=entry.note,
        corrects=entry.corrects,
        superseded_by=superseded_by,
        banned_ingredients=[i for i in ingredients if pesticides.banned_in([i]) is not None],
        created_by=entry.created_by,
        created_at=entry.created_at,
    )


def add_diary_entry(
    session: Session, actor: Principal, code: str, data: schemas.DiaryEntryCreate, rules: GateRules | None = None
) -> schemas.DiaryEntryRead:
    """Appends an entry; a correction names the entry it supersedes, which is kept as it was."""
    area = _own_area(session, actor, code)
    pesticides = (rules or GateRules()).pesticides()
    if data.corrects is not None:
        target = repository.diary_entry(session, data.corrects)
        if target is None or target.growing_area_id != area.id:
            raise NotFound(f"no diary entry {data.corrects} in growing area {area.code}", field="corrects")
        later = [e.id for e in repository.diary_entries(session, area.id) if e.corrects == target.id]
        if later:
            raise Conflict(f"diary entry {target.id} is already corrected by entry {later[0]}", field="corrects")
    entry = DiaryEntry(
        growing_area_id=area.id,
        organisation_id=area.organisation_id,
        date=data.date,
        kind=data.kind.value,
        product=data.product,
        active_ingredients=list(data.active_ingredients),
        dose=data.dose,
        unit=data.unit,
        phi_days=data.phi_days,
        note=data.note,
        corrects=data.corrects,
        created_by=actor.actor,
    )
    session.add(entry)
    _flush_unique(session, f"diary entry {data.corrects} is already corrected", "corrects")
    audit.record(
        session,
        actor,
        "diary.entry_recorded",
        f"growing_area:{area.code}",
        {
            "entry": entry.id,
            "date": data.date.isoformat(),
            "kind": data.kind.value,
            "product": data.product,
            "active_ingredients": list(data.active_ingredients),
            "phi_days": data.phi_days,
            "corrects": data.corrects,
            "pesticides_version": pesticides.version,
        },
    )
    return _diary_read(entry, area.code, None, pesticides)


def list_diary(
    session: Session, actor: Principal, code: str, rules: GateRules | None = None
) -> list[schemas.DiaryEntryRead]:
    """Every entry, superseded ones included, oldest first."""
    area = areas.readable(session, actor, code)
    pesticides = (rules or GateRules()).pesticides()
    entries = repository.diary_entries(session, area.id)
    superseded = {e.corrects: e.id for e in entries if e.corrects is not None}
    return [_diary_read(e, area.code, superseded.get(e.id), pesticides) for e in entries]


MAX_EVIDENCE_BYTES = 20 * 1024 * 1024
EVIDENCE_KINDS = ("imagery", "report")
#: What an evidence file must start with, by the type it is stored as: never the name or the client's word.
EVIDENCE_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),  # GeoTIFF, as satellite scenes come
    (b"MM\x00*", "image/tiff"),
)


def add_evidence(
    session: Session,
    actor: Principal,
    code: str,
    kind: str,
    filename: str,
    data: bytes,
    captured_on: dt.date | None = None,
) -> schemas.EvidenceRead:
    area = _own_area(session, actor, code)
    if kind not in EVIDENCE_KINDS:
        raise InvalidInput(f"unknown evidence kind {kind!r}: use imagery or report", field="kind")
    if not data:
        raise InvalidInput("no file was sent", field="file")
    if len(data) > MAX_EVIDENCE_BYTES:
        raise InvalidInput("the file is larger than 20 MB", field="file")
    content_type = next((t for magic, t in EVIDENCE_MAGIC if data.startswith(magic)), None)
    if content_type is None:
        raise InvalidInput("the file is not a PDF, JPEG, PNG or TIFF", field="file")
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isalnum() or c in "-_. " else "_" for c in base).strip()[:200] or "evidence"
    row = AreaEvidence(
        growing_area_id=area.id,
        organisation_id=area.organisation_id,
        kind=kind,
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        captured_on=captured_on,
        data=data,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "growing_area.evidence_attached",
        f"growing_area:{area.code}",
        {"evidence": row.id, "kind": kind, "sha256": row.sha256, "size": row.size},
    )
    return _evidence_read(row, area.code)


def _evidence_read(row: AreaEvidence, area: str) -> schemas.EvidenceRead:
    return schemas.EvidenceRead(
        id=row.id,
        growing_area=area,
        kind=row.kind,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        captured_on=row.captured_on,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def list_evidence(session: Session, actor: Principal, code: str) -> list[schemas.EvidenceRead]:
    area = areas.readable(session, actor, code)
    return [_evidence_read(row, area.code) for row in repository.area_evidence(session, area.id)]
