"""What the portal adds to the issuer's services: reading what a handheld scanner types, the activation preview,
and an order whose label template is checked first. Everything else is the issuer's own service, called with the
packer's principal, so that the same rules (and the same tenant isolation) hold as for the API."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from alerts import service as alerts
from alerts.repository import AlertFilter
from alerts.schemas import AlertRead
from crypto.stamp import StampFormatError, parse_stamp_uri
from detection.engine.model import Role
from identity.principal import Principal
from issuer import audit, printing_service, schemas
from issuer import service as issuer
from issuer.activation_gates import GateRules
from issuer.models import DocumentKind, LotFile, Product
from portal import repository
from tem.core.errors import InvalidInput, NotFound, TemError
from tem.core.settings import Settings

MAX_SERIAL_DIGITS = 12
M = TypeVar("M", bound=BaseModel)


class PortalInputError(TemError):
    """A form value the portal could not read; `key` names its message in `portal.phrases`."""

    status_code = 422

    def __init__(self, key: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Scanned:
    """A stamp as the scanner typed it: the full URI (its GTIN known) or a bare serial (GTIN from the lot)."""

    serial: int
    gtin: str | None


def read_scanned(text: str) -> Scanned:
    """A full stamp URI, as a handheld scanner types it (trailing newline and all), or a bare serial."""
    value = text.strip()
    if value.isdigit() and len(value) <= MAX_SERIAL_DIGITS:
        return Scanned(int(value), None)
    try:
        parsed = parse_stamp_uri(value)
    except StampFormatError:
        raise PortalInputError("bad_stamp", f"not a stamp URI nor a serial: {value[:80]!r}") from None
    return Scanned(parsed.serial, parsed.gtin)


@dataclass(frozen=True, slots=True)
class ActivationPreview:
    gtin: str
    first_serial: int
    last_serial: int
    lot: str

    @property
    def count(self) -> int:
        return self.last_serial - self.first_serial + 1


def preview_activation(
    session: Session, actor: Principal, first_text: str, last_text: str, lot_code: str
) -> ActivationPreview:
    """What the confirm button will activate. Only reads; the issuer's `activate` checks everything again."""
    lots = {lot.code: lot for lot in issuer.list_lots(session, actor)}
    lot = lots.get(lot_code)
    if lot is None:
        raise PortalInputError("err_no_lot", f"no lot with code {lot_code}")
    first, last = read_scanned(first_text), read_scanned(last_text)
    for scanned in (first, last):
        if scanned.gtin is not None and scanned.gtin != lot.gtin:
            raise PortalInputError(
                "other_gtin",
                f"stamp of GTIN {scanned.gtin}, lot {lot.code} is {lot.gtin}",
                gtin=scanned.gtin,
                lot=lot.code,
            )
    if last.serial < first.serial:
        raise PortalInputError("reversed", "the last serial is smaller than the first")
    return ActivationPreview(lot.gtin, first.serial, last.serial, lot.code)


def activate(
    session: Session, actor: Principal, preview: ActivationPreview, rules: GateRules | None = None
) -> schemas.ActivationRead:
    try:
        data = schemas.ActivationCreate(
            gtin=preview.gtin, first_serial=preview.first_serial, last_serial=preview.last_serial, lot=preview.lot
        )
    except ValueError:
        raise PortalInputError("bad_stamp", "the serials are out of range") from None
    return issuer.activate(session, actor, data, rules)


def template_names(settings: Settings) -> list[str]:
    return [template.name for template in printing_service.available_templates(settings)]


def place_order(
    session: Session, keys: issuer.Keys, actor: Principal, gtin: str, quantity_text: str, template: str
) -> schemas.OrderRead:
    """An order on a template the printers can use: an unknown template is refused here, not at print time."""
    if template not in template_names(keys.settings):
        raise PortalInputError("unknown_template", f"no label template {template!r}", name=template)
    try:
        quantity = int(quantity_text.strip())
    except ValueError:
        raise PortalInputError("bad_quantity", "the quantity is not a number") from None
    if quantity <= 0:
        raise PortalInputError("bad_quantity", "the quantity must be above zero")
    if not gtin:
        raise PortalInputError("no_product", "no product to order stamps for")
    try:
        data = schemas.OrderCreate(gtin=gtin, quantity=quantity, template=template)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return issuer.create_order(session, keys, actor, data)


# Registering growing areas, households and lots; revoking; the packer's alerts


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a form, as the issuer's request shape found it: where (the field, and the row of a
    list), pydantic's kind of error, its limits, and its English words. `portal.phrases.form_problems` says it in
    the reader's language."""

    loc: tuple[str | int, ...]
    kind: str
    message: str
    limits: dict[str, object]

    @property
    def english(self) -> str:
        where = ".".join(str(p) for p in self.loc)
        return f"{where}: {self.message}" if where else self.message


