"""The consumer trace page, the phone's location report, the lot's events and the resolver description."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from crypto import GtinError, normalize_gtin
from crypto.pin import parse_pin_key, pin_matches
from detection.engine import FindingType
from detection.engine.model import Place, Role, Verdict
from detection.online import Judgement, refine_memory
from detection.ports import Lookup
from detection.scans import ScanEvent, StampHistory, scan_id_time
from identity.dependencies import State
from issuer.validation import GS1_CSET82
from resolver import linkset as links
from resolver.hotpath import MAX_HEADER_BYTES, MAX_TARGET
from resolver.i18n import (
    MESSAGES,
    choose_language,
    country_name,
    diary_line,
    finding_lines,
    format_date,
    format_number,
    format_time,
    place_name,
    t,
)
from resolver.location import device_place
from resolver.lot_route import VIETNAM_TIME
from resolver.lot_view import LotView, lot_events_document
from resolver.pages import render
from resolver.product import CORS, link_response, not_found, walk_up
from resolver.report_form import ReportForm, scan_form
from resolver.runtime import ResolverRuntime, Runtime
from resolver.scanning import DEVICE_COOKIE, SCAN_COOKIE, device_id_for, read_cookie, read_scan_token
from tem.core.bounds import StampSerial


def _bounded(request: Request) -> None:
    """Oversized URIs and headers are refused before any work, with the scan route's limits."""
    scope = request.scope
    if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > MAX_TARGET:
        raise HTTPException(414, "the request URI is too long")
    if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > MAX_HEADER_BYTES:
        raise HTTPException(431, "the request headers are too large")


router = APIRouter(dependencies=[Depends(_bounded)])


def _lot_code(value: str) -> bool:
    """Only a possible lot code (GS1 AI 10) is looked up: anything else cannot exist, and a NUL byte
    would make PostgreSQL refuse the query."""
    return 1 <= len(value) <= 20 and all(ch in GS1_CSET82 for ch in value)


def _scan_token(key: bytes, scan: str | None, gtin: str, serial: int) -> tuple[str, Verdict] | None:
    """Tokens are ASCII; anything else is unknown (hmac.compare_digest refuses non-ASCII text)."""
    if not scan or not scan.isascii():
        return None
    return read_scan_token(key, scan, gtin, serial)


def _stage_key(stage: str) -> str:
    if not stage.startswith("step_"):
        return f"stage_{stage}"
    return stage if stage in MESSAGES else "step_other"


def _lot_context(lot: LotView, lang: str) -> dict[str, Any]:
    return {
        "code": lot.code,
        "product_name": lot.product.get(lang) or lot.product["en"],
        "variety": lot.variety,
        "harvest_dates": [format_date(d, lang) for d in lot.harvest_dates],
        "packing_date": format_date(lot.packing_date, lang) if lot.packing_date else None,
        "destinations": [country_name(c, lang) for c in lot.destinations],
        "to_china": "CN" in lot.destinations,
        "packing_house_name": lot.packing_house_name,
        "packing_house_code": lot.packing_house_code,
        "packing_house_province": lot.packing_house_province,
        "growing_areas": [
            {
                "code": a.code,
                "province": a.province,
                "hectares": t("hectares", lang, n=format_number(a.hectares, lang)) if a.hectares else None,
                "status": a.status,
                "status_text": t(f"area_status_{a.status}", lang),
            }
            for a in lot.areas
        ],
        "households_count": t("households_count", lang, n=format_number(len(lot.household_names), lang)),
        "household_names": list(lot.household_names) if lot.show_household_names else [],
        "diaries": [{"area": d.area, "text": diary_line(d, lang)} for d in lot.diaries],
        "stages": [
            {
                "name": t(_stage_key(s.stage), lang),
                "when": format_time(s.occurred_at, lang, s.country),
                "place": ", ".join(p for p in (place_name(s.place or "", lang), country_name(s.country, lang)) if p),
                "recorded_by": t("recorded_by", lang, name=s.recorded_by),
            }
            for s in lot.stages
        ],
        "certificates": [
            " · ".join(
                str(p)
                for p in (
                    t(f"doc_{d.kind}", lang),
                    d.number,
                    d.issuer,
                    format_date(d.issued_on, lang) if d.issued_on else None,
                    d.summary,
                )
                if p
            )
            for d in lot.documents
        ],
        "files": [
            {
                "kind": t(f"doc_{f.kind}", lang),
                "uploaded": t("file_uploaded", lang, date=format_date(_vietnam_day(f.uploaded_at), lang)),
                "fingerprint": t("file_fingerprint", lang, sha=f.sha256_prefix),
            }
            for f in lot.files
        ],
    }


