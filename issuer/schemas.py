"""Request and response shapes of the packing-house API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    computed_field,
    field_validator,
    model_validator,
)

from crypto.gtin import gs1_check_digit
from detection.engine.model import Role
from detection.ports import RANGE_CATEGORIES, RevocationCategory
from identity.models import OrgKind
from identity.principal import ACCOUNT_ROLES
from issuer import geometry, validation
from issuer.models import DiaryKind, DocumentKind, OrderStatus, Stage
from issuer.provinces import normalize_province
from printing.templates import TemplateKind
from tem.core.bounds import Count, Day, DbId, Moment, StampSerial

Gtin = Annotated[str, AfterValidator(validation.gtin)]
LotCode = Annotated[str, AfterValidator(validation.lot_code)]
Country = Annotated[str, AfterValidator(validation.country)]
Province = Annotated[str, AfterValidator(validation.province)]
BorderGate = Annotated[str, AfterValidator(validation.border_gate)]
Serial = StampSerial  # GS1 allows 20 digits; the database holds BIGINT
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OrganisationCreate(Strict):
    kind: OrgKind
    name: Text
    code: Annotated[str, Field(min_length=2, max_length=40)]
    province: Annotated[
        str,
        Field(
            min_length=1,
            max_length=80,
            description="a Vietnamese province; a distributor abroad (an importer) gives its own region instead",
        ),
    ]
    gln: (
        Annotated[
            str, Field(pattern=r"^[0-9]{13}$", description="its GS1 Global Location Number (13 digits), if it has one")
        ]
        | None
    ) = None

    @field_validator("gln")
    @classmethod
    def _gln_check_digit(cls, value: str | None) -> str | None:
        if value is not None and gs1_check_digit(value[:-1]) != int(value[-1]):
            raise ValueError("this GLN's last digit is not its check digit")
        return value

    @field_validator("province")
    @classmethod
    def _vietnamese_province(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") is not OrgKind.DISTRIBUTOR or normalize_province(value) is not None:
            return validation.province(value)
        return value.strip()


class OrganisationRead(Read):
    id: int
    kind: OrgKind
    name: str
    code: str
    province: str
    gln: str | None = None


class ProductCreate(Strict):
    gtin: Gtin
    name_vi: Text
    name_en: Text
    name_zh: Text
    variety: Annotated[str, Field(max_length=80)] | None = None
    shelf_life_days: Annotated[float, Field(gt=0, le=1000)] | None = Field(
        default=None, description="How long the packed product keeps, in days (fresh durian 7-21, frozen ~365)"
    )


class ProductRead(Read):
    id: int
    gtin: str
    name_vi: str
    name_en: str
    name_zh: str
    variety: str | None
    shelf_life_days: float | None


class GrowingAreaCreate(Strict):
    code: Annotated[str, Field(min_length=2, max_length=40)]
    province: Province
    crop: Text = "durian"
    variety: Annotated[str, Field(max_length=80)] | None = None
    area_hectares: Annotated[float, Field(gt=0, le=100_000)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    boundary: (
        Annotated[
            dict[str, Any],
            Field(description="a GeoJSON Polygon or MultiPolygon in WGS84 ([longitude, latitude]) inside Vietnam"),
        ]
        | None
    ) = None


class GrowingAreaRead(Read):
    id: int
    code: str
    province: str
    crop: str
    variety: str | None
    area_hectares: float | None
    latitude: float | None
    longitude: float | None
    measured_hectares: float | None = Field(None, description="the geodesic area of the boundary, in hectares")
    status: str = "active"
    status_reason: str | None = None
    status_changed_at: dt.datetime | None = None
    status_changed_by: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def declared_area_mismatch(self) -> bool:
        """The declared area is more than 20% off the area measured from the boundary."""
        return geometry.declared_area_mismatch(self.area_hectares, self.measured_hectares)


class GrowingAreaStatusChange(Strict):
    status: Literal["active", "suspended", "revoked"]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class HouseholdCreate(Strict):
    name: Text
    growing_area: Annotated[str, Field(min_length=1, max_length=40, description="growing-area code")]


class HouseholdRead(BaseModel):
    id: int
    name: str
    growing_area: str


class StageCreate(Strict):
    stage: Stage
    occurred_at: Moment
    place: Annotated[str, Field(max_length=200)] | None = None
    country: Country | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    consignee: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=40,
                description="shipping only: the code of the organisation the lot is shipped to; it may then record "
                "the lot's next stages",
            ),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _aware(self) -> StageCreate:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at needs a time zone, e.g. 2026-06-01T08:00:00+07:00")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if self.consignee is not None and self.stage != Stage.SHIPPING:
            raise ValueError("only a shipping stage names a consignee")
        return self


class StageRead(Read):
    id: int
    stage: Stage
    occurred_at: dt.datetime
    place: str | None
    country: str | None
    note: str | None
    latitude: float | None = None
    longitude: float | None = None
    consignee: str | None = None  # the consignee organisation's code


class DeclaredPlace(Strict):
    """A destination city or hub a lot is declared for."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    country: Country