class FormInvalid(InvalidInput):
    """A form the issuer's request shape refused; the page says each problem in the reader's language."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.english for p in problems))
        self.problems = problems


def _validated(model: type[M], **data: object) -> M:
    """The issuer's own request shape, with its checks; what fails is said in words, not as JSON."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                loc=tuple(error.get("loc", ())),
                kind=str(error.get("type", "")),
                message=str(error.get("msg", "")).removeprefix("Value error, "),
                limits={k: v for k, v in (error.get("ctx") or {}).items() if isinstance(v, int | float | str)},
            )
            for error in exc.errors()
        ]
        raise FormInvalid(problems) from None


def _decimal(text: str) -> str:
    """A number as typed, with a Vietnamese decimal comma read as a point (10,776 → 10.776)."""
    return text.strip().replace(",", ".")


def register_growing_area(
    session: Session, settings: Settings, actor: Principal, code: str, province: str, variety: str
) -> schemas.GrowingAreaRead:
    data = _validated(
        schemas.GrowingAreaCreate, code=code.strip(), province=province.strip(), variety=variety.strip() or None
    )
    area = issuer.create_growing_area(session, settings, actor, data)
    return schemas.GrowingAreaRead.model_validate(area)


def register_household(session: Session, actor: Principal, name: str, growing_area: str) -> schemas.HouseholdRead:
    data = _validated(schemas.HouseholdCreate, name=name.strip(), growing_area=growing_area.strip())
    return issuer.create_household(session, actor, data)


@dataclass(frozen=True, slots=True)
class LotForm:
    """A lot as the form sends it: lists as comma-separated text or ticked boxes."""

    code: str
    gtin: str
    harvest_dates: str
    packing_date: str
    destination_markets: str
    border_gates: list[str]
    growing_areas: list[str]
    households: list[str]


def create_lot(session: Session, actor: Principal, form: LotForm) -> schemas.LotRead:
    try:
        households = [int(h) for h in form.households]
    except ValueError:
        raise InvalidInput("a farmer household id is not a number") from None
    data = _validated(
        schemas.LotCreate,
        code=form.code.strip(),
        gtin=form.gtin,
        harvest_dates=_split(form.harvest_dates),
        packing_date=form.packing_date.strip() or None,
        destination_markets=_split(form.destination_markets),
        border_gates=form.border_gates,
        growing_areas=form.growing_areas,
        households=households,
    )
    return issuer.create_lot(session, actor, data)


# A lot's declared destinations and its chain stages; products


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """One row of the destination places table as typed: a city or hub, its country and coordinates."""

    name: str
    country: str
    lat: str
    lon: str

    @property
    def blank(self) -> bool:
        return not (self.name.strip() or self.lat.strip() or self.lon.strip())


def set_destinations(
    session: Session, actor: Principal, lot_id: int, markets: str, gates: list[str], places: list[PlaceRow]
) -> schemas.LotRead:
    """The lot's markets, border gates and places, replaced through the issuer's service. A row left blank (or
    cleared) is no place; the lot must be the packer's own before anything typed is judged."""
    issuer.get_lot(session, actor, lot_id)
    data = _validated(
        schemas.LotDestinations,
        destination_markets=_split(markets),
        border_gates=gates,
        destination_places=[
            {"name": p.name.strip(), "country": p.country.strip(), "lat": _decimal(p.lat), "lon": _decimal(p.lon)}
            for p in places
            if not p.blank
        ],
    )
    return issuer.set_destinations(session, actor, lot_id, data)


#: The offsets a stage's local time may be given in: Vietnam (and its neighbours), China, UTC.
ZONES = ("+07:00", "+08:00", "+00:00")


def record_stage(
    session: Session,
    actor: Principal,
    lot_id: int,
    stage: str,
    local_time: str,
    zone: str,
    place: str,
    country: str,
    note: str,
    consignee: str = "",
) -> schemas.StageRead:
    """A chain stage (harvest, packing, shipping, border crossing…) at a local time (`datetime-local`, as
    2026-06-24T20:00) in one of `ZONES`."""
    issuer.get_lot(session, actor, lot_id)
    if zone not in ZONES:
        raise PortalInputError("bad_zone", f"unknown time zone {zone!r}")
    when = local_time.strip()
    data = _validated(
        schemas.StageCreate,
        stage=stage,
        occurred_at=f"{when}{zone}" if when else "",
        place=place.strip() or None,
        country=country.strip() or None,
        note=note.strip() or None,
        consignee=consignee.strip() or None,
    )
    return issuer.add_stage(session, actor, lot_id, data)


