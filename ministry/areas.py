"""The national register of growing areas, as the API serves it: one area's GeoJSON, and its status.

Here rather than in `issuer` because a status change also opens the ministry's alert (`alerts`, which the
issuer may not import): suspending or revoking an area never changes the lots already activated on it; the
alert lists them with their stamp counts so the ministry can follow them up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from alerts.dependencies import Alerts
from alerts.service import AlertService
from detection.engine.model import Role, Severity
from detection.findings import AlertFinding
from identity.dependencies import DbSession, requires
from identity.principal import Principal
from issuer import areas, schemas
from issuer.dependencies import REGISTRY_WRITES

ALERT_TYPE = "growing_area_suspended"

router = APIRouter(prefix="/api/v1", dependencies=REGISTRY_WRITES, tags=["growing areas"])

AreaReader = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY, Role.PROVINCE, Role.INSPECTOR, Role.DISTRIBUTOR)]
StatusSetter = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY, Role.PROVINCE)]

_STATUS_VI = {"active": "hoạt động", "suspended": "bị tạm dừng", "revoked": "bị thu hồi"}


@router.get(
    "/growing-areas/{code}.geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def growing_area_geojson(code: str, session: DbSession, actor: AreaReader) -> JSONResponse:
    """The area as a GeoJSON Feature: its boundary, code, province, crop, status and measured hectares. For its
    packing house, the ministry, its province's officer and inspectors; 404 for anyone else."""
    area = areas.readable(session, actor, code)
    return JSONResponse(areas.feature(area), media_type="application/geo+json")


@router.post("/growing-areas/{code}/status", response_model=schemas.GrowingAreaRead)
def set_growing_area_status(
    code: str, data: schemas.GrowingAreaStatusChange, session: DbSession, actor: StatusSetter, alerts: Alerts
) -> object:
    """Set an area's status (active, suspended, revoked) with a reason: the ministry, or a province officer for an
    area of its own province. Audited. Suspending or revoking an area with lots already activated opens a
    `growing_area_suspended` alert listing those lots and their stamp counts."""
    change = areas.change_status(session, actor, code, data)
    if data.status not in ("active", change.previous) and change.affected:
        open_alert(session, alerts, change, data.reason, actor)
    return change.area


def open_alert(
    session: Session, alerts: AlertService, change: areas.StatusChange, reason: str, actor: Principal
) -> int | None:
    area = change.area
    lots_en = ", ".join(f"{lot.code} ({lot.stamps} stamps)" for lot in change.affected)
    lots_vi = ", ".join(f"{lot.code} ({lot.stamps} tem)" for lot in change.affected)
    total = sum(lot.stamps for lot in change.affected)
    finding = AlertFinding(
        type=ALERT_TYPE,
        severity=Severity.WARNING,
        explanation_vi=(
            f"Vùng trồng {area.code} ({area.province}) đã {_STATUS_VI.get(area.status, area.status)}: {reason}. "
            f"Các lô đã kích hoạt tem trên vùng này không bị thay đổi: {lots_vi}; tổng cộng {total} tem."
        ),
        explanation_en=(
            f"Growing area {area.code} ({area.province}) is now {area.status}: {reason}. "
            f"Lots already activated on it are not changed: {lots_en}; {total} stamps in all."
        ),
        evidence=(
            f"area:{area.code}:{area.status}",
            *(f"lot:{lot.code}:stamps:{lot.stamps}" for lot in change.affected),
        ),
        organisation_id=area.organisation_id,
        house=change.house_code,
        actor=actor.actor,
    )
    return alerts.raise_alert(session, finding)
