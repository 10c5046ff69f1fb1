"""Every SQL statement of the ministry's reports lives here.

Scan figures come from the rollups (`scan_daily_stats`), never from the scans table; alert figures are
GROUP BYs over the alerts in the range (index on `first_seen_at`); issued and activated stamps are sums
over serial ranges, a handful of rows per order. Days and months are Vietnam's (UTC+7).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Date, Select, case, cast, distinct, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from alerts.models import Alert, AlertScope
from detection.scans import scan_id_time
from identity.models import Organisation, OrgKind
from inspector.models import Inspection
from issuer.models import Activation, Lot, Product, RollOrder, SerialRange
from ministry.models import ScanDailyStat
from ministry.rollup import VIETNAM
from resolver.models import ScanRecord
from tem.core.errors import NotFound

#: The dimensions alerts can be counted by, and the column each groups on.
S = TypeVar("S", bound=Select[*tuple[Any, ...]])

DIMENSIONS = ("type", "severity", "status", "province", "country", "packing_house")


@dataclass(frozen=True, slots=True)
class ReportFilter:
    since: dt.date  # first Vietnam day, inclusive
    until: dt.date  # last Vietnam day, inclusive
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    organisation_id: int | None = None
    province: str | None = None

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, dt.time(), VIETNAM)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), VIETNAM)


def _postgres(bind: Session | Connection) -> bool:
    return (
        bind.get_bind().dialect.name == "postgresql" if isinstance(bind, Session) else bind.dialect.name == "postgresql"
    )


def _local_day(bind: Session | Connection, column: Any) -> ColumnElement[Any]:
    if _postgres(bind):
        return cast(func.timezone("Asia/Ho_Chi_Minh", column), Date)
    return func.date(column, "+7 hours")


def _local_month(bind: Session | Connection, column: Any) -> ColumnElement[Any]:
    if _postgres(bind):
        return cast(func.date_trunc("month", func.timezone("Asia/Ho_Chi_Minh", column)), Date)
    return func.date(column, "+7 hours", "start of month")


def _day_month(bind: Session | Connection, column: Any) -> ColumnElement[Any]:
    """The month of a DATE column (the rollup's day)."""
    if _postgres(bind):
        return cast(func.date_trunc("month", column), Date)
    return func.date(column, "start of month")


def as_date(value: object) -> dt.date:
    """SQLite answers dates as text, PostgreSQL as dates."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _alerts_where(stmt: S, where: ReportFilter) -> S:
    stmt = stmt.where(Alert.first_seen_at >= where.start, Alert.first_seen_at < where.end)
    if where.types:
        stmt = stmt.where(Alert.type.in_(where.types))
    if where.severities:
        stmt = stmt.where(Alert.severity.in_(where.severities))
    if where.statuses:
        stmt = stmt.where(Alert.status.in_(where.statuses))
    if where.organisation_id is not None:
        stmt = stmt.where(Alert.organisation_id == where.organisation_id)
    if where.province is not None:
        stmt = stmt.where(Organisation.province == where.province)
    return stmt


def _with_org(stmt: S) -> S:
    return stmt.select_from(Alert).outerjoin(Organisation, Organisation.id == Alert.organisation_id)


def alerts_per_day(session: Session, where: ReportFilter) -> list[tuple[dt.date, int]]:
    day = _local_day(session, Alert.first_seen_at).label("day")
    stmt = _alerts_where(_with_org(select(day, func.count())), where).group_by(day).order_by(day)
    return [(as_date(d), int(n)) for d, n in session.execute(stmt)]


def alerts_by(session: Session, where: ReportFilter, dimension: str) -> list[tuple[str | None, int]]:
    """Alert counts by one dimension, largest first."""
    column: Any = {
        "type": Alert.type,
        "severity": Alert.severity,
        "status": Alert.status,
        "province": Organisation.province,
        "country": Alert.country,
        "packing_house": Organisation.code,
    }[dimension]
    n = func.count().label("n")
    stmt = _alerts_where(_with_org(select(column, n)), where).group_by(column).order_by(n.desc(), column)
    return [(value, int(count)) for value, count in session.execute(stmt)]


@dataclass(frozen=True, slots=True)
class LotRow:
    lot_id: int
    lot: str
    packing_house: str
    alerts: int
    flagged_stamps: int
    scans: int = 0
    flagged_scans: int = 0


def top_lots(session: Session, where: ReportFilter, limit: int = 10) -> list[LotRow]:
    """Lots by alerts raised in the range, then by flagged stamps (distinct stamps with a stamp alert)."""
    stamp = case((Alert.scope == AlertScope.STAMP.value, Alert.gtin + literal(":") + Alert.serial))
    alerts = func.count().label("alerts")
    flagged = func.count(distinct(stamp)).label("flagged")
    stmt = (
        _alerts_where(
            select(Alert.lot_id, Lot.code, Organisation.code, alerts, flagged)
            .join(Lot, Lot.id == Alert.lot_id)
            .join(Organisation, Organisation.id == Lot.organisation_id),
            where,
        )
        .group_by(Alert.lot_id, Lot.code, Organisation.code)
        .order_by(alerts.desc(), flagged.desc(), Alert.lot_id)
        .limit(limit)
    )
    rows = [LotRow(i, code, org, int(a), int(f)) for i, code, org, a, f in session.execute(stmt) if i is not None]
    if not rows:
        return rows
    scans = {
        int(lot_id): (int(s), int(f))
        for lot_id, s, f in session.execute(
            select(ScanDailyStat.lot_id, func.sum(ScanDailyStat.scans), func.sum(ScanDailyStat.flagged_scans))
            .where(
                ScanDailyStat.lot_id.in_([r.lot_id for r in rows]),
                ScanDailyStat.day >= where.since,
                ScanDailyStat.day <= where.until,
            )
            .group_by(ScanDailyStat.lot_id)
        )
    }
    return [
        LotRow(r.lot_id, r.lot, r.packing_house, r.alerts, r.flagged_stamps, *scans.get(r.lot_id, (0, 0))) for r in rows
    ]


def _org_filter(stmt: S, where: ReportFilter, org_id: Any) -> S:
    if where.organisation_id is not None:
        stmt = stmt.where(org_id == where.organisation_id)
    if where.province is not None:
        stmt = stmt.where(Organisation.province == where.province)
    return stmt


StampKey = tuple[dt.date, int | None, str]  # month, organisation id, gtin


def issued_by_month(session: Session, where: ReportFilter) -> dict[StampKey, int]:
    """Stamps issued: the sizes of the orders' serial ranges, by the order's month."""
    month = _local_month(session, RollOrder.created_at).label("month")
    size = func.sum(SerialRange.last_serial - SerialRange.first_serial + 1)
    stmt = (
        select(month, SerialRange.organisation_id, SerialRange.gtin, size)
        .join(RollOrder, RollOrder.id == SerialRange.order_id)
        .join(Organisation, Organisation.id == SerialRange.organisation_id)
        .where(RollOrder.created_at >= where.start, RollOrder.created_at < where.end)
        .group_by(month, SerialRange.organisation_id, SerialRange.gtin)
    )
    stmt = _org_filter(stmt, where, SerialRange.organisation_id)
    return {(as_date(m), org, gtin): int(n) for m, org, gtin, n in session.execute(stmt)}


def activated_by_month(session: Session, where: ReportFilter) -> dict[StampKey, int]:
    """Stamps activated: the sizes of the activated ranges, by the activation's month."""
    month = _local_month(session, Activation.created_at).label("month")
    size = func.sum(Activation.last_serial - Activation.first_serial + 1)
    stmt = (
        select(month, Activation.organisation_id, Activation.gtin, size)
        .join(Organisation, Organisation.id == Activation.organisation_id)
        .where(Activation.created_at >= where.start, Activation.created_at < where.end)
        .group_by(month, Activation.organisation_id, Activation.gtin)
    )
    stmt = _org_filter(stmt, where, Activation.organisation_id)
    return {(as_date(m), org, gtin): int(n) for m, org, gtin, n in session.execute(stmt)}


def scanned_by_month(session: Session, where: ReportFilter) -> dict[StampKey, tuple[int, int]]:
    """Scans and distinct stamps scanned, by month, from the rollup. A stamp's packing house is its product's."""
    month = _day_month(session, ScanDailyStat.day).label("month")
    stmt = (
        select(
            month,
            Product.organisation_id,
            ScanDailyStat.gtin,
            func.sum(ScanDailyStat.scans),
            func.sum(ScanDailyStat.month_first_scans),
        )
        .outerjoin(Product, Product.gtin == ScanDailyStat.gtin)
        .outerjoin(Organisation, Organisation.id == Product.organisation_id)
        .where(ScanDailyStat.day >= where.since, ScanDailyStat.day <= where.until)
        .group_by(month, Product.organisation_id, ScanDailyStat.gtin)
    )
    stmt = _org_filter(stmt, where, Product.organisation_id)
    return {(as_date(m), org, gtin): (int(s), int(d)) for m, org, gtin, s, d in session.execute(stmt)}


def scans_by(session: Session, where: ReportFilter, column: str) -> list[tuple[str, int]]:
    """Scans in the range by verdict or by country, from the rollup."""
    group: Any = ScanDailyStat.verdict if column == "verdict" else ScanDailyStat.country
    n = func.sum(ScanDailyStat.scans).label("n")
    stmt = (
        select(group, n)
        .outerjoin(Product, Product.gtin == ScanDailyStat.gtin)
        .outerjoin(Organisation, Organisation.id == Product.organisation_id)
        .where(ScanDailyStat.day >= where.since, ScanDailyStat.day <= where.until)
        .group_by(group)
        .order_by(n.desc(), group)
    )
    stmt = _org_filter(stmt, where, Product.organisation_id)
    return [(value, int(count)) for value, count in session.execute(stmt)]


# Names for the report, and the filter choices


def organisations(session: Session, ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """id -> (code, name, province)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Organisation.id, Organisation.code, Organisation.name, Organisation.province).where(
            Organisation.id.in_(ids)
        )
    )
    return {i: (code, name, province) for i, code, name, province in rows}


def product_names(session: Session, gtins: set[str]) -> dict[str, tuple[str, str]]:
    """gtin -> (Vietnamese name, English name)."""
    if not gtins:
        return {}
    rows = session.execute(select(Product.gtin, Product.name_vi, Product.name_en).where(Product.gtin.in_(gtins)))
    return {gtin: (vi, en) for gtin, vi, en in rows}


def packing_houses(session: Session, province: str | None = None) -> list[tuple[int, str, str, str]]:
    """(id, code, name, province) of every packing house, or of one province's, by code."""
    stmt = select(Organisation.id, Organisation.code, Organisation.name, Organisation.province).where(
        Organisation.kind == OrgKind.PACKING_HOUSE.value
    )
    if province is not None:
        stmt = stmt.where(Organisation.province == province)
    rows = session.execute(stmt.order_by(Organisation.code))
    return [(i, code, name, province) for i, code, name, province in rows]


def alert_types(session: Session) -> list[str]:
    return list(session.scalars(select(Alert.type).distinct().order_by(Alert.type)))


# Exports


def iter_alerts(conn: Connection, where: ReportFilter, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every alert in the range, oldest first, fetched `batch` rows at a time (a server-side cursor on
    PostgreSQL), so an export never holds more than one batch."""
    stmt = _alerts_where(
        _with_org(
            select(
                Alert.id,
                Alert.first_seen_at,
                Alert.last_seen_at,
                Alert.type,
                Alert.severity,
                Alert.status,
                Alert.scope,
                Alert.gtin,
                Alert.serial,
                Lot.code.label("lot"),
                Organisation.code.label("packing_house"),
                Organisation.province,
                Alert.country,
                Alert.count,
                Alert.explanation_vi,
                Alert.explanation_en,
            )
        ).outerjoin(Lot, Lot.id == Alert.lot_id),
        where,
    ).order_by(Alert.first_seen_at, Alert.id)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    for row in result:
        yield dict(row._mapping)


# One alert's scan trail


def alert_row(session: Session, alert_id: int) -> Alert:
    found = session.get(Alert, alert_id)
    if found is None:
        raise NotFound(f"no alert with id {alert_id}")
    return found


def trail(session: Session, alert: Alert, limit: int = 500) -> list[dict[str, Any]]:
    """The scans behind an alert, oldest first: every scan of the stamp for a stamp alert, else its evidence."""
    columns = (
        ScanRecord.id,
        ScanRecord.at,
        ScanRecord.verdict,
        ScanRecord.role,
        ScanRecord.country,
        ScanRecord.region,
        ScanRecord.city,
        ScanRecord.latitude,
        ScanRecord.longitude,
        ScanRecord.accuracy_km,
        ScanRecord.location_source,
        ScanRecord.findings,
    )
    if alert.scope == AlertScope.STAMP.value and alert.gtin and alert.serial and len(alert.serial) <= 18:
        stmt = select(*columns).where(ScanRecord.gtin == alert.gtin, ScanRecord.serial == int(alert.serial))
    else:
        ids = [e for e in alert.evidence if len(e) == 26 and e.isalnum() and e.isupper()]
        try:
            times = [scan_id_time(e) for e in ids]
        except ValueError:  # not a ULID after all
            return []
        if not ids:
            return []
        # A ULID carries its scan's time: the bounds let PostgreSQL read only the months concerned.
        first = dt.datetime.fromtimestamp(min(times) - 1, dt.UTC)
        last = dt.datetime.fromtimestamp(max(times) + 1, dt.UTC)
        stmt = select(*columns).where(ScanRecord.id.in_(ids), ScanRecord.at >= first, ScanRecord.at <= last)
    stmt = stmt.order_by(ScanRecord.at.desc(), ScanRecord.id.desc()).limit(limit)
    return [dict(row._mapping) for row in reversed(session.execute(stmt).all())]


def recent_alerts(session: Session, where: ReportFilter, limit: int = 20) -> list[dict[str, Any]]:
    """The latest alerts raised in the range, for the dashboard's links to their pages."""
    stmt = _alerts_where(
        _with_org(
            select(
                Alert.id,
                Alert.type,
                Alert.severity,
                Alert.status,
                Alert.scope,
                Alert.gtin,
                Alert.serial,
                Alert.count,
                Alert.first_seen_at,
                Alert.country,
                Lot.code.label("lot"),
                Organisation.code.label("packing_house"),
            )
        ).outerjoin(Lot, Lot.id == Alert.lot_id),
        where,
    ).order_by(Alert.first_seen_at.desc(), Alert.id.desc())
    return [dict(row._mapping) for row in session.execute(stmt.limit(limit))]


# Order approval (the ministry's /ministry/orders page)


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    organisation: str
    gtin: str
    quantity: int
    template: str
    status: str
    created_by: str
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    rejection_reason: str | None
    first_serial: int | None
    last_serial: int | None


def _order_rows(session: Session, stmt: Select[RollOrder, str, str, SerialRange]) -> list[OrderRow]:
    return [
        OrderRow(
            id=order.id,
            organisation=code,
            gtin=gtin,
            quantity=order.quantity,
            template=order.template,
            status=order.status,
            created_by=order.created_by,
            created_at=order.created_at,
            decided_by=order.decided_by,
            decided_at=order.decided_at,
            rejection_reason=order.rejection_reason,
            first_serial=serial_range.first_serial if serial_range else None,
            last_serial=serial_range.last_serial if serial_range else None,
        )
        for order, gtin, code, serial_range in session.execute(stmt)
    ]


def _orders_select() -> Select[RollOrder, str, str, SerialRange]:
    return (
        select(RollOrder, Product.gtin, Organisation.code, SerialRange)
        .join(Product, Product.id == RollOrder.product_id)
        .join(Organisation, Organisation.id == RollOrder.organisation_id)
        .outerjoin(SerialRange, SerialRange.order_id == RollOrder.id)
    )


def pending_orders(session: Session, limit: int = 500) -> list[OrderRow]:
    """Orders waiting for the ministry, oldest first (the order they were placed in)."""
    stmt = _orders_select().where(RollOrder.status == "pending").order_by(RollOrder.id).limit(limit)
    return _order_rows(session, stmt)


def decided_orders(session: Session, limit: int = 20) -> list[OrderRow]:
    """The latest decisions made by a person (auto-approved orders have no `decided_at`)."""
    stmt = (
        _orders_select()
        .where(RollOrder.decided_at.is_not(None))
        .order_by(RollOrder.decided_at.desc(), RollOrder.id.desc())
        .limit(limit)
    )
    return _order_rows(session, stmt)


def inspections_by_result(session: Session, where: ReportFilter) -> list[tuple[str, int]]:
    """Inspections made in the period (Vietnam days), counted by the inspector's decision."""
    n = func.count().label("n")
    stmt = (
        select(Inspection.result, n)
        .where(Inspection.inspected_at >= where.start, Inspection.inspected_at < where.end)
        .group_by(Inspection.result)
        .order_by(n.desc(), Inspection.result)
    )
    return [(str(result), int(count)) for result, count in session.execute(stmt)]
