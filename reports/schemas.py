"""Response shapes of the reports API (the ministry's), and what a posted form holds once read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from detection.engine.model import Verdict


class ReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: dt.datetime
    gtin: str
    serial: str = Field(description="Decimal text: serials can exceed a JSON number's precision")
    lot_id: int | None
    alert_id: int | None = Field(description="The `consumer_report` alert the report opened or added to")
    verdict: Verdict = Field(description="What the page the form came from said: suspect or counterfeit")
    place: str | None = Field(description="Where the fruit was bought, in the sender's words")
    latitude: float | None = Field(description="The phone's position, only when the sender chose to share it")
    longitude: float | None
    accuracy_m: float | None
    country: str | None = Field(description="The country of the sender's address (ISO 3166 alpha-2)")
    network: str | None = Field(description="A keyed hash of the sender's network (/24 or /48), never an address")
    contact: str | None = Field(description="A phone number or e-mail address, if the sender gave one")
    photo_url: str | None = Field(description="The photo (JPEG, ministry only), or null when none was sent")
    photo_width: int | None
    photo_height: int | None


@dataclass(frozen=True, slots=True)
class Submission:
    """A report as the form posted it, checked: the stamp it is about and what the person wrote."""

    gtin: str
    serial: int
    verdict: Verdict
    place: str | None
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    contact: str | None
