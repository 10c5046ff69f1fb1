"""Inspector logic: verify a stamp with its live state, record inspections idempotently, app sessions.

Services flush; the caller's unit of work commits. The async `verify` does the in-memory and scan-store
work itself and hands the database reads to a thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alerts import service as alert_queries
from alerts.service import AlertService
from crypto import ParsedStamp, PublicKey, StampFormatError, VerificationStatus, parse_stamp_uri, verify_stamp
from detection.engine.model import AlertLevelChange, FindingType, Place, Role, Severity, StampState, Verdict
from detection.findings import AlertFinding
from detection.ports import Lookup
from detection.scans import StampHistory
from identity import service as identity
from identity.dependencies import stamp_alerts_changed as note_stamp_alert
from identity.principal import Principal
from inspector import repository, schemas
from inspector.models import Inspection, InspectionResult
from resolver.ranges import RangeIndex
from resolver.registry import Snapshot
from resolver.runtime import ResolverRuntime
from tem.core.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from tem.core.settings import Settings
from tem.core.time import utcnow

APP_ROLES = (Role.INSPECTOR, Role.MINISTRY)
ALERT_TYPES = {
    InspectionResult.COUNTERFEIT: (FindingType.INSPECTOR_COUNTERFEIT, Severity.CRITICAL),
    InspectionResult.SEIZED: (FindingType.INSPECTOR_SEIZED, Severity.WARNING),
}
_REASONS = {
    StampState.ACTIVATED: "the signature is valid and the stamp is active on a lot",
    StampState.NOT_ACTIVATED: "the signature is valid but the stamp was never assigned to a lot",
    StampState.UNKNOWN_SERIAL: "the signature is valid but this serial was never issued",
    StampState.KEY_REVOKED: "the key that signed this stamp has been revoked",
}


# App sessions


def login(session: Session, settings: Settings, token: str) -> tuple[str, schemas.Me]:
    """Exchange an API token for a session id (returned once, for the cookie; only its hash is kept)."""
    principal = identity.authenticate(session, token)
    if principal is None:
        raise Unauthorized("the token is unknown or has been revoked")
    if principal.role not in APP_ROLES or principal.token_id is None:
        raise Forbidden("the inspector app is for inspectors and ministry staff")
    session_id, expires = identity.start_session(session, principal, settings.inspect_session_hours)
    return session_id, me(principal, expires)


def me(principal: Principal, expires_at: dt.datetime | None) -> schemas.Me:
    assert principal.token_id is not None
    assert principal.role is not None
    return schemas.Me(
        inspector_id=principal.token_id,
        name=principal.name,
        role=principal.role.value,
        organisation=principal.organisation_code or "",
        expires_at=expires_at,
    )


# Verify


@dataclass(frozen=True, slots=True)
class Caller:
    """Where an inspector's check comes from: who, the trusted place, and the address (hashed when recorded,
    never kept)."""

    principal: Principal
    place: Place | None
    ip: str | None


def _place_info(place: Place | None) -> schemas.PlaceInfo | None:
    if place is None:
        return None
    label = place.label
    if label == "?" and place.latitude is not None and place.longitude is not None:
        label = f"{place.latitude:.4f}, {place.longitude:.4f}"
    return schemas.PlaceInfo(
        label=label,
        country=place.country,
        latitude=place.latitude,
        longitude=place.longitude,
        accuracy_km=place.accuracy_km,
    )


def _when(epoch: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch is not None else None


def _history(history: StampHistory, scans: list[dict[str, Any]]) -> schemas.HistorySummary:
    return schemas.HistorySummary(
        count=history.count,
        devices=history.devices,
        first_at=_when(history.first_at),
        first_place=_place_info(history.first_place),
        recent_places=[p for p in (_place_info(place) for place in history.recent) if p is not None],
        recent_scans=[
            schemas.ScanSummary(
                id=s["id"],
                at=s["at"],
                role=s["role"],
                verdict=s["verdict"],
                place=_place_info(
                    Place(
                        country=s["country"],
                        city=s["city"],
                        latitude=s["latitude"],
                        longitude=s["longitude"],
                        accuracy_km=s["accuracy_km"],
                    )
                )
                if s["country"] or s["latitude"] is not None
                else None,
            )
            for s in scans
        ],
    )


@dataclass(frozen=True, slots=True)
class _Context:
    product: schemas.ProductInfo | None
    lot: schemas.LotInfo | None
    packing_house: schemas.PackingHouseInfo | None
    organisation_id: int | None
    alerts: list[Any]
    scans: list[dict[str, Any]]


def _context(session: Session, stamp: ParsedStamp, lookup: Lookup | None, with_scans: bool) -> _Context:
    """The database side of a check: product, lot, packing house, alerts and the logged scans."""
    owner = repository.product_and_owner(session, stamp.gtin)
    product = house = None
    organisation_id: int | None = None
    if owner is not None:
        row, org = owner
        product = schemas.ProductInfo(
            gtin=row.gtin, name_vi=row.name_vi, name_en=row.name_en, name_zh=row.name_zh, variety=row.variety
        )
        house = schemas.PackingHouseInfo(code=org.code, name=org.name, province=org.province)
        organisation_id = org.id
    lot_info = None
    lot_id = lookup.lot.lot_id if lookup is not None and lookup.lot is not None else None
    if lot_id is not None:
        lot = repository.lot(session, lot_id)
        if lot is not None:
            lot_info = schemas.LotInfo(
                id=lot.id,
                code=lot.code,
                harvest_dates=list(lot.harvest_dates),
                packing_date=lot.packing_date,
                destination_markets=list(lot.destination_markets),
            )
    found = alert_queries.active_for_stamp(session, stamp.gtin, stamp.serial, lot_id, organisation_id)
    scans = repository.recent_scans(session, stamp.gtin, stamp.serial) if with_scans else []
    return _Context(product, lot_info, house, organisation_id, found, scans)


async def verify(session: Session, runtime: ResolverRuntime, caller: Caller, uri: str) -> schemas.VerifyRead:
    """Check a stamp for an inspector: signature, registry state, live history, alerts.

    A stamp with a genuine signature is recorded as an inspector scan (role `inspector`, the device's
    position as a trusted place), so detection sees it; it is never a consumer scan. Forged and
    unparsable codes are not written to the stamp's history, as on the consumer path.
    """
    checked_at = dt.datetime.now(dt.UTC)
    try:
        stamp = parse_stamp_uri(uri)
    except StampFormatError as exc:
        return schemas.VerifyRead(
            checked_at=checked_at,
            verdict=Verdict.UNKNOWN,
            state="format_error",
            signature=None,
            reason=f"this is not a TEM stamp: {exc}",
            gtin=None,
            serial=None,
            kid=None,
            product=None,
            lot=None,
            packing_house=None,
            history=None,
            alerts=[],
            scan_id=None,
        )
    snapshot: Snapshot = await runtime.registry.current()
    checked = verify_stamp(stamp, snapshot.keyset)
    if checked.status in (VerificationStatus.BAD_SIGNATURE, VerificationStatus.UNKNOWN_KEY):
        context = await run_in_threadpool(_context, session, stamp, None, False)
        return schemas.VerifyRead(
            checked_at=checked_at,
            verdict=Verdict.COUNTERFEIT,
            state="forged",
            signature=checked.status.value,
            reason=f"forged: {checked.reason}",
            gtin=stamp.gtin,
            serial=str(stamp.serial),
            kid=stamp.kid,
            product=context.product,
            lot=None,
            packing_house=context.packing_house,
            history=None,
            alerts=context.alerts,
            scan_id=None,
        )
    lookup = snapshot.ranges.lookup(stamp.gtin, stamp.serial, stamp.kid)
    role = Role.DISTRIBUTOR if caller.principal.role is Role.DISTRIBUTOR else Role.INSPECTOR
    device = f"{caller.principal.role}.{caller.principal.token_id}"
    judgement = await runtime.scans.record(
        stamp.gtin, stamp.serial, stamp.kid, lookup, role, device, caller.ip, caller.place
    )
    history = await runtime.store.history(stamp.gtin, stamp.serial)
    context = await run_in_threadpool(_context, session, stamp, lookup, True)
    verdict = judgement.verdict  # the stamp's verdict: the one a consumer scanning it now is told
    # Inspectors and the ministry are officials: they get the packing house's note beside the category. A
    # distributor is a trader: it is told the category only, as a consumer is.
    note = f": {lookup.note}" if lookup.note and role is Role.INSPECTOR else ""
    reason = _REASONS.get(lookup.state) or f"the stamp has been revoked ({lookup.category}){note}"
    if judgement.findings:
        reason += "; " + "; ".join(f.explanation_en.rstrip(".") for f in judgement.findings)
    earlier = [kind.value for kind in judgement.open_alerts if all(f.type is not kind for f in judgement.findings)]
    if earlier:
        reason += f"; open alerts on this stamp: {', '.join(earlier)}"
    return schemas.VerifyRead(
        checked_at=checked_at,
        verdict=verdict,
        state=lookup.state.value,
        signature=checked.status.value,
        reason=reason,
        gtin=stamp.gtin,
        serial=str(stamp.serial),
        kid=stamp.kid,
        product=context.product,
        lot=context.lot,
        packing_house=context.packing_house,
        history=_history(history, context.scans),
        alerts=context.alerts,
        scan_id=judgement.event.scan_id,
    )


# Inspections


def _payload_hash(actor: Principal, data: schemas.InspectionCreate) -> str:
    body = data.model_dump(mode="json", exclude={"client_id"})
    body["inspected_at"] = data.inspected_at.astimezone(dt.UTC).isoformat()
    body["inspector_token_id"] = actor.token_id
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _client_key(body_key: str | None, header_key: str | None) -> str:
    if header_key is not None:
        header_key = header_key.strip()
        if not schemas.CLIENT_ID.match(header_key):
            raise InvalidInput(
                "Idempotency-Key must be 8 to 64 characters: letters, digits, '-' and '_'", field="client_id"
            )
    if body_key and header_key and body_key != header_key:
        raise InvalidInput("client_id and the Idempotency-Key header differ", field="client_id")
    key = body_key or header_key
    if not key:
        raise InvalidInput(
            "an inspection needs an idempotency key: client_id in the body or the Idempotency-Key header",
            field="client_id",
        )
    return key


@dataclass(frozen=True, slots=True)
class Recorded:
    inspection: schemas.InspectionRead
    created: bool  # False: the same record had already arrived (a retry), nothing was written


def record_inspection(
    session: Session,
    actor: Principal,
    data: schemas.InspectionCreate,
    header_key: str | None,
    keyset: Mapping[str, PublicKey],
    ranges: RangeIndex,
    alerts: AlertService,
) -> Recorded:
    """Store an inspection once per idempotency key. A retry with the same body returns the first
    record; the same key with a different body is a conflict. Counterfeit and seized results open (or
    bump) an alert for the ministry, exactly once per record."""
    if actor.organisation_id is None or actor.role not in APP_ROLES:
        raise Forbidden("inspections are recorded by inspectors and ministry staff")
    key = _client_key(data.client_id, header_key)
    now = utcnow()
    if data.inspected_at > now + dt.timedelta(days=1):
        raise InvalidInput("inspected_at is in the future; check the device's clock", field="inspected_at")
    if data.inspected_at < now - dt.timedelta(days=366):
        raise InvalidInput("inspected_at is more than a year ago", field="inspected_at")
    digest = _payload_hash(actor, data)
    existing = repository.inspection_by_key(session, actor.organisation_id, key)
    if existing is not None:
        return _replayed(existing, digest)

    stamp: ParsedStamp | None
    try:
        stamp = parse_stamp_uri(data.uri)
        signature = verify_stamp(stamp, keyset).status.value
    except StampFormatError:
        stamp, signature = None, "format_error"
    inspection = Inspection(
        client_id=key,
        organisation_id=actor.organisation_id,
        inspector_token_id=actor.token_id,
        inspector=actor.actor,
        payload_hash=digest,
        uri=data.uri,
        gtin=stamp.gtin if stamp else None,
        serial=str(stamp.serial) if stamp else None,
        kid=stamp.kid if stamp else None,
        signature=signature,
        verdict=data.verdict.value,
        verdict_source=data.verdict_source,
        result=data.result.value,
        note=data.note or None,
        latitude=data.latitude,
        longitude=data.longitude,
        accuracy_m=data.accuracy_m,
        scan_id=data.scan_id,
        inspected_at=data.inspected_at.astimezone(dt.UTC),
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(inspection)
            session.flush()
    except IntegrityError:
        # The same record arrived twice at once (a retry racing the first upload).
        raced = repository.inspection_by_key(session, actor.organisation_id, key)
        if raced is None:
            raise
        return _replayed(raced, digest)
    if data.result in ALERT_TYPES:
        inspection.alert_id = _open_alert(session, alerts, actor, inspection, stamp, signature, ranges, data.result)
        session.flush()
    return Recorded(schemas.InspectionRead.model_validate(inspection), created=True)


def _replayed(existing: Inspection, digest: str) -> Recorded:
    if existing.payload_hash != digest:
        raise Conflict(
            "this idempotency key was already used for a different inspection; generate a new key per record",
            field="client_id",
        )
    return Recorded(schemas.InspectionRead.model_validate(existing), created=False)


def _open_alert(
    session: Session,
    alerts: AlertService,
    actor: Principal,
    inspection: Inspection,
    stamp: ParsedStamp | None,
    signature: str,
    ranges: RangeIndex,
    result: InspectionResult,
) -> int:
    alert_type, severity = ALERT_TYPES[result]
    lot_id = organisation_id = None
    if stamp is not None:
        if signature in ("valid", "key_revoked"):
            found = ranges.lookup(stamp.gtin, stamp.serial, stamp.kid)
            lot_id = found.lot.lot_id if found.lot else None
        owner = repository.product_and_owner(session, stamp.gtin)
        organisation_id = owner[1].id if owner else None
    when = inspection.inspected_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    words_en = {InspectionResult.COUNTERFEIT: "counterfeit", InspectionResult.SEIZED: "seized"}[result]
    words_vi = {InspectionResult.COUNTERFEIT: "là hàng giả", InspectionResult.SEIZED: "đã bị tạm giữ"}[result]
    what_en = "this stamp" if stamp else "a code that is not a valid TEM stamp"
    what_vi = "tem này" if stamp else "một mã không phải tem TEM hợp lệ"
    evidence = [inspection.scan_id] if inspection.scan_id else []
    evidence.append(f"inspection:{inspection.id}")
    if stamp is not None and signature == "valid":  # the stamp's verdict rests on this alert from now on
        note_stamp_alert(session, AlertLevelChange(stamp.gtin, stamp.serial, alert_type, severity))
    change = alerts.open_or_bump(
        session,
        AlertFinding(
            type=alert_type.value,
            severity=severity,
            gtin=stamp.gtin if stamp else None,
            serial=stamp.serial if stamp else None,
            lot_id=lot_id,
            organisation_id=organisation_id,
            evidence=tuple(evidence),
            explanation_vi=(
                f"Cán bộ quản lý thị trường báo cáo {what_vi} {words_vi} lúc {when} (kiểm tra chữ ký: {signature})."
            ),
            explanation_en=(
                f"A market inspector reported {what_en} as {words_en} at {when} (signature check: {signature})."
            ),
            at=inspection.inspected_at,
            actor=actor.actor,
            subject=None if stamp else inspection.uri,
        ),
    )
    return change.alert.id


def list_inspections(
    session: Session,
    actor: Principal,
    inspector_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    result: InspectionResult | None,
    gtin: str | None,
    limit: int,
    offset: int,
) -> list[schemas.InspectionRead]:
    """The ministry sees every inspection (optionally one inspector's); an inspector sees their own."""
    if actor.role is Role.MINISTRY:
        who = inspector_id
    elif actor.role is Role.INSPECTOR and actor.token_id is not None:
        who = actor.token_id
    else:
        raise Forbidden("inspections are for inspectors and the ministry")
    rows = repository.inspections(session, who, since, until, result.value if result else None, gtin, limit, offset)
    return [schemas.InspectionRead.model_validate(row) for row in rows]
