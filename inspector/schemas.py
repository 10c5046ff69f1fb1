"""Request and response shapes of the inspector API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.schemas import AlertRead
from detection.engine.model import Verdict
from inspector.models import InspectionResult
from tem.core.bounds import Moment

CLIENT_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{7,63}\Z")
ClientId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
ScanId = Annotated[str, Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="The scan id verify returned")]


class ProductInfo(BaseModel):
    gtin: str
    name_vi: str
    name_en: str
    name_zh: str
    variety: str | None


class LotInfo(BaseModel):
    id: int
    code: str
    harvest_dates: list[str]
    packing_date: dt.date | None
    destination_markets: list[str]


class PackingHouseInfo(BaseModel):
    code: str
    name: str
    province: str


class PlaceInfo(BaseModel):
    label: str
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_km: float | None = None


class ScanSummary(BaseModel):
    id: str
    at: dt.datetime
    role: str
    verdict: str
    place: PlaceInfo | None


class HistorySummary(BaseModel):
    count: int = Field(description="Checks of this stamp so far, this one included")
    devices: int = Field(description="Distinct devices that checked it")
    first_at: dt.datetime | None
    first_place: PlaceInfo | None
    recent_places: list[PlaceInfo]
    recent_scans: list[ScanSummary] = Field(description="From the scan log, newest first; trails by a few seconds")


class VerifyRead(BaseModel):
    checked_at: dt.datetime
    verdict: Verdict
    state: str = Field(
        description="activated, not_activated, revoked, key_revoked, unknown_serial, forged or format_error"
    )
    signature: str | None = Field(description="valid, bad_signature, unknown_key or key_revoked; null if unparsable")
    reason: str
    gtin: str | None
    serial: str | None = Field(description="Decimal text: 20-digit serials do not fit a JSON number")
    kid: str | None
    product: ProductInfo | None
    lot: LotInfo | None
    packing_house: PackingHouseInfo | None
    history: HistorySummary | None
    alerts: list[AlertRead]
    scan_id: str | None = Field(description="This check's id in the scan log (only stamps with a valid signature)")


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_id: ClientId | None = Field(
        default=None, description="Idempotency key generated on the device (or send the Idempotency-Key header)"
    )
    uri: Annotated[str, Field(min_length=1, max_length=2048)]
    result: InspectionResult
    verdict: Verdict = Field(description="The verdict the app showed")
    verdict_source: Literal["online", "offline"]
    note: Annotated[str, Field(max_length=2000)] | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    accuracy_m: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    inspected_at: Moment
    scan_id: ScanId | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InspectionCreate:
        if self.inspected_at.tzinfo is None:
            raise ValueError("inspected_at needs a time zone, e.g. 2026-06-01T08:00:00+07:00")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        if self.accuracy_m is not None and self.latitude is None:
            raise ValueError("accuracy_m needs latitude and longitude")
        return self


class InspectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: str
    inspector: str
    uri: str
    gtin: str | None
    serial: str | None
    kid: str | None
    signature: str = Field(description="The server's own check of the signature when the record arrived")
    verdict: Verdict
    verdict_source: str
    result: InspectionResult
    note: str | None
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    scan_id: str | None
    alert_id: int | None
    inspected_at: dt.datetime
    received_at: dt.datetime


class LoginCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    token: Annotated[str, Field(min_length=8, max_length=200)]


class Me(BaseModel):
    inspector_id: int = Field(description="The API token's id; records queued on a device are tagged with it")
    name: str
    role: str
    organisation: str
    expires_at: dt.datetime | None
