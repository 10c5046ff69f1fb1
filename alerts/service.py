"""Alert logic: open or bump (deduplicated), link to parents, and the ministry's workflow.

Services flush; the caller's unit of work commits. `AlertService` is the one way alerts are raised: by
detection's findings (it is detection's `AlertSink`) and by the inspector API's reports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import repository, schemas, webhooks
from alerts.models import Alert, AlertScope, AlertStatus, AlertTransition, WebhookEvent
from alerts.repository import AlertFilter
from crypto import GtinError, normalize_gtin
from detection.engine.model import AlertLevelChange, FindingType, Role, Severity
from detection.findings import AlertFinding
from identity.dependencies import stamp_alerts_changed as note_stamp_alert
from identity.principal import Principal
from tem.core import metrics
from tem.core.db import Database
from tem.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tem.core.settings import Settings
from tem.core.time import utcnow

log = logging.getLogger("tem.alerts")

#: An alert keeps its first few and its latest evidence ids; `count` keeps the total.
MAX_EVIDENCE = 100
KEEP_FIRST_EVIDENCE = 10

ALLOWED: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.OPEN: frozenset({AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE}),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE}),
    AlertStatus.RESOLVED: frozenset(),
    AlertStatus.FALSE_POSITIVE: frozenset(),
}
_SCOPE_DEPTH = {AlertScope.STAMP: 0, AlertScope.LOT: 1, AlertScope.PACKING_HOUSE: 2}
_TYPE = re.compile(schemas.ALERT_TYPE_PATTERN)
_SERIAL = re.compile(r"\A[1-9][0-9]{0,19}\Z")


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What `AlertService.open_or_bump` did: opened a new alert, or bumped an active one (maybe raising it)."""

    alert: Alert
    opened: bool
    raised: bool  # the severity went up (a replay reports the alert again when this happens)


def valid_type(name: str) -> bool:
    return bool(_TYPE.match(name))


def _serial_text(serial: int | str | None) -> str | None:
    if serial is None:
        return None
    text = str(serial)
    if isinstance(serial, bool) or not _SERIAL.match(text):
        raise InvalidInput("serial must be 1 to 20 digits without a leading zero", field="serial")
    return text


def _scope_of(serial: str | None, lot_id: int | None, organisation_id: int | None, subject: str | None) -> AlertScope:
    if serial is not None or subject is not None:
        return AlertScope.STAMP
    if lot_id is not None:
        return AlertScope.LOT
    if organisation_id is not None:
        return AlertScope.PACKING_HOUSE
    raise InvalidInput("an alert needs a subject: a stamp (gtin + serial), a lot or a packing house")


def _open_key(
    alert_type: str,
    scope: AlertScope,
    gtin: str | None,
    serial: str | None,
    lot_id: int | None,
    organisation_id: int | None,
    subject: str | None,
) -> str:
    if subject is not None:
        # A stamp that could not be parsed (an inspector reporting a fake code) is keyed by its text.
        return f"{alert_type}|code:{hashlib.sha256(subject.encode()).hexdigest()[:40]}"
    if scope is AlertScope.STAMP:
        return f"{alert_type}|stamp:{gtin}:{serial}"
    if scope is AlertScope.LOT:
        return f"{alert_type}|lot:{lot_id}"
    return f"{alert_type}|org:{organisation_id}"


def _merge_evidence(old: Sequence[str], new: Iterable[str]) -> list[str]:
    merged = list(old)
    seen = set(merged)
    for item in new:
        if item not in seen:
            merged.append(item)
            seen.add(item)
    if len(merged) > MAX_EVIDENCE:
        merged = merged[:KEEP_FIRST_EVIDENCE] + merged[-(MAX_EVIDENCE - KEEP_FIRST_EVIDENCE) :]
    return merged


