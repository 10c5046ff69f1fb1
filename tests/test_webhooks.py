"""Alert webhooks: the outbox rows an alert writes, and their signed delivery to a real local receiver,
with retries, backoff and giving up. Time is driven by passing `now`, never by sleeping."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from alerts import service, webhooks
from alerts.models import DeliveryStatus, WebhookDelivery
from tem.core.db import Database
from tem.core.settings import Settings
from tem.core.time import utcnow
from tests.alert_support import open_alert
from tests.conftest import World
from tests.helpers import GTIN_A
from tests.test_alerts import _org_ids

SECRET = "test-webhook-secret"
MAX_BODY = 1 << 20


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records each POST and answers with the queued status codes (then 200)."""

    base: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length", "0")), MAX_BODY)
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def org(world: World, settings: Settings) -> int:
    return _org_ids(settings)["VN-TGPH-0001"]


@pytest.fixture
def hooked(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(
        update={
            "webhook_urls": [f"{receiver.base}/a", f"{receiver.base}/b"],
            "webhook_secret": SECRET,
            "webhook_max_attempts": 3,
        }
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def _open(db: Database, settings: Settings, org: int, **kwargs: Any) -> service.AlertChange:
    args: dict[str, Any] = {
        "type": "duplicate",
        "severity": "warning",
        "gtin": GTIN_A,
        "serial": 7,
        "lot_id": None,
        "organisation_id": org,
        "evidence": ["01J0000000000000000000000A"],
        "explanation_vi": "Tem được quét từ nhiều thiết bị.",
        "explanation_en": "The stamp was scanned from many devices.",
        "settings": settings,
        **kwargs,
    }
    with db.session() as session:
        change = open_alert(session, **args)
        session.expunge(change.alert)
    return change


def _rows(db: Database) -> list[WebhookDelivery]:
    with db.session() as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        session.expunge_all()
    return rows


def _valid(request: Received) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-tem-signature"], expected)


def test_opening_an_alert_posts_once_per_url_signed(
    db: Database, hooked: Settings, receiver: Receiver, org: int
) -> None:
    change = _open(db, hooked, org)
    rows = _rows(db)
    assert [(r.url, r.event, r.status, r.attempts) for r in rows] == [
        (f"{receiver.base}/a", "opened", "pending", 0),
        (f"{receiver.base}/b", "opened", "pending", 0),
    ]

    now = utcnow() + dt.timedelta(seconds=1)
    report = webhooks.deliver_due(db, hooked, now=now)
    assert (report.delivered, report.retrying, report.failed) == (2, 0, 0)
    assert sorted(r.path for r in receiver.requests) == ["/a", "/b"]
    for request in receiver.requests:
        assert _valid(request)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-tem-timestamp"] == str(int(now.timestamp()))
        assert request.headers["x-tem-delivery"] in {str(r.id) for r in rows}
        body = json.loads(request.body)
        assert body["event"] == "opened"
        alert = body["alert"]
        assert alert["id"] == change.alert.id
        assert (alert["type"], alert["severity"], alert["gtin"], alert["serial"]) == (
            "duplicate",
            "warning",
            GTIN_A,
            "7",
        )
        assert alert["organisation"] == "VN-TGPH-0001"
        assert alert["explanation_en"] == "The stamp was scanned from many devices."
        assert alert["evidence"] == ["01J0000000000000000000000A"]
    # A tampered body does not verify.
    forged = Received("/a", receiver.requests[0].headers, receiver.requests[0].body.replace(b"warning", b"info"))
    assert not _valid(forged)

    assert all(r.status == "delivered" and r.attempts == 1 and r.delivered_at for r in _rows(db))
    webhooks.deliver_due(db, hooked, now=now + dt.timedelta(days=1))
    assert len(receiver.requests) == 2


def test_a_failing_receiver_is_retried_with_backoff(
    db: Database, hooked: Settings, receiver: Receiver, org: int
) -> None:
    hooked = hooked.model_copy(update={"webhook_urls": [f"{receiver.base}/a"]})
    _open(db, hooked, org)
    receiver.statuses = [500]
    t0 = utcnow() + dt.timedelta(seconds=1)

    report = webhooks.deliver_due(db, hooked, now=t0)
    assert (report.delivered, report.retrying) == (0, 1)
    [row] = _rows(db)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    wait = (row.next_attempt_at - t0).total_seconds()
    assert 2.0 <= wait <= 2.0 * (1 + webhooks.JITTER) + 0.01

    webhooks.deliver_due(db, hooked, now=t0 + dt.timedelta(seconds=1))  # not due yet
    assert len(receiver.requests) == 1

    report = webhooks.deliver_due(db, hooked, now=row.next_attempt_at)
    assert report.delivered == 1
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["x-tem-delivery"] == second.headers["x-tem-delivery"] == str(row.id)
    assert _valid(second)
    [row] = _rows(db)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)


def test_delivery_fails_after_max_attempts(db: Database, hooked: Settings, receiver: Receiver, org: int) -> None:
    hooked = hooked.model_copy(update={"webhook_urls": [f"{receiver.base}/a"]})
    _open(db, hooked, org)
    receiver.statuses = [500] * 10
    now = utcnow() + dt.timedelta(seconds=1)
    waits = []
    for _ in range(hooked.webhook_max_attempts):
        webhooks.deliver_due(db, hooked, now=now)
        [row] = _rows(db)
        if row.status == "pending":
            waits.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "HTTP 500")
    assert len(receiver.requests) == 3
    assert 2.0 <= waits[0] < 2.3
    assert 4.0 <= waits[1] < 4.5

    webhooks.deliver_due(db, hooked, now=now + dt.timedelta(days=30))
    assert len(receiver.requests) == 3