def _vietnam_day(moment: dt.datetime) -> dt.date:
    """The day a file was uploaded, in Vietnam's time zone (where packing houses upload)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(VIETNAM_TIME).date()


def history_lines(history: StampHistory, device: str | None, lang: str) -> list[str]:
    """The convention Chinese consumers know: first check, or "checked N times, first on DATE in PLACE"."""
    if history.count <= 1:
        return [t("first_check", lang, when=_first_time(history, lang))]
    when = _first_time(history, lang)
    count = format_number(history.count, lang)
    if history.devices <= 1 and history.first_device == device:
        return [t("checked_before_same_device", lang, n=count, when=when)]
    place = history.first_place.label if history.first_place else t("place_unknown", lang)
    return [t("checked_many", lang, n=count, when=when, place=place)]


def _first_time(history: StampHistory, lang: str) -> str:
    """In the zone of the place of the first scan when its country is known, else in the reader's."""
    return format_time(history.first_at, lang, history.first_place.country if history.first_place else None)


@router.api_route("/01/{gtin}/10/{lot:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def trace_page(
    request: Request,
    state: State,
    runtime: Runtime,
    gtin: str,
    lot: str,
    serial: StampSerial | None = None,
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """The lot's page, and the lot's GS1 links (`linkType`, or a linkset by Accept). A lot the resolver does not
    know walks up to its GTIN. A serial's verdict comes only from the scan that led here (its cookie)."""
    language = choose_language(request.headers.get("accept-language"), lang)
    lot = lot.removesuffix("/")  # a trailing slash is tolerated
    try:
        gtin14 = normalize_gtin(gtin)
    except GtinError:
        return not_found(request, 400, "malformed")
    if not _lot_code(lot):
        return not_found(request, 400, "malformed")
    snapshot = await runtime.registry.current()
    view = await asyncio.to_thread(runtime.lots.get, snapshot.version, gtin14, lot)
    if view is None:
        return await walk_up(request, runtime, gtin14)
    base = state.settings.public_base_url.rstrip("/")
    levels = [links.lot_level(base, gtin14, view.code), links.product_level(base, gtin14, view.product["en"])]
    link_type = request.query_params.get("linkType")
    if link_type is not None or links.wants_links(None, request.headers.get("accept", "")):
        return link_response(request, levels)
    verdict: Verdict | None = None
    lines: list[str] = []
    location_scan: str | None = None
    report: ReportForm | None = None
    pin_panel = False  # the form appears only for a stamp whose label printed a scratch-off PIN panel
    if serial is not None:
        device_cookie = read_cookie(request.headers, DEVICE_COOKIE)
        device = device_id_for(device_cookie, request.headers.get("user-agent", "")) if device_cookie else None
        scan = read_cookie(request.headers, SCAN_COOKIE, longest=80)
        token = _scan_token(runtime.config.link_key, scan, gtin14, serial)
        lookup = snapshot.ranges.lookup(gtin14, serial, "")
        if token is not None and lookup.lot is not None and lookup.lot.lot_id == view.lot_id:
            verdict = token[1]
            location_scan = scan
            pin_panel = snapshot.ranges.has_pin(gtin14, serial)
            history = await runtime.store.history(gtin14, serial)
            lines = history_lines(history, device, language)
            if scan is not None and device_cookie is not None:
                report = scan_form(runtime.config.link_key, scan, gtin14, serial, verdict, device_cookie, language)
    body = render(
        "pages/trace.html",
        language,
        request.url.path,
        list(request.query_params.multi_items()),
        lot=_lot_context(view, language),
        verdict=verdict.value if verdict else None,
        lines=lines,
        serial=serial,
        gtin=gtin14,
        pin_action="/scans/pin" if location_scan and pin_panel and state.settings.pin_key else None,
        location_scan=location_scan,
        lang_code=language,
        report=report,
    )
    headers = {
        **CORS,
        "Cache-Control": "no-store",
        "Content-Language": language,
        "Vary": "Accept",
        "Link": links.link_header(levels[0], f"{levels[0].anchor}?linkType=linkset"),
    }
    return HTMLResponse(body, headers=headers)


MAX_WRONG_PINS = 5


@router.post("/scans/pin", include_in_schema=False)
async def confirm_pin(request: Request, state: State, runtime: Runtime) -> Response:
    """The scratch-off PIN, posted by the trace page's plain HTML form (no JavaScript needed).

    The first correct confirmation proves the physical stamp; a second one means the stamp was copied.
    Wrong codes are counted, and after a few the stamp stops accepting them, so the 8 digits cannot be guessed.
    """
    body = await request.body()
    form = dict(parse_qsl(body[:2048].decode("latin-1"), keep_blank_values=True))
    language = choose_language(request.headers.get("accept-language"), form.get("lang"))

    def answer(status: int, verdict: str, key: str, *more: str, **values: object) -> HTMLResponse:
        page = render(
            "pages/verdict.html",
            language,
            "/scans/pin",
            [],
            verdict=verdict,
            lines=[t(key, language, **values), *more],
            stamp=None,
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    try:
        gtin14 = normalize_gtin(form.get("gtin", ""))
        serial = int(form.get("serial", ""))
    except (GtinError, ValueError):
        return answer(400, "unknown", "malformed")
    pin = form.get("pin", "").strip()
    token = _scan_token(runtime.config.link_key, form.get("scan"), gtin14, serial)
    if token is None or not state.settings.pin_key:
        return answer(404, "unknown", "not_found")
    if len(pin) != 8 or not pin.isdigit():
        return answer(422, "unknown", "pin_format")
    correct = pin_matches(parse_pin_key(state.settings.pin_key), gtin14, serial, pin)
    confirmed, wrong = await runtime.store.confirm_pin(gtin14, serial, correct=correct)
    snapshot = await runtime.registry.current()
    lookup = snapshot.ranges.lookup(gtin14, serial, "")
    if wrong > MAX_WRONG_PINS:  # locked: later guesses are not even judged, and the stamp's verdict stands
        return answer(429, (await runtime.scans.verdict(gtin14, serial, lookup)).value, "pin_locked")
    judgement = await _judge_pin(request, runtime, lookup, gtin14, serial, correct)
    # The page says the stamp's verdict, the one every other check of it gets; the words say what this
    # entry showed, and why the verdict is what it is.
    verdict = judgement.verdict.value
    why = finding_lines(judgement.findings, language, judgement.open_alerts)
    if wrong == MAX_WRONG_PINS:
        return answer(429, verdict, "pin_locked", *why)
    if not correct:
        return answer(200, verdict, "pin_wrong", *why)
    if any(f.type is FindingType.PIN_REUSED for f in judgement.findings):
        return answer(200, verdict, "pin_reused", n=format_number(confirmed - 1, language))
    return answer(200, verdict, "pin_first", *why)  # the first confirmation, or the same phone confirming again


async def _judge_pin(
    request: Request, runtime: ResolverRuntime, lookup: Lookup, gtin: str, serial: int, correct: bool
) -> Judgement:
    device = device_id_for(request.cookies.get(DEVICE_COOKIE) or "", request.headers.get("user-agent", ""))
    return await runtime.scans.record_pin(gtin, serial, lookup, device, correct)


class LocationReport(BaseModel):
    scan: str = Field(max_length=80)
    gtin: str = Field(max_length=14)
    serial: StampSerial
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    accuracy_m: float = Field(gt=0, le=100_000)


@router.post("/scans/location", status_code=204, include_in_schema=False)
async def report_location(report: LocationReport, request: Request, runtime: Runtime) -> Response:
    """The trace page sends the phone's position when the person allows it; it joins the scan, and refines
    the place detection remembers for that phone's sighting of the stamp."""
    token = _scan_token(runtime.config.link_key, report.scan, report.gtin, report.serial)
    if token is None:
        return JSONResponse({"error": {"message": "unknown scan"}}, status_code=404)
    scan_id, verdict = token
    place: Place = device_place(report.latitude, report.longitude, report.accuracy_m)
    update = ScanEvent(
        scan_id=scan_id,
        at=scan_id_time(scan_id),
        gtin=report.gtin,
        serial=report.serial,
        kid="",
        state="",
        verdict=verdict,
        role=Role.CONSUMER,
        device_id="",
        ip_hash=None,
        place=place,
        lot_id=None,
        kind="location",
    )
    await runtime.store.attach_place(update)
    cookie = request.cookies.get(DEVICE_COOKIE)
    if cookie:
        device = device_id_for(cookie, request.headers.get("user-agent", ""))
        await refine_memory(runtime.store, runtime.scans.detector, report.gtin, report.serial, device, place)
    return Response(status_code=204)


@router.get("/api/v1/public/lot-events", tags=["public"], summary="A lot's stage records as EPCIS 2.0")
async def lot_events(
    state: State,
    runtime: Runtime,
    gtin: Annotated[str, Query(max_length=14)],
    lot: Annotated[str, Query(max_length=20)],
) -> Response:
    try:
        gtin14 = normalize_gtin(gtin)
    except GtinError as exc:
        return JSONResponse({"error": {"message": str(exc), "field": "gtin"}}, status_code=400)
    snapshot = await runtime.registry.current()
    view = await asyncio.to_thread(runtime.lots.get, snapshot.version, gtin14, lot) if _lot_code(lot) else None
    if view is None:
        return JSONResponse({"error": {"message": "no such lot"}}, status_code=404)
    return JSONResponse(
        await asyncio.to_thread(lot_events_document, state.db, view.lot_id),
        media_type="application/ld+json",
        headers={"Access-Control-Allow-Origin": "*"},
    )


@router.get("/.well-known/gs1resolver", tags=["public"], summary="GS1 resolver description")
async def resolver_description(state: State) -> Response:
    return JSONResponse(
        links.resolver_description(state.settings.public_base_url.rstrip("/")),
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"},
    )
