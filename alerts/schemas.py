"""Request and response shapes of the alert API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator

from alerts.models import AlertScope, AlertStatus
from detection.engine.model import Severity

#: Alert types are named by whoever raises them (the detection engine, the inspector API).
ALERT_TYPE_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
AlertType = Annotated[str, Field(pattern=ALERT_TYPE_PATTERN)]


def _severity(value: object) -> object:
    return Severity.from_label(value) if isinstance(value, str) else value


#: A severity as the API and the database name it: "info", "warning" or "critical".
SeverityLabel = Annotated[
    Severity,
    BeforeValidator(_severity),
    PlainSerializer(lambda severity: severity.label, return_type=str),
    WithJsonSchema({"type": "string", "enum": [s.label for s in Severity]}),
]


class AlertBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    severity: SeverityLabel
    status: AlertStatus
    scope: AlertScope
    gtin: str | None
    serial: str | None = Field(description="Decimal text: serials can exceed a JSON number's precision")
    lot_id: int | None
    count: int
    last_seen_at: dt.datetime


class AlertRead(AlertBrief):
    organisation_id: int | None
    packing_house: str | None = Field(default=None, description="The packing house's code")
    lot: str | None = Field(default=None, description="The lot's code")
    parent_id: int | None
    first_seen_at: dt.datetime
    evidence: list[str] = Field(description="Scan ids (ULIDs), and `inspection:{id}` for inspector reports")
    explanation_vi: str
    explanation_en: str
    created_at: dt.datetime
    updated_at: dt.datetime


class TransitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: AlertStatus | None
    to_status: AlertStatus
    actor: str
    comment: str | None
    at: dt.datetime


class AlertDetail(AlertRead):
    transitions: list[TransitionRead]
    children: list[AlertBrief] = Field(description="The alerts beneath this one (stamp alerts of a lot alert, ...)")


class TransitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: AlertStatus = Field(description="acknowledged, resolved or false_positive")
    comment: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _target(self) -> TransitionCreate:
        if self.to is AlertStatus.OPEN:
            raise ValueError("an alert cannot be moved back to open")
        if self.to in (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE) and not (
            self.comment and self.comment.strip()
        ):
            raise ValueError(f"closing an alert as {self.to.value} needs a comment saying why")
        return self