def test_an_unreachable_receiver_is_an_error_without_the_url(db: Database, hooked: Settings, org: int) -> None:
    hooked = hooked.model_copy(update={"webhook_urls": ["http://127.0.0.1:9/hook?token=s3cr3t"]})
    _open(db, hooked, org)
    webhooks.deliver_due(db, hooked, now=utcnow() + dt.timedelta(seconds=1))
    [row] = _rows(db)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.last_error
    assert "s3cr3t" not in row.last_error
    assert "127.0.0.1" not in row.last_error


def test_a_severity_rise_notifies_again_and_a_plain_bump_does_not(
    db: Database, hooked: Settings, receiver: Receiver, org: int
) -> None:
    hooked = hooked.model_copy(update={"webhook_urls": [f"{receiver.base}/a"]})
    first = _open(db, hooked, org)
    bumped = _open(db, hooked, org, evidence=["01J0000000000000000000000B"])
    assert not bumped.opened
    assert not bumped.raised
    assert len(_rows(db)) == 1
    lower = _open(db, hooked, org, severity="info")
    assert not lower.raised
    assert len(_rows(db)) == 1

    raised = _open(db, hooked, org, severity="critical", explanation_en="Now seen in two countries.")
    assert raised.raised
    assert raised.alert.id == first.alert.id
    rows = _rows(db)
    assert [r.event for r in rows] == ["opened", "severity_raised"]

    webhooks.deliver_due(db, hooked, now=utcnow() + dt.timedelta(seconds=1))
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert sorted(b["event"] for b in bodies) == ["opened", "severity_raised"]
    rise = next(b for b in bodies if b["event"] == "severity_raised")
    assert rise["alert"]["severity"] == "critical"
    assert rise["alert"]["explanation_en"] == "Now seen in two countries."
    assert rise["alert"]["count"] == 4
    assert all(_valid(r) for r in receiver.requests)


def test_no_urls_no_deliveries(db: Database, settings: Settings, receiver: Receiver, org: int) -> None:
    assert settings.webhook_urls == []
    _open(db, settings, org)
    _open(db, settings, org, severity="critical")
    assert _rows(db) == []
    assert webhooks.deliver_due(db, settings).delivered == 0
    assert receiver.requests == []


def test_settings_parse_and_check_webhook_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEM_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("TEM_WEBHOOK_URLS", '["https://a.example/x", "http://b.example:8080/y"]')
    assert Settings().webhook_urls == ["https://a.example/x", "http://b.example:8080/y"]
    monkeypatch.setenv("TEM_WEBHOOK_URLS", "https://a.example/x, http://b.example/y")
    assert Settings().webhook_urls == ["https://a.example/x", "http://b.example/y"]
    assert "webhook_secret" not in repr(Settings())
    for bad in ("ftp://a.example/x", "a.example/x", "https://"):
        monkeypatch.setenv("TEM_WEBHOOK_URLS", bad)
        with pytest.raises(ValueError, match="http"):
            Settings()
    monkeypatch.setenv("TEM_WEBHOOK_URLS", "https://a.example/x")
    monkeypatch.delenv("TEM_WEBHOOK_SECRET")
    with pytest.raises(ValueError, match="TEM_WEBHOOK_SECRET"):
        Settings()


def test_backoff_is_capped(settings: Settings) -> None:
    tuned = settings.model_copy(update={"webhook_backoff_seconds": 2.0, "webhook_backoff_max_seconds": 3600.0})
    assert 2.0 <= webhooks.backoff_seconds(tuned, 1) < 2.2
    assert 64.0 <= webhooks.backoff_seconds(tuned, 6) < 70.4
    assert 3600.0 <= webhooks.backoff_seconds(tuned, 40) <= 3960.0
    assert DeliveryStatus.FAILED.value == "failed"


def test_the_running_app_sends_an_inspector_alert(world: World, settings: Settings, receiver: Receiver) -> None:
    """End to end: an inspector's counterfeit report opens an alert, and the in-process worker's
    webhook loop POSTs it without anyone calling `deliver_due`."""
    import time
    import uuid

    from fastapi.testclient import TestClient

    from tem.app import create_app

    live = settings.model_copy(
        update={
            "webhook_urls": [f"{receiver.base}/hook"],
            "webhook_secret": SECRET,
            "run_worker_in_process": True,
            "webhook_poll_seconds": 0.05,
        }
    )
    report = {
        "client_id": str(uuid.uuid4()),
        "uri": "HTTP://FAKE.EXAMPLE/qr/123",
        "result": "counterfeit",
        "verdict": "unknown",
        "verdict_source": "online",
        "inspected_at": "2026-06-10T09:30:00+07:00",
    }
    with TestClient(create_app(live), base_url=str(world.client.base_url)) as client:
        created = client.post("/api/v1/inspections", headers=world.inspector, json=report)
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(receiver.requests) == 1
    [request] = receiver.requests
    assert request.path == "/hook"
    assert _valid(request)
    body = json.loads(request.body)
    assert body["event"] == "opened"
    assert body["alert"]["id"] == created.json()["alert_id"]
    assert body["alert"]["type"] == "inspector_counterfeit"
