"""Receiving a consumer's report of a fake, and the ministry's reading of reports.

A report is taken only for a stamp whose signature holds (or the scan token of a scan whose signature held),
from a form this site made for that stamp and that device within the hour, and within the limits per network,
per stamp and per day. It is stored, and it opens (or adds to) the stamp's `consumer_report` alert.

That alert is `info`: a report is a claim, not proof. It never changes what a consumer is told, which comes
from the registry and detection alone; and the inspector's verify reads an active `warning` on a stamp as
"suspect", which one person's unchecked word must not do. The ministry weighs it with the photo and the scan
trail, and may act on it.

Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from crypto import GtinError, StampFormatError, VerificationStatus, normalize_gtin, parse_stamp_path, verify_stamp
from detection.engine.model import Severity, Verdict
from detection.findings import AlertFinding, AlertSink
from detection.ports import Lookup
from reports import photos, repository
from reports.models import ConsumerReport
from reports.schemas import ReportRead, Submission
from resolver.report_form import (
    MAX_CONTACT_CHARS,
    MAX_PLACE_CHARS,
    REPORTABLE,
    ReportForm,
    token_holds,
)
from resolver.runtime import ResolverRuntime
from resolver.scanning import read_scan_token
from resolver.store import ScanStore
from tem.core.errors import NotFound, TemError
from tem.core.settings import Settings

log = logging.getLogger("tem.reports")

ALERT_TYPE = "consumer_report"
ACTOR = "public:consumer_report"
MAX_SERIAL = 99_999_999_999_999_999_999
_VN = dt.timezone(dt.timedelta(hours=7))
_EMAIL = re.compile(r"\A[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+\Z")
_PHONE = re.compile(r"\A\+?[0-9 ().-]+\Z")
_EXPLANATION_EN = (
    "A consumer reported this stamp as fake after the check told them it was {verdict}. A report is a claim, not "
    "proof: look at its photo and place, and at the stamp's scan trail."
)
_EXPLANATION_VI = (
    "Người tiêu dùng báo tem này là hàng giả sau khi kết quả kiểm tra là “{verdict}”. Báo cáo là lời khai, chưa phải "
    "bằng chứng: hãy xem ảnh, nơi mua và hành trình quét của tem."
)
_VERDICT_VI = {Verdict.SUSPECT: "nghi ngờ", Verdict.COUNTERFEIT: "hàng giả"}


class Refused(TemError):
    """A report not taken. `key` and `values` are the words the person reads (`resolver.i18n`); `form` is the
    form to show again when the person can fix what was wrong; `retry_after` is for a limit."""

    def __init__(
        self,
        status: int,
        key: str,
        *,
        form: ReportForm | None = None,
        retry_after: int | None = None,
        **values: object,
    ) -> None:
        super().__init__(key)
        self.status_code = status
        self.key = key
        self.values = values
        self.form = form
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Posted:
    """What a request brought, read by the route: the form's text fields, the photo's bytes (None: no photo),
    the device cookie, and where it came from (the network's keyed hash and the address's country)."""

    fields: Mapping[str, str]
    photo: bytes | None
    device: str | None
    network: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class Limits:
    """Reports taken per network (a hashed /24 or /48) per hour, per stamp per day and in all per day (Vietnam
    time). Counted in the scan store with the forged-scan limit's counter (in process, or in Redis shared by
    every process), under keys of their own."""

    per_network_hour: int = 5
    per_stamp_day: int = 20
    per_day: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.report_network_limit, settings.report_stamp_limit, settings.report_daily_limit)

    async def take(self, store: ScanStore, network: str | None, gtin: str, serial: int) -> None:
        """Count one report against each limit in turn; `Refused` (429) at the first one it goes past."""
        day = dt.datetime.now(_VN).date().isoformat()
        checks = (
            ("network", f"report:net:{network or 'unknown'}", 3600, self.per_network_hour),
            ("stamp", f"report:stamp:{gtin}:{serial}", 86_400, self.per_stamp_day),
            ("day", f"report:day:{day}", 2 * 86_400, self.per_day),
        )
        for name, key, window, limit in checks:
            if await store.count_forged(key, window) > limit:
                log.warning("consumer_report_limited limit=%s network=%s", name, network)
                raise Refused(429, f"report_limit_{name}", retry_after=min(window, 86_400))


# Receiving


async def submit(
    session: Session, runtime: ResolverRuntime, alerts: AlertSink, limits: Limits, posted: Posted, lang: str
) -> int:
    """Check, limit, store and alert; the new report's id. `Refused` for anything not taken."""
    submission, lookup, form = await _checked(runtime, posted, lang)
    await limits.take(runtime.store, posted.network, submission.gtin, submission.serial)
    photo = None
    if posted.photo is not None:
        try:
            photo = await run_in_threadpool(photos.prepare, posted.photo)
        except photos.PhotoRefused as exc:
            status = {"too_large": 413, "not_image": 415}.get(exc.reason, 422)
            values = {"n": photos.MAX_PIXELS // 1_000_000} if exc.reason == "too_many_pixels" else {}
            raise Refused(status, f"report_{exc.reason}", form=form, **values) from None
    report = await run_in_threadpool(record, session, alerts, submission, lookup, photo, posted)
    # Never the contact or the place: only what identifies the report and its alert.
    log.info("consumer_report_received report=%s alert=%s photo=%s", report.id, report.alert_id, photo is not None)
    return report.id


async def _checked(runtime: ResolverRuntime, posted: Posted, lang: str) -> tuple[Submission, Lookup, ReportForm]:
    """The stamp the form is about (its signature or its scan token checked), the form's token, then the fields."""
    fields = posted.fields
    key = runtime.config.link_key
    try:
        verdict = Verdict(fields.get("verdict", ""))
        issued = int(fields.get("issued", ""))
    except ValueError:
        raise Refused(400, "report_unreadable_form") from None
    if verdict not in REPORTABLE:
        raise Refused(400, "report_unreadable_form")
    snapshot = await runtime.registry.current()
    if "stamp" in fields:
        path, _, query = fields["stamp"].partition("?")
        try:
            stamp = parse_stamp_path(path, query)
        except StampFormatError:
            raise Refused(400, "malformed") from None
        checked = verify_stamp(stamp, snapshot.keyset)
        if not checked and checked.status is not VerificationStatus.KEY_REVOKED:
            raise Refused(400, "report_forged")
        gtin, serial, kid = stamp.gtin, stamp.serial, stamp.kid
        hidden: tuple[str, ...] = ("stamp", "verdict", "issued", "token")
    elif "scan" in fields:
        try:
            gtin = normalize_gtin(fields.get("gtin", ""))
            serial = int(fields.get("serial", ""))
        except (GtinError, ValueError):
            raise Refused(400, "malformed") from None
        scan = fields["scan"]
        token = read_scan_token(key, scan, gtin, serial) if 1 <= serial <= MAX_SERIAL and len(scan) <= 80 else None
        if token is None or token[1] is not verdict:
            raise Refused(400, "malformed")
        kid = ""
        hidden = ("scan", "gtin", "serial", "verdict", "issued", "token")
    else:
        raise Refused(400, "report_unreadable_form")
    token_text, device = fields.get("token", ""), posted.device
    if device is None or not token_holds(key, token_text, gtin, serial, verdict, device, issued, time.time()):
        raise Refused(403, "report_expired")
    form = ReportForm(tuple((name, fields[name]) for name in hidden), lang)
    submission = Submission(
        gtin=gtin,
        serial=serial,
        verdict=verdict,
        place=_place(fields.get("place", ""), form),
        contact=_contact(fields.get("contact", ""), form),
        **_position(fields, form),
    )
    return submission, snapshot.ranges.lookup(gtin, serial, kid), form


def _plain(text: str) -> str:
    """One line of text: control and format characters (newlines, bidi overrides) become spaces, runs of
    spaces one."""
    kept = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    return " ".join(kept.split())


def _place(text: str, form: ReportForm) -> str | None:
    place = _plain(text)
    if len(place) > MAX_PLACE_CHARS:
        raise Refused(422, "report_place_invalid", form=form, n=MAX_PLACE_CHARS)
    return place or None


def _contact(text: str, form: ReportForm) -> str | None:
    contact = _plain(text)
    if not contact:
        return None
    digits = sum(ch.isdigit() for ch in contact)
    phone = bool(_PHONE.match(contact)) and 6 <= digits <= 15
    if len(contact) > MAX_CONTACT_CHARS or not (phone or _EMAIL.match(contact)):
        raise Refused(422, "report_contact_invalid", form=form, n=MAX_CONTACT_CHARS)
    return contact


def _position(fields: Mapping[str, str], form: ReportForm) -> dict[str, float | None]:
    """The phone's position, when the person chose to share it: latitude and longitude together, or neither."""
    texts = [fields.get(name, "").strip() for name in ("latitude", "longitude", "accuracy_m")]
    if not texts[0] and not texts[1]:
        return {"latitude": None, "longitude": None, "accuracy_m": None}
    try:
        latitude, longitude = float(texts[0]), float(texts[1])
        accuracy = float(texts[2]) if texts[2] else None
    except ValueError:
        raise Refused(422, "report_position_invalid", form=form) from None
    if not (
        math.isfinite(latitude)
        and math.isfinite(longitude)
        and -90 <= latitude <= 90
        and -180 <= longitude <= 180
        and (accuracy is None or (math.isfinite(accuracy) and 0 <= accuracy <= 100_000))
    ):
        raise Refused(422, "report_position_invalid", form=form)
    return {"latitude": latitude, "longitude": longitude, "accuracy_m": accuracy}


def record(
    session: Session,
    alerts: AlertSink,
    submission: Submission,
    lookup: Lookup,
    photo: photos.Photo | None,
    posted: Posted,
) -> ConsumerReport:
    """Store the report and open or bump its stamp's `consumer_report` alert, in the caller's transaction."""
    lot = lookup.lot
    report = ConsumerReport(
        gtin=submission.gtin,
        serial=str(submission.serial),
        lot_id=lot.lot_id if lot is not None else None,
        verdict=submission.verdict.value,
        place=submission.place,
        latitude=submission.latitude,
        longitude=submission.longitude,
        accuracy_m=submission.accuracy_m,
        country=posted.country,
        network=posted.network,
        contact=submission.contact,
        photo=photo.jpeg if photo is not None else None,
        photo_width=photo.width if photo is not None else None,
        photo_height=photo.height if photo is not None else None,
    )
    repository.add(session, report)
    finding = AlertFinding(
        type=ALERT_TYPE,
        severity=Severity.INFO,
        explanation_vi=_EXPLANATION_VI.format(verdict=_VERDICT_VI[submission.verdict]),
        explanation_en=_EXPLANATION_EN.format(verdict=submission.verdict.value),
        evidence=(f"report:{report.id}",),
        gtin=submission.gtin,
        serial=submission.serial,
        lot_id=report.lot_id,
        house=lot.organisation_code if lot is not None else lookup.issuer,
        actor=ACTOR,
        country=posted.country,
    )
    report.alert_id = alerts.raise_alert(session, finding)
    session.flush()
    return report


# Reading (the ministry's)


_COLUMNS = tuple(name for name in ReportRead.model_fields if name != "photo_url")


def _read(report: ConsumerReport, has_photo: bool) -> ReportRead:
    values: dict[str, object] = {name: getattr(report, name) for name in _COLUMNS}
    values["photo_url"] = f"/api/v1/reports/{report.id}/photo" if has_photo else None
    return ReportRead.model_validate(values)


def list_reports(
    session: Session, alert_id: int | None, gtin: str | None, serial: str | None, limit: int, offset: int
) -> list[ReportRead]:
    return [_read(r, has) for r, has in repository.reports(session, alert_id, gtin, serial, limit, offset)]


def get_report(session: Session, report_id: int) -> ReportRead:
    found = repository.report(session, report_id)
    if found is None:
        raise NotFound(f"no report with id {report_id}")
    return _read(*found)


def photo(session: Session, report_id: int) -> bytes:
    found = repository.photo(session, report_id)
    if found is None:
        raise NotFound(f"report {report_id} has no photo")
    return found
