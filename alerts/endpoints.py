"""The alert API: the ministry lists, reads and works alerts; a province officer those of its province; a packing
house reads its own."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from alerts import schemas, service
from alerts.models import AlertScope, AlertStatus
from alerts.repository import AlertFilter
from crypto import GtinError, normalize_gtin
from identity.dependencies import AlertReader, DbSession, MinistryOrProvince
from tem.core.bounds import DbId, Moment
from tem.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

AlertId = DbId


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone, e.g. 2026-06-01T00:00:00+07:00", field=name)
    return value


@router.get("", response_model=list[schemas.AlertRead], summary="Alerts, newest activity first")
def list_alerts(
    session: DbSession,
    actor: AlertReader,
    status: Annotated[list[AlertStatus] | None, Query(description="repeat for several")] = None,
    type: Annotated[list[str] | None, Query(description="repeat for several")] = None,
    severity: Annotated[list[schemas.SeverityLabel] | None, Query()] = None,
    scope: AlertScope | None = None,
    gtin: Annotated[str | None, Query(max_length=14)] = None,
    serial: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,19}$")] = None,
    lot_id: DbId | None = None,
    parent_id: DbId | None = None,
    since: Annotated[Moment | None, Query(description="last seen at or after")] = None,
    until: Annotated[Moment | None, Query(description="last seen before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> object:
    if gtin is not None:
        try:
            gtin = normalize_gtin(gtin)
        except GtinError as exc:
            raise InvalidInput(str(exc), field="gtin") from None
    for name in type or []:
        if not service.valid_type(name):
            raise InvalidInput(f"alert type must match {schemas.ALERT_TYPE_PATTERN}", field="type")
    where = AlertFilter(
        statuses=tuple(s.value for s in status or ()),
        types=tuple(type or ()),
        severities=tuple(s.label for s in severity or ()),
        scope=scope.value if scope else None,
        gtin=gtin,
        serial=serial,
        lot_id=lot_id,
        parent_id=parent_id,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        limit=limit,
        offset=offset,
    )
    return service.list_alerts(session, actor, where)


@router.get("/{alert_id}", response_model=schemas.AlertDetail, summary="One alert with its history and children")
def get_alert(alert_id: AlertId, session: DbSession, actor: AlertReader) -> object:
    return service.get_alert(session, actor, alert_id)


@router.post(
    "/{alert_id}/transitions",
    response_model=schemas.AlertDetail,
    summary="Acknowledge, resolve or mark an alert a false positive",
)
def transition(
    alert_id: AlertId, data: schemas.TransitionCreate, session: DbSession, actor: MinistryOrProvince
) -> object:
    return service.transition(session, actor, alert_id, data)