def _places_within_markets(places: list[DeclaredPlace], markets: list[str]) -> None:
    outside = sorted({p.name for p in places if p.country not in markets})
    if outside:
        raise ValueError(f"destination places outside the destination markets: {', '.join(outside)}")


class LotDestinations(Strict):
    """Where a lot is declared to go: its markets, border gates and places, given when it is created and changed
    later on their own. The declared route is what detection checks scans against, so every change is audited."""

    destination_markets: Annotated[list[Country], Field(min_length=1, max_length=50)]
    border_gates: Annotated[list[BorderGate], Field(max_length=3)] = Field(
        default=[], description="The border gates the lot crosses; none: any of them"
    )
    destination_places: Annotated[list[DeclaredPlace], Field(max_length=20)] = Field(
        default=[], description="Destination cities or hubs; none: anywhere in the destination markets"
    )

    @model_validator(mode="after")
    def _within(self) -> LotDestinations:
        _places_within_markets(self.destination_places, self.destination_markets)
        return self


class LotCreate(LotDestinations):
    code: LotCode
    gtin: Gtin
    harvest_dates: Annotated[list[Day], Field(min_length=1, max_length=60)]
    packing_date: Day | None = None
    quantity: Count | None = None
    quantity_unit: Annotated[str, Field(max_length=20)] | None = "kg"
    growing_areas: Annotated[list[str], Field(min_length=1, max_length=200)]
    households: Annotated[list[DbId], Field(max_length=2000)] = []
    show_household_names: bool = False

    @model_validator(mode="after")
    def _dates(self) -> LotCreate:
        if self.packing_date and self.packing_date < min(self.harvest_dates):
            raise ValueError("packing_date is before the first harvest date")
        return self


class DocumentCreate(Strict):
    kind: DocumentKind
    number: Annotated[str, Field(min_length=1, max_length=80)]
    issued_on: Day | None = None
    issuer: Annotated[str, Field(max_length=200)] | None = None
    summary: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="For lab results: what was tested and the outcome, in plain words"
    )


class DocumentRead(Read):
    id: int
    kind: DocumentKind
    number: str
    issued_on: dt.date | None
    issuer: str | None
    summary: str | None


class LotRead(BaseModel):
    id: int
    code: str
    gtin: str
    harvest_dates: list[dt.date]
    packing_date: dt.date | None
    quantity: int | None
    quantity_unit: str | None
    destination_markets: list[str]
    border_gates: list[str]
    destination_places: list[DeclaredPlace]
    growing_areas: list[str]
    households: list[HouseholdRead]
    show_household_names: bool
    stages: list[StageRead]
    documents: list[DocumentRead]


class OrderCreate(Strict):
    gtin: Gtin
    quantity: Count
    template: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")] = "durian-fruit-tag"


class OrderDecision(Strict):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class OrderRead(BaseModel):
    id: int
    gtin: str
    quantity: int
    template: str
    status: OrderStatus
    kid: str | None
    first_serial: int | None
    last_serial: int | None
    created_by: str
    created_at: dt.datetime
    rejection_reason: str | None = None


class LabelTemplateRead(BaseModel):
    """A label template an order can be printed with (`?template=` of the print routes)."""

    name: str = Field(description="The template's name, e.g. durian-fruit-tag")
    description: str
    kind: TemplateKind = Field(
        description="fruit_tag: one label a fruit; box_label: one label a box (GS1-128 or scratch-off PIN); "
        "sheet: a grid of labels on an office sheet"
    )
    layout: Literal["roll", "sheet"] = Field(description="roll: one label a page; sheet: a grid on each page")
    width_mm: float = Field(description="One label's width, as the template defines it")
    height_mm: float = Field(description="One label's height, as the template defines it")
    dpi: int = Field(description="The printer resolution the template is made for")
    formats: list[Literal["pdf", "zpl"]] = Field(description="What it prints as: ZPL is for roll templates only")
    pin_panel: bool = Field(description="It prints a scratch-off PIN, which needs TEM_PIN_KEY on the server")


class ActivationCreate(Strict):
    gtin: Gtin
    first_serial: Serial
    last_serial: Serial
    lot: LotCode

    @model_validator(mode="after")
    def _ordered(self) -> ActivationCreate:
        if self.last_serial < self.first_serial:
            raise ValueError("last_serial is smaller than first_serial")
        return self