@dataclass(frozen=True, slots=True)
class ProductForm:
    gtin: str
    name_vi: str
    name_en: str
    name_zh: str
    variety: str
    shelf_life_days: str


def register_product(session: Session, actor: Principal, form: ProductForm) -> Product:
    data = _validated(
        schemas.ProductCreate,
        gtin=form.gtin.strip(),
        name_vi=form.name_vi.strip(),
        name_en=form.name_en.strip(),
        name_zh=form.name_zh.strip(),
        variety=form.variety.strip() or None,
        shelf_life_days=_decimal(form.shelf_life_days) or None,
    )
    return issuer.create_product(session, actor, data)


def revoke_range(
    session: Session, actor: Principal, gtin: str, first_text: str, last_text: str, category: str, note: str
) -> list[schemas.RevocationRead]:
    """A scanned (or typed) range of the packer's own stamps; the product comes from a scanned URI, else from the
    form's product choice."""
    first, last = read_scanned(first_text), read_scanned(last_text)
    scanned = {s.gtin for s in (first, last) if s.gtin is not None}
    if len(scanned) > 1:
        raise PortalInputError("reversed", "the two stamps are of different products")
    product = scanned.pop() if scanned else gtin
    if last.serial < first.serial:
        raise PortalInputError("reversed", "the last serial is smaller than the first")
    data = _validated(
        schemas.RevocationCreate,
        category=category,
        reason=note.strip(),
        gtin=product,
        first_serial=first.serial,
        last_serial=last.serial,
    )
    return issuer.revoke(session, actor, data)


def own_alerts(session: Session, actor: Principal, lot_id: int | None = None) -> list[AlertRead]:
    """The alerts on the packer's own stamps and lots (the alerts service narrows to its organisation)."""
    return alerts.list_alerts(session, actor, AlertFilter(lot_id=lot_id, limit=200))


# Lot documents as files


MAX_FILE_BYTES = 10 * 1024 * 1024
#: What a file must start with, by the type it is stored and served as: never the name or the browser's word.
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def sniff(data: bytes) -> str | None:
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


def _safe_name(name: str, content_type: str) -> str:
    """The uploaded name without a path or odd characters, with the extension of what the file really is."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    kept = "".join(c if c.isalnum() or c in "-_ " else "_" for c in base).strip()[:100] or "document"
    return f"{kept}.{EXTENSIONS[content_type]}"


def attach_file(session: Session, actor: Principal, lot_id: int, kind: str, filename: str, data: bytes) -> LotFile:
    lot = issuer.get_lot(session, actor, lot_id)  # 404 for another packing house's lot
    if kind not in {k.value for k in DocumentKind}:
        raise PortalInputError("file_kind", f"unknown document kind {kind!r}")
    if not data:
        raise PortalInputError("file_empty", "no file was sent")
    if len(data) > MAX_FILE_BYTES:
        raise PortalInputError("file_too_large", "the file is larger than 10 MB")
    content_type = sniff(data)
    if content_type is None:
        raise PortalInputError("file_type", "the file is not a PDF, JPEG or PNG")
    digest = hashlib.sha256(data).hexdigest()
    row = LotFile(
        lot_id=lot.id,
        organisation_id=_own_org(actor),
        kind=kind,
        filename=_safe_name(filename, content_type),
        content_type=content_type,
        size=len(data),
        sha256=digest,
        data=data,
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "lot.file_attached", f"lot:{lot.code}", {"file": row.id, "sha256": digest, "size": len(data)}
    )
    return row


def _own_org(actor: Principal) -> int:
    if actor.organisation_id is None:
        raise PortalInputError("login_not_packer", "only a packing house attaches files")
    return actor.organisation_id


def lot_files(session: Session, actor: Principal, lot_id: int) -> Sequence[LotFile]:
    issuer.get_lot(session, actor, lot_id)  # the same 404 as the lot's own
    return repository.files_of_lot(session, lot_id)


def read_file(session: Session, actor: Principal, file_id: int) -> LotFile:
    """A file for its own packing house or for the ministry; anyone else gets the 404 of a missing one."""
    if actor.role is Role.MINISTRY:
        scope = None
    elif actor.role is Role.PACKER and actor.organisation_id is not None:
        scope = actor.organisation_id
    else:
        raise NotFound(f"no file with id {file_id}")
    row = repository.file_by_id(session, file_id, scope)
    if row is None:
        raise NotFound(f"no file with id {file_id}")
    return row
