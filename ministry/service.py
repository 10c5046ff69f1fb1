"""The ministry's report: filters read from a query string, then every section from the repository.

Reads only; the alert workflow itself is alerts.service's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from alerts import service as alerts
from alerts.models import AlertStatus
from detection.engine.model import Severity
from ministry import repository
from ministry.repository import LotRow, ReportFilter
from ministry.rollup import VIETNAM
from tem.core.bounds import FIRST_YEAR, LAST_YEAR
from tem.core.errors import InvalidInput

MAX_DAYS = 366
DEFAULT_DAYS = 30
MAX_VALUES = 20  # of one repeated filter


def today() -> dt.date:
    return dt.datetime.now(VIETNAM).date()


def _date(value: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date written YYYY-MM-DD", field=name) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(f"{name} must fall in the years {FIRST_YEAR} to {LAST_YEAR}", field=name)
    return day


def _checked(values: dict[str, list[str]], name: str, valid: Callable[[str], bool], message: str) -> tuple[str, ...]:
    given = tuple(dict.fromkeys(values.get(name, [])))
    for value in given:
        if not valid(value):
            raise InvalidInput(message, field=name)
    return given


def parse_filter(session: Session, params: Sequence[tuple[str, str]]) -> ReportFilter:
    """Read the report's filters from query parameters. Empty values mean "any"; anything else unknown is a 422."""
    values: dict[str, list[str]] = {}
    for key, value in params:
        if value.strip():
            values.setdefault(key, []).append(value.strip())
    for key, given in values.items():
        if len(given) > MAX_VALUES:
            raise InvalidInput(f"at most {MAX_VALUES} values of {key}", field=key)

    def one(name: str) -> str | None:
        given = values.get(name, [])
        if len(given) > 1:
            raise InvalidInput(f"give {name} once", field=name)
        return given[0] if given else None

    until_text, since_text = one("until"), one("since")
    until = _date(until_text, "until") if until_text else today()
    since = _date(since_text, "since") if since_text else until - dt.timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise InvalidInput("since must not be after until", field="since")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days; narrow the date range", field="since")

    types = _checked(values, "type", alerts.valid_type, "unknown alert type")
    severities = _checked(
        values, "severity", {s.label for s in Severity}.__contains__, "severity must be info, warning or critical"
    )
    statuses = _checked(
        values,
        "status",
        {s.value for s in AlertStatus}.__contains__,
        "status must be open, acknowledged, resolved or false_positive",
    )

    houses = repository.packing_houses(session)
    organisation_id = None
    code = one("packing_house")
    if code is not None:
        found = [h for h in houses if h[1] == code]
        if not found:
            raise InvalidInput("no packing house has that code", field="packing_house")
        organisation_id = found[0][0]
    province = one("province")
    if province is not None and province not in {h[3] for h in houses}:
        raise InvalidInput("no packing house is in that province", field="province")
    return ReportFilter(since, until, types, severities, statuses, organisation_id, province)


@dataclass(frozen=True, slots=True)
class StampRow:
    month: dt.date
    packing_house: str
    packing_house_name: str
    gtin: str
    product_vi: str
    product_en: str
    issued: int
    activated: int
    scans: int
    stamps_scanned: int  # distinct stamps, exact per calendar month


@dataclass(frozen=True, slots=True)
class Report:
    where: ReportFilter
    per_day: list[tuple[dt.date, int]]  # every day of the range, zeros included
    by: dict[str, list[tuple[str | None, int]]]  # alert counts by each repository.DIMENSIONS
    top_lots: list[LotRow]
    stamps: list[StampRow]
    scans_by_verdict: list[tuple[str, int]]
    scans_by_country: list[tuple[str, int]]
    recent: list[dict[str, object]] = field(default_factory=list)
    total_alerts: int = 0


def build_report(session: Session, where: ReportFilter) -> Report:
    counted = dict(repository.alerts_per_day(session, where))
    days = (where.until - where.since).days + 1
    per_day = [(day, counted.get(day, 0)) for day in (where.since + dt.timedelta(days=i) for i in range(days))]
    return Report(
        where=where,
        per_day=per_day,
        by={dimension: repository.alerts_by(session, where, dimension) for dimension in repository.DIMENSIONS},
        top_lots=repository.top_lots(session, where),
        stamps=stamp_rows(session, where),
        scans_by_verdict=repository.scans_by(session, where, "verdict"),
        scans_by_country=repository.scans_by(session, where, "country"),
        recent=repository.recent_alerts(session, where),
        total_alerts=sum(counted.values()),
    )


def stamp_rows(session: Session, where: ReportFilter) -> list[StampRow]:
    """Issued, activated and scanned stamps per month, packing house and product."""
    issued = repository.issued_by_month(session, where)
    activated = repository.activated_by_month(session, where)
    scanned = repository.scanned_by_month(session, where)
    keys = sorted(set(issued) | set(activated) | set(scanned), key=lambda k: (k[0], k[1] or 0, k[2]))
    orgs = repository.organisations(session, {org for _m, org, _g in keys if org is not None})
    names = repository.product_names(session, {gtin for _m, _o, gtin in keys})
    rows = []
    for month, org, gtin in keys:
        code, name, _province = orgs.get(org, ("", "", "")) if org is not None else ("", "", "")
        vi, en = names.get(gtin, ("", ""))
        scans, stamps = scanned.get((month, org, gtin), (0, 0))
        rows.append(
            StampRow(
                month,
                code,
                name,
                gtin,
                vi,
                en,
                issued.get((month, org, gtin), 0),
                activated.get((month, org, gtin), 0),
                scans,
                stamps,
            )
        )
    return rows