class ActivationRead(BaseModel):
    id: int
    gtin: str
    first_serial: int
    last_serial: int
    lot: str
    created_at: dt.datetime


class RevocationCreate(Strict):
    """Either a serial range (gtin, first_serial, last_serial) or a whole lot."""

    category: Annotated[
        RevocationCategory,
        BeforeValidator(validation.revocation_category),
        WithJsonSchema({"type": "string", "enum": [c.value for c in RANGE_CATEGORIES]}),
        Field(
            description="What consumers are told, in their language: withdrawn (by the packing house: damaged, "
            "destroyed, unused), stolen (reported stolen or lost), recalled (for safety or quality), misprinted, "
            "or other"
        ),
    ]
    reason: Annotated[
        str,
        Field(
            min_length=3,
            max_length=2000,
            description="Your own note: kept for you, the ministry, inspectors and the audit log; never shown to "
            "consumers",
        ),
    ]
    gtin: Gtin | None = None
    first_serial: Serial | None = None
    last_serial: Serial | None = None
    lot: LotCode | None = None

    @model_validator(mode="before")
    @classmethod
    def _category_given(cls, data: Any) -> Any:
        """A missing category gets the message that names the allowed values, not a bare "Field required"."""
        if isinstance(data, dict) and "category" not in data:
            return {**data, "category": None}
        return data

    @model_validator(mode="after")
    def _one_target(self) -> RevocationCreate:
        has_range = self.gtin is not None or self.first_serial is not None or self.last_serial is not None
        if has_range == (self.lot is not None):
            raise ValueError("give either gtin + first_serial + last_serial, or lot")
        if has_range:
            if self.gtin is None or self.first_serial is None or self.last_serial is None:
                raise ValueError("a range needs gtin, first_serial and last_serial")
            if self.last_serial < self.first_serial:
                raise ValueError("last_serial is smaller than first_serial")
        return self


class RevocationRead(BaseModel):
    id: int
    gtin: str
    first_serial: int
    last_serial: int
    lot: str | None
    category: RevocationCategory
    reason: str
    created_at: dt.datetime


class TokenCreate(Strict):
    organisation: Annotated[str, Field(min_length=2, max_length=40)]
    role: Role
    name: Text
    #: The token stops working this many days after it is created; None: it works until it is revoked.
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None

    @field_validator("role")
    @classmethod
    def _an_account_role(cls, role: Role) -> Role:
        if role not in ACCOUNT_ROLES:
            raise ValueError("an account's role is packer, inspector, distributor or ministry")
        return role


class TokenCreated(BaseModel):
    id: int
    token: str = Field(description="Shown once; only its hash is stored")
    expires_at: dt.datetime | None = None


class TokenRead(BaseModel):
    """An API token as the ministry sees it: never the token itself, only its hash is kept."""

    id: int
    organisation: str
    role: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class DiaryEntryCreate(Strict):
    """One line of a growing area's farming diary, recorded by its packing house on the household's behalf."""

    date: Day
    kind: DiaryKind
    product: Annotated[str, Field(max_length=200)] | None = None
    active_ingredients: Annotated[list[Annotated[str, Field(min_length=1, max_length=120)]], Field(max_length=20)] = []
    dose: Annotated[float, Field(ge=0)] | None = None
    unit: Annotated[str, Field(max_length=20)] | None = None
    # A spray's pre-harvest interval in days; omitted: the data file's default for its ingredients (the longest).
    phi_days: Annotated[int, Field(ge=0, le=365)] | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
    corrects: DbId | None = Field(None, description="the id of the entry this one corrects (which is then superseded)")

    @model_validator(mode="after")
    def _phi_for_sprays(self) -> DiaryEntryCreate:
        if self.phi_days is not None and self.kind is not DiaryKind.SPRAY:
            raise ValueError("phi_days is for sprays only")
        if self.date > dt.date.today() + dt.timedelta(days=1):
            raise ValueError("date is in the future")
        return self


class DiaryEntryRead(Read):
    id: int
    growing_area: str
    date: dt.date
    kind: DiaryKind
    product: str | None
    active_ingredients: list[str]
    dose: float | None
    unit: str | None
    phi_days: int | None = Field(description="as recorded")
    effective_phi_days: int | None = Field(description="as the gates apply it: recorded, else the default")
    note: str | None
    corrects: int | None
    superseded_by: int | None = Field(description="the entry that corrects this one, if any")
    banned_ingredients: list[str] = Field(description="its ingredients banned in Vietnam, per the data file")
    created_by: str
    created_at: dt.datetime


class EvidenceRead(Read):
    id: int
    growing_area: str
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    captured_on: dt.date | None
    created_by: str
    created_at: dt.datetime
