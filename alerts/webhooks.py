"""Alert webhooks: a durable outbox written with the alert, and a sender that POSTs it with retries.

`enqueue` runs inside the alert's unit of work (from `AlertService.open_or_bump`), so an alert and its
notifications commit or roll back together. `deliver_due` claims due rows, POSTs each body signed with
HMAC-SHA256, and records the outcome; `run_webhooks` calls it periodically (`tem worker`, or the
in-process worker of the embedded default). Delivery is at least once: receivers dedupe on
`X-Tem-Delivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Alert, DeliveryStatus, WebhookDelivery, WebhookEvent
from identity.models import Organisation
from issuer.models import Lot
from tem.core.db import Database
from tem.core.settings import Settings
from tem.core.time import utcnow

log = logging.getLogger("tem.webhooks")

BATCH = 50
#: A claimed row is not due again for this long past its timeout (a sender that died mid-POST).
LEASE_SECONDS = 60.0
JITTER = 0.1  # up to +10 % on each backoff, so many failing receivers do not retry in lockstep


def body_for(session: Session, alert: Alert, event: WebhookEvent) -> str:
    """The JSON text sent (and signed) for one alert event."""
    org_code = (
        session.scalar(select(Organisation.code).where(Organisation.id == alert.organisation_id))
        if alert.organisation_id is not None
        else None
    )
    lot_code = session.scalar(select(Lot.code).where(Lot.id == alert.lot_id)) if alert.lot_id is not None else None
    payload = {
        "event": event.value,
        "alert": {
            "id": alert.id,
            "type": alert.type,
            "severity": alert.severity,
            "status": alert.status,
            "scope": alert.scope,
            "gtin": alert.gtin,
            "serial": alert.serial,
            "lot_id": alert.lot_id,
            "lot": lot_code,
            "organisation": org_code,
            "count": alert.count,
            "explanation_vi": alert.explanation_vi,
            "explanation_en": alert.explanation_en,
            "evidence": list(alert.evidence),
            "first_seen_at": alert.first_seen_at.astimezone(dt.UTC).isoformat(),
            "at": alert.last_seen_at.astimezone(dt.UTC).isoformat(),
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def enqueue(session: Session, alert: Alert, event: WebhookEvent, urls: Sequence[str]) -> int:
    """One pending delivery per URL, in the caller's transaction. Returns how many."""
    if not urls:
        return 0
    body = body_for(session, alert, event)
    now = utcnow()
    for url in urls:
        session.add(
            WebhookDelivery(
                alert_id=alert.id,
                url=url,
                event=event.value,
                body=body,
                attempts=0,
                next_attempt_at=now,
                status=DeliveryStatus.PENDING.value,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    return len(urls)


def sign(secret: str, body: bytes) -> str:
    """The `X-Tem-Signature` value: `sha256=` and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_seconds(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """The wait after the `attempts`-th failure: base × 2^(attempts-1), capped, plus a little jitter."""
    delay = min(settings.webhook_backoff_max_seconds, settings.webhook_backoff_seconds * 2.0 ** max(attempts - 1, 0))
    spread = rng.random() if rng is not None else random.random()  # noqa: S311  (jitter, not a secret)
    return delay * (1 + JITTER * spread)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    url: str
    body: str
    attempts: int


@dataclass(slots=True)
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def _claim(db: Database, settings: Settings, now: dt.datetime, limit: int) -> list[_Claimed]:
    """Take due rows and push their next attempt past a lease, so no other sender takes them meanwhile."""
    lease = dt.timedelta(seconds=settings.webhook_timeout_seconds + LEASE_SECONDS)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    with db.session() as session:  # SQLite: BEGIN IMMEDIATE already serialises claimers
        rows = list(session.scalars(query))
        for row in rows:
            row.next_attempt_at = now + lease
        return [_Claimed(row.id, row.url, row.body, row.attempts) for row in rows]


def _post(client: httpx.Client, secret: str, item: _Claimed, now: dt.datetime) -> str | None:
    """POST one delivery. None on a 2xx; otherwise a short error (no URL, body or secret in it)."""
    body = item.body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Tem-Signature": sign(secret, body),
        "X-Tem-Delivery": str(item.id),
        "X-Tem-Timestamp": str(int(now.timestamp())),
    }
    try:
        response = client.post(item.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _record(
    db: Database, settings: Settings, item: _Claimed, error: str | None, now: dt.datetime, report: DeliveryReport
) -> None:
    with db.session() as session:
        row = session.get(WebhookDelivery, item.id)
        if row is None:
            return
        row.attempts = item.attempts + 1
        row.updated_at = now
        if error is None:
            row.status = DeliveryStatus.DELIVERED.value
            row.delivered_at = now
            row.last_error = None
            report.delivered += 1
            log.info("webhook_delivered delivery=%s attempts=%s", row.id, row.attempts)
        elif row.attempts >= settings.webhook_max_attempts:
            row.status = DeliveryStatus.FAILED.value
            row.last_error = error[:200]
            report.failed += 1
            log.warning("webhook_failed delivery=%s attempts=%s error=%s", row.id, row.attempts, error)
        else:
            row.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(settings, row.attempts))
            row.last_error = error[:200]
            report.retrying += 1
            log.info("webhook_retry_scheduled delivery=%s attempts=%s error=%s", row.id, row.attempts, error)


def deliver_due(
    db: Database,
    settings: Settings,
    now: dt.datetime | None = None,
    client: httpx.Client | None = None,
    limit: int = BATCH,
) -> DeliveryReport:
    """Send the deliveries due at `now` (default: the current time). Blocking: run it in a thread."""
    report = DeliveryReport()
    if not settings.webhook_secret:
        return report  # settings refuse URLs without a secret; nothing can be signed
    when = now or utcnow()
    claimed = _claim(db, settings, when, limit)
    if not claimed:
        return report
    own = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    try:
        for item in claimed:
            error = _post(http, settings.webhook_secret, item, when)
            _record(db, settings, item, error, when, report)
    finally:
        if own:
            http.close()
    return report


async def run_webhooks(db: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Deliver due webhooks every `webhook_poll_seconds` until stopped."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(deliver_due, db, settings)
        except Exception:
            log.exception("webhook_delivery_round_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.webhook_poll_seconds)
