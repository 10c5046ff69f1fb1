"""Rendering of the ministry's pages (Jinja2, autoescaped, server-side only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from alerts.models import AlertStatus
from alerts.schemas import AlertDetail
from alerts.service import ALLOWED
from detection.engine.model import Role, Severity
from identity.principal import Principal
from inspector import service as inspections
from inspector.schemas import InspectionRead
from issuer import areas as area_register
from ministry import repository, service, svg
from ministry.phrases import LANGUAGE_NAMES, label, t
from reports.schemas import ReportRead
from resolver.i18n import country_name, format_date, format_number, format_time
from resolver.pages import JINJA


def _render(template: str, lang: str, path: str, query: Sequence[tuple[str, str]], **context: Any) -> str:
    kept = [(k, v) for k, v in query if k != "lang"]
    links = {code: f"{path}?{urlencode([*kept, ('lang', code)])}" for code in LANGUAGE_NAMES}
    return JINJA.get_template(template).render(
        lang=lang,
        t=lambda key, **values: t(key, lang, **values),
        label=lambda prefix, value: label(prefix, value, lang),
        sev_label=lambda value: label("sev", value, lang),
        st_label=lambda value: label("st", value, lang),
        at_label=lambda value: label("at", value, lang),
        number=lambda value: format_number(value, lang),
        date=lambda value: format_date(value, lang),
        time=lambda value: format_time(value, lang),
        country=lambda code: country_name(code, lang) or code or t("unknown", lang),
        languages=list(LANGUAGE_NAMES.items()),
        lang_links=links,
        **context,
    )


def login_page(lang: str, error: str | None = None, login_csrf: str = "") -> str:
    """`login_csrf`: the form's token, bound to the browser's pre-login cookie."""
    return _render("ministry/login.html", lang, "/ministry/login", [], error=error, login_csrf=login_csrf)


def dashboard_page(
    session: Session, params: Sequence[tuple[str, str]], lang: str, csrf: str, actor: Principal | None = None
) -> str:
    """Filters from the query, the whole report, the HTML. Bad filters raise InvalidInput (a 422).
    `actor`: the caller, for the inspections section (`inspector.service.list_inspections`). A province officer's
    report is its own province's, whatever the query asks: every section is then filtered in SQL by the packing
    house's province, and the inspections, the exports and the administration links are left out."""
    where = service.parse_filter(session, params)
    province = actor.province if actor is not None and actor.role is Role.PROVINCE else None
    if province is not None:
        where = replace(where, province=province)
    report = service.build_report(session, where)
    houses = repository.packing_houses(session, province)
    query = [(k, v) for k, v in params if k != "lang" and v]
    export_query = urlencode([*query, ("lang", lang)])
    return _render(
        "ministry/dashboard.html",
        lang,
        "/ministry",
        params,
        report=report,
        where=where,
        chart=svg.day_bars(report.per_day),
        area_map=svg.area_map(area_register.for_map(session, province)),
        houses=houses,
        provinces=sorted({h[3] for h in houses}),
        types=repository.alert_types(session),
        severities=[s.label for s in Severity],
        statuses=[s.value for s in AlertStatus],
        selected=_selected(params),
        export_query=export_query,
        csrf=csrf,
        inspections=_inspections(session, actor, where) if province is None else None,
        ministry=province is None,
    )


def _inspections(
    session: Session, actor: Principal | None, where: repository.ReportFilter
) -> tuple[list[InspectionRead], list[tuple[str, int]]] | None:
    """The latest inspections of the period and their counts by result; None without a caller."""
    if actor is None:
        return None
    recent = inspections.list_inspections(session, actor, None, where.start, where.end, None, None, 10, 0)
    return recent, repository.inspections_by_result(session, where)


def _selected(params: Sequence[tuple[str, str]]) -> dict[str, set[str]]:
    chosen: dict[str, set[str]] = {}
    for key, value in params:
        chosen.setdefault(key, set()).add(value)
    return chosen


def alert_page(
    detail: AlertDetail,
    scans: list[dict[str, Any]],
    lang: str,
    csrf: str,
    error: str | None = None,
    reports: Sequence[ReportRead] = (),
    verdict: str | None = None,
) -> str:
    """`reports`: the consumers' reports behind a `consumer_report` alert, with their photos and contacts.
    `verdict`: for a stamp alert, the stamp's verdict now (the one everyone who checks it is told)."""
    allowed = sorted(s.value for s in ALLOWED[detail.status])
    return _render(
        "ministry/alert.html",
        lang,
        f"/ministry/alerts/{detail.id}",
        [],
        alert=detail,
        scans=scans,
        map=svg.scan_map(scans),
        allowed=allowed,
        csrf=csrf,
        error=error,
        reports=reports,
        verdict=verdict,
    )
