"""Growing areas as a national register: boundaries and their measured area, status (active, suspended,
revoked) and who may change it, the GeoJSON of one area, and the check at activation.

A status change returns the lots already activated on the area with their stamp counts; the caller (the
route in `ministry.areas`, which may use `alerts`) opens the ministry's alert about them. Activated lots are
never changed: their trace page shows the area's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detection.engine.model import Role
from identity.models import Organisation
from identity.principal import Principal
from issuer import audit, geometry, schemas
from issuer.models import Activation, GrowingArea, GrowingAreaStatus, Lot, LotGrowingArea
from issuer.provinces import normalize_province
from tem.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tem.core.time import utcnow


@dataclass(frozen=True, slots=True)
class AffectedLot:
    """A lot already activated on an area whose status changed, and how many stamps it has activated."""

    lot_id: int
    code: str
    organisation_id: int
    stamps: int


@dataclass(frozen=True, slots=True)
class StatusChange:
    area: GrowingArea
    previous: str
    affected: list[AffectedLot]
    house_code: str | None


def boundary_fields(boundary: dict[str, Any] | None) -> dict[str, Any]:
    """The model fields for a boundary given on create: validated, with its area measured (422 when bad)."""
    if boundary is None:
        return {"boundary": None, "measured_hectares": None}
    try:
        valid = geometry.validate(boundary)
    except geometry.BoundaryError as exc:
        raise InvalidInput(str(exc), field="boundary") from None
    return {"boundary": boundary, "measured_hectares": round(geometry.hectares(valid), 4)}


def by_code(session: Session, code: str) -> GrowingArea | None:
    return session.scalars(select(GrowingArea).where(GrowingArea.code == code.strip().upper())).first()


def readable(session: Session, actor: Principal, code: str) -> GrowingArea:
    """The area, for its packing house, the ministry, inspectors and its province's officer; 404 for others."""
    area = by_code(session, code)
    if area is not None and _may_read(actor, area):
        return area
    raise NotFound(f"no growing area with code {code.strip().upper()}", field="code")


def _may_read(actor: Principal, area: GrowingArea) -> bool:
    if actor.role in (Role.MINISTRY, Role.INSPECTOR):
        return True
    if actor.role is Role.PACKER:
        return actor.organisation_id == area.organisation_id
    if actor.role is Role.PROVINCE:
        own = normalize_province(actor.province or "")
        return own is not None and own == normalize_province(area.province)
    return False


def feature(area: GrowingArea) -> dict[str, Any]:
    """The area as a GeoJSON Feature (RFC 7946); without a boundary, its point if it has one."""
    geometry_: dict[str, Any] | None = area.boundary
    if geometry_ is None and area.latitude is not None and area.longitude is not None:
        geometry_ = {"type": "Point", "coordinates": [area.longitude, area.latitude]}
    return {
        "type": "Feature",
        "id": area.code,
        "geometry": geometry_,
        "properties": {
            "code": area.code,
            "province": area.province,
            "crop": area.crop,
            "status": area.status,
            "measured_hectares": area.measured_hectares,
            "area_hectares": area.area_hectares,
            "declared_area_mismatch": geometry.declared_area_mismatch(area.area_hectares, area.measured_hectares),
        },
    }


def change_status(session: Session, actor: Principal, code: str, data: schemas.GrowingAreaStatusChange) -> StatusChange:
    """Set the area's status: the ministry, or a province officer for an area of its own province (403 else)."""
    if actor.role not in (Role.MINISTRY, Role.PROVINCE):
        raise Forbidden("only the ministry or a province officer can change a growing area's status")
    area = by_code(session, code)
    if area is None:
        raise NotFound(f"no growing area with code {code.strip().upper()}", field="code")
    if actor.role is Role.PROVINCE and (actor.province is None or actor.province != area.province):
        raise Forbidden(f"growing area {area.code} is in {area.province}, not in your province")
    previous = area.status
    area.status = data.status
    area.status_reason = data.reason
    area.status_changed_at = utcnow()
    area.status_changed_by = actor.actor
    audit.record(
        session,
        actor,
        "growing_area.status_changed",
        f"growing_area:{area.code}",
        {"from": previous, "to": data.status, "reason": data.reason},
        organisation_id=area.organisation_id,
    )
    session.flush()
    house = session.scalar(select(Organisation.code).where(Organisation.id == area.organisation_id))
    return StatusChange(area, previous, affected_lots(session, area.id), house)


def affected_lots(session: Session, area_id: int) -> list[AffectedLot]:
    """The lots drawing on the area that have stamps activated, with the number of stamps activated."""
    rows = session.execute(
        select(Lot.id, Lot.code, Lot.organisation_id, func.sum(Activation.last_serial - Activation.first_serial + 1))
        .join(LotGrowingArea, LotGrowingArea.lot_id == Lot.id)
        .join(Activation, Activation.lot_id == Lot.id)
        .where(LotGrowingArea.growing_area_id == area_id)
        .group_by(Lot.id, Lot.code, Lot.organisation_id)
        .order_by(Lot.code)
    )
    return [AffectedLot(lot_id, code, org_id, int(stamps)) for lot_id, code, org_id, stamps in rows]


def check_area_status(session: Session, lot: Lot) -> None:
    """Refuse activation (409) on a lot drawing on a suspended or revoked growing area, naming the area."""
    rows = session.execute(
        select(GrowingArea.code, GrowingArea.status, GrowingArea.status_reason)
        .join(LotGrowingArea, LotGrowingArea.growing_area_id == GrowingArea.id)
        .where(LotGrowingArea.lot_id == lot.id, GrowingArea.status != GrowingAreaStatus.ACTIVE.value)
        .order_by(GrowingArea.code)
    ).all()
    if rows:
        named = "; ".join(
            f"growing area {code} is {status}" + (f" ({reason})" if reason else "") for code, status, reason in rows
        )
        raise Conflict(f"lot {lot.code} cannot be activated: {named}", field="lot")


MAP_LIMIT = 2000  # areas drawn on the ministry's map at most


def for_map(session: Session, province: str | None = None) -> list[dict[str, Any]]:
    """The register's areas (one province's, or all) as the ministry's map draws them."""
    stmt = select(
        GrowingArea.code,
        GrowingArea.province,
        GrowingArea.status,
        GrowingArea.boundary,
        GrowingArea.latitude,
        GrowingArea.longitude,
    ).order_by(GrowingArea.code)
    if province is not None:
        stmt = stmt.where(GrowingArea.province == province)
    keys = ("code", "province", "status", "boundary", "latitude", "longitude")
    return [dict(zip(keys, row, strict=True)) for row in session.execute(stmt.limit(MAP_LIMIT))]