class AlertService:
    """Opens and bumps alerts, and owns their webhooks. Built once at start-up (`tem`), it is the `AlertSink`
    detection hands its findings to; the inspector API raises its reports through it too."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self.webhook_urls: tuple[str, ...] = tuple(settings.webhook_urls) if settings is not None else ()

    def open_or_bump(self, session: Session, finding: AlertFinding) -> AlertChange:
        """Open an alert, or bump the active (open or acknowledged) one for the same subject and type.

        A bump adds one to `count`, moves `last_seen_at`, merges the evidence and keeps the higher severity;
        explanations follow the latest finding that raised or kept the severity. Concurrent calls for one
        subject end in one alert: the insert of the loser fails on the unique `open_key` and it bumps the
        winner's row instead. When the alert opens or its severity rises, one webhook delivery per URL is
        queued in the same transaction (`alerts.webhooks`).
        """
        return _open_or_bump(session, finding, self.webhook_urls)

    def raise_alert(self, session: Session, finding: AlertFinding) -> int | None:
        alert = self._raise(session, finding)
        return alert.id if alert is not None else None

    def escalate(self, session: Session, finding: AlertFinding) -> int | None:
        alert = self._raise(session, finding)
        if alert is None:
            return None
        children = repository.unlinked_beneath(session, alert)
        if children:
            link_children(session, alert.id, children)
        return alert.id

    def _raise(self, session: Session, finding: AlertFinding) -> Alert | None:
        """Detection names a packing house by its code; a finding about none (an unknown house) is logged."""
        finding = _with_organisation(session, finding)
        if (
            finding.gtin is None
            and finding.subject is None
            and finding.lot_id is None
            and finding.organisation_id is None
        ):
            log.warning("alert_without_subject type=%s house=%s", finding.type, finding.house)
            return None
        return self.open_or_bump(session, finding).alert

    async def run_webhooks(self, db: Database, stop: asyncio.Event) -> None:
        """Deliver due webhooks until stopped (the in-process worker and `tem worker` run this)."""
        if self.settings is not None and self.webhook_urls:
            await webhooks.run_webhooks(db, self.settings, stop)

    def deliver_due(self, db: Database) -> None:
        if self.settings is not None and self.webhook_urls:
            webhooks.deliver_due(db, self.settings)


def _with_organisation(session: Session, finding: AlertFinding) -> AlertFinding:
    if finding.organisation_id is not None or finding.house is None:
        return finding
    cache: dict[str, int | None] = session.info.setdefault("tem.alerts.org_ids", {})
    if finding.house not in cache:
        cache[finding.house] = repository.organisation_id(session, finding.house)
    return replace(finding, organisation_id=cache[finding.house])


def _open_or_bump(session: Session, finding: AlertFinding, webhook_urls: Sequence[str]) -> AlertChange:
    type = finding.type
    if not _TYPE.match(type):
        raise InvalidInput(f"alert type must match {schemas.ALERT_TYPE_PATTERN}", field="type")
    level = finding.severity
    if not isinstance(level, Severity):
        raise InvalidInput("severity must be info, warning or critical", field="severity")
    gtin = finding.gtin
    if gtin is not None:
        try:
            gtin = normalize_gtin(gtin)
        except GtinError as exc:
            raise InvalidInput(str(exc), field="gtin") from None
    serial_text = _serial_text(finding.serial)
    if serial_text is not None and gtin is None:
        raise InvalidInput("a stamp alert needs the GTIN with the serial", field="gtin")
    lot_id, organisation_id, subject = finding.lot_id, finding.organisation_id, finding.subject
    scope = _scope_of(serial_text, lot_id, organisation_id, subject)
    when = finding.at or utcnow()
    if when.tzinfo is None:
        raise InvalidInput("alert times must be timezone-aware", field="at")
    ids = [str(item)[:64] for item in finding.evidence]
    # Lenient on purpose: an edge's pseudo-codes (Cloudflare's "T1" for Tor) must not fail a worker batch.
    country = finding.country
    country = country.upper() if country and len(country) == 2 and country.isascii() and country.isalnum() else None
    key = _open_key(type, scope, gtin, serial_text, lot_id, organisation_id, subject)
    explanation_vi, explanation_en, parent_id = finding.explanation_vi, finding.explanation_en, finding.parent_id

    existing = repository.active_by_key(session, key)
    if existing is None:
        alert = Alert(
            type=type,
            severity=level.label,
            status=AlertStatus.OPEN.value,
            scope=scope.value,
            gtin=gtin,
            serial=serial_text,
            lot_id=lot_id,
            organisation_id=organisation_id,
            parent_id=parent_id,
            country=country,
            count=1,
            first_seen_at=when,
            last_seen_at=when,
            evidence=_merge_evidence([], ids),
            explanation_vi=explanation_vi,
            explanation_en=explanation_en,
            open_key=key,
            created_at=when,
            updated_at=when,
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            existing = repository.active_by_key(session, key)
            if existing is None:  # the other side closed it already: a genuinely new alert is right
                raise Conflict("the alert changed concurrently; retry") from None
        else:
            session.add(
                AlertTransition(alert_id=alert.id, from_status=None, to_status=alert.status, actor=finding.actor)
            )
            session.flush()
            webhooks.enqueue(session, alert, WebhookEvent.OPENED, webhook_urls)
            # Counted once flushed, not committed: a batch whose transaction then fails is read again and counts
            # its alerts again (rare; tem_worker_batch_failures_total shows when).
            metrics.ALERTS_OPENED.labels(type=type, severity=level.label).inc()
            return AlertChange(alert, opened=True, raised=False)

    raised = _bump(existing, level, when, ids, explanation_vi, explanation_en, parent_id)
    session.flush()
    if raised:
        webhooks.enqueue(session, existing, WebhookEvent.SEVERITY_RAISED, webhook_urls)
    return AlertChange(existing, opened=False, raised=raised)


def _bump(
    existing: Alert,
    level: Severity,
    when: dt.datetime,
    ids: Sequence[str],
    explanation_vi: str,
    explanation_en: str,
    parent_id: int | None,
) -> bool:
    """Apply a repeated finding to the active alert. Returns whether its severity went up."""
    old = Severity.from_label(existing.severity)
    existing.count += 1
    existing.last_seen_at = max(existing.last_seen_at, when)
    existing.first_seen_at = min(existing.first_seen_at, when)
    existing.evidence = _merge_evidence(existing.evidence, ids)
    if level >= old:
        existing.severity = level.label
        existing.explanation_vi = explanation_vi
        existing.explanation_en = explanation_en
    if parent_id is not None and existing.parent_id is None:
        existing.parent_id = parent_id
    existing.updated_at = utcnow()
    return level > old


def link_children(session: Session, parent_id: int, child_ids: Sequence[int]) -> int:
    """Link alerts beneath a lot or packing-house alert (e.g. when a lot escalates). Returns how many."""
    parent = repository.lock(session, parent_id)
    if parent is None:
        raise NotFound(f"no alert with id {parent_id}")
    wanted = sorted(set(child_ids) - {parent_id})
    if not wanted:
        return 0
    found = repository.by_ids(session, wanted)
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - {a.id for a in found})
        raise NotFound(f"no alert(s) with id {', '.join(map(str, missing))}")
    depth = _SCOPE_DEPTH[AlertScope(parent.scope)]
    for child in found:
        if _SCOPE_DEPTH[AlertScope(child.scope)] >= depth:
            raise InvalidInput(f"a {child.scope} alert cannot sit beneath a {parent.scope} alert")
        if parent.organisation_id is not None and child.organisation_id != parent.organisation_id:
            raise InvalidInput(f"alert {child.id} belongs to another packing house than alert {parent.id}")
    return repository.set_parent(session, parent_id, wanted)


# Reading and the workflow


@dataclass(frozen=True, slots=True)
class _Scope:
    """Which alerts a caller may see: one packing house's, one province's, or (both None) every one."""

    organisation_id: int | None = None
    province: str | None = None


def _scope(actor: Principal) -> _Scope:
    """The ministry sees every alert; a province officer those of its province's packing houses; a packing house
    its own; inspectors see them only via verify."""
    if actor.role is Role.MINISTRY:
        return _Scope()
    if actor.role is Role.PROVINCE and actor.province:
        return _Scope(province=actor.province)
    if actor.role is Role.PACKER and actor.organisation_id is not None:
        return _Scope(organisation_id=actor.organisation_id)
    raise Forbidden("alerts are for the ministry, the province concerned and, read-only, the packing house concerned")


def _read(row: repository.AlertRow) -> schemas.AlertRead:
    alert, org_code, lot_code = row
    read = schemas.AlertRead.model_validate(alert, from_attributes=True)
    return read.model_copy(update={"packing_house": org_code, "lot": lot_code})


def list_alerts(session: Session, actor: Principal, where: AlertFilter) -> list[schemas.AlertRead]:
    scope = _scope(actor)
    if scope.organisation_id is not None:
        where = replace(where, organisation_id=scope.organisation_id)  # a caller's filter only narrows
    if scope.province is not None:
        where = replace(where, province=scope.province)
    return [_read(row) for row in repository.alerts(session, where)]


def get_alert(session: Session, actor: Principal, alert_id: int) -> schemas.AlertDetail:
    scope = _scope(actor)
    row = repository.alert(session, alert_id, scope.organisation_id, scope.province)
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    return _detail(session, row)


def _detail(session: Session, row: repository.AlertRow) -> schemas.AlertDetail:
    base = _read(row)
    return schemas.AlertDetail(
        **base.model_dump(),
        transitions=[schemas.TransitionRead.model_validate(t) for t in repository.transitions(session, row[0].id)],
        children=[schemas.AlertBrief.model_validate(c) for c in repository.children(session, row[0].id)],
    )


def transition(
    session: Session, actor: Principal, alert_id: int, data: schemas.TransitionCreate
) -> schemas.AlertDetail:
    """open → acknowledged → resolved | false_positive (an open alert may also be closed directly). The ministry
    works every alert; a province officer those of its province's packing houses (another's is a 404)."""
    if actor.role not in (Role.MINISTRY, Role.PROVINCE):
        raise Forbidden("only ministry and province staff can move an alert through its workflow")
    alert = repository.lock(session, alert_id, _scope(actor).province)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    current = AlertStatus(alert.status)
    if data.to not in ALLOWED[current]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "nothing (it is closed)"
        raise Conflict(f"alert {alert_id} is {current.value}; it can move to {allowed}", field="to")
    now = utcnow()
    alert.status = data.to.value
    alert.updated_at = now
    if not data.to.active:
        alert.open_key = None  # a new finding about the same subject opens a fresh alert
        change = _closed_stamp_alert(alert)
        if change is not None:  # the stamp's verdict no longer rests on it
            note_stamp_alert(session, change)
    session.add(
        AlertTransition(
            alert_id=alert.id,
            from_status=current.value,
            to_status=data.to.value,
            actor=actor.actor,
            comment=data.comment,
            at=now,
        )
    )
    session.flush()
    row = repository.alert(session, alert_id, None)
    assert row is not None
    return _detail(session, row)


def _closed_stamp_alert(alert: Alert) -> AlertLevelChange | None:
    """The change to the stamp's memory a closed alert makes: one of detection's types (or an inspector's
    report) on one stamp. Other alerts (lots, packing houses, forged codes) never weighed on a verdict."""
    if alert.scope != AlertScope.STAMP.value or alert.gtin is None or alert.serial is None:
        return None
    kind = FindingType.__members__.get(alert.type.upper())
    if kind is None or kind is FindingType.FORGED or not alert.serial.isdigit():
        return None
    return AlertLevelChange(alert.gtin, int(alert.serial), kind, None)


def active_for_stamp(
    session: Session, gtin: str, serial: int | str, lot_id: int | None, organisation_id: int | None
) -> list[schemas.AlertRead]:
    """What the inspector's verify shows: active alerts on the stamp, its lot and its packing house."""
    return [_read(row) for row in repository.active_for_stamp(session, gtin, str(serial), lot_id, organisation_id)]
