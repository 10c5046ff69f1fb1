"""The national portal's outbox (epcis/outbox.py, epcis/portal.py): every event reaches the portal at least once
through failures, slowness, 429s and downtime; only the events the portal refuses on their own become dead
letters; a `tem worker` killed mid-delivery loses nothing; `tem outbox` answers with the right exit codes; the
token never reaches a log; the ministry sees and replays dead letters over the API."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from epcis import outbox
from epcis.models import EventOrigin, OutboxStatus, PortalOutbox
from epcis.portal import EpcisCapture, Outcome, classify, parse_retry_after
from epcis.store import record
from identity.models import Organisation
from tem.cli import main
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import World
from tests.fake_portal import FakePortal, fake_portal

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok_portal_5ecret_do_not_log"


def _event(number: int) -> dict[str, Any]:
    """A small valid ObjectEvent: a lot of durian received at a packing house, distinct per `number`."""
    minute, second = divmod(number, 60)
    hour, minute = divmod(minute, 60)
    return {
        "type": "ObjectEvent",
        "eventTime": f"2026-06-0{1 + hour // 24}T{hour % 24:02d}:{minute:02d}:{second:02d}.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "epcList": [],
        "quantityList": [
            {"epcClass": f"https://example.org/01/09506000134352/10/LOT{number}", "quantity": 20, "uom": "KGM"}
        ],
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
    }


def make_events(db: Database, count: int, start: int = 0) -> list[str]:
    """`count` stored events (each queued for the portal); their eventIDs, oldest first."""
    with db.session() as session:
        org = session.scalar(select(Organisation.id).where(Organisation.code == "VN-TGPH-OUTBOX"))
        if org is None:
            row = Organisation(
                kind="packing_house", name="Cơ sở đóng gói", code="VN-TGPH-OUTBOX", province="Tiền Giang"
            )
            session.add(row)
            session.flush()
            org = row.id
        return [
            record(session, _event(number), origin=EventOrigin.STAGE, organisation_id=org, objects=[]).event_id
            for number in range(start, start + count)
        ]


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def portal_settings(settings: Settings, url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "portal_url": url,
        "portal_token": TOKEN,
        "portal_batch": 10,
        "portal_backoff_seconds": 0.02,
        "portal_backoff_max_seconds": 0.2,
        "portal_timeout_seconds": 0.5,
        "portal_poll_seconds": 0.05,
        **extra,
    }
    return settings.model_copy(update=values)


def _rows(db: Database) -> list[PortalOutbox]:
    with db.session() as session:
        return list(session.scalars(select(PortalOutbox).order_by(PortalOutbox.id)))


# The adapter's reading of answers


def test_answers_are_sorted_into_delivered_retry_and_rejected() -> None:
    now = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    assert classify(202, {}, b"").outcome is Outcome.DELIVERED
    for status in (408, 429, 500, 502, 503, 504):
        assert classify(status, {}, b"").outcome is Outcome.RETRY
    throttled = classify(429, {"retry-after": "Mon, 01 Jun 2026 08:00:30 GMT"}, b"", now=now)
    assert throttled.retry_after == 30.0
    assert classify(503, {"retry-after": "7"}, b"").retry_after == 7.0
    problem = json.dumps({"title": "Bad Request", "detail": f"no   such\nlocation {TOKEN} " + "x" * 500}).encode()
    rejected = classify(400, {"content-type": "application/problem+json"}, problem, secret=TOKEN)
    assert rejected.outcome is Outcome.REJECTED
    assert rejected.reason.startswith("HTTP 400: no such location ***")
    assert TOKEN not in rejected.reason
    assert len(rejected.reason) < 200
    assert classify(404, {"content-type": "text/html"}, b"<html>").reason == "HTTP 404"
    assert classify(422, {"content-type": "application/json"}, b'{"title": "Unprocessable"}').reason.endswith(
        "Unprocessable"
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Mon, 01 Jun 2026 07:00:00 GMT", now) == 0.0  # a date past: at once


def test_settings_want_an_absolute_http_portal_url() -> None:
    assert Settings(portal_url=" https://portal.example.vn/epcis ").portal_url == "https://portal.example.vn/epcis"
    assert Settings(portal_url="").portal_url is None
    for bad in ("portal.example.vn", "ftp://portal.example.vn", "/capture", "https://"):
        with pytest.raises(ValueError, match="absolute http"):
            Settings(portal_url=bad)


def test_backoff_grows_is_capped_and_never_beats_retry_after(settings: Settings) -> None:
    tuned = settings.model_copy(update={"portal_backoff_seconds": 1.0, "portal_backoff_max_seconds": 10.0})
    waits = [outbox.backoff_seconds(tuned, attempts) for attempts in range(1, 8)]
    assert 1.0 <= waits[0] <= 1.2
    assert 2.0 <= waits[1] <= 2.4
    assert all(wait <= 12.0 for wait in waits)
    assert waits[-1] >= 10.0
    assert outbox.backoff_seconds(tuned, 1, retry_after=30.0) >= 30.0


# Delivery


def test_every_event_arrives_through_failures_slowness_429_and_downtime(settings: Settings, db: Database) -> None:
    ids = make_events(db, 150)
    with fake_portal(token=TOKEN, seed=7, fail_rate=0.25, slow_rate=0.1, slow_seconds=0.7) as portal:
        portal.throttle(2, retry_after="1")
        portal.down_after = 8  # the 8th request finds the portal gone for a second
        portal.down_seconds = 1.0
        tuned = portal_settings(settings, portal.url)
        result = outbox.drain(db, tuned, timeout=60)
        statuses = Counter(request.status for request in portal.requests)
    assert not result.timed_out
    assert set(portal.received) == set(ids)  # every one at least once
    assert statuses[429] == 2
    assert statuses[503] > 0
    assert statuses[202] > 0
    assert portal.bad_tokens == 0
    figures = outbox.status(db)
    assert (figures.pending, figures.delivered, figures.dead) == (0, 150, 0)
    assert figures.oldest_pending_age_seconds == 0.0
    assert all(row.status == OutboxStatus.DELIVERED.value and row.delivered_at for row in _rows(db))
    assert max(row.attempts for row in _rows(db)) > 1  # some were retried, none dead-lettered


def test_batches_are_oldest_first_and_one_document_each(settings: Settings, db: Database) -> None:
    ids = make_events(db, 25)
    with fake_portal(token=TOKEN) as portal:
        report = outbox.deliver_due(db, portal_settings(settings, portal.url))
    assert report.delivered == 25
    assert report.batches == 3
    assert [len(request.event_ids) for request in portal.requests] == [10, 10, 5]
    assert portal.received == ids


def test_dead_letters_are_exactly_the_events_the_portal_refuses(settings: Settings, db: Database) -> None:
    ids = make_events(db, 60)
    refused = {ids[3], ids[4], ids[31], ids[59]}
    with fake_portal(token=TOKEN, seed=3, fail_rate=0.2) as portal:
        portal.reject = refused
        result = outbox.drain(db, portal_settings(settings, portal.url), timeout=30)
    assert not result.timed_out
    assert set(portal.received) == set(ids) - refused
    with db.session() as session:
        letters = outbox.dead_letters(session)
    assert {letter.event_id for letter in letters} == refused
    assert all(letter.reason and letter.reason.startswith("HTTP 400: event ni:///sha-256;") for letter in letters)
    assert all(letter.event_type == "ObjectEvent" for letter in letters)
    figures = outbox.status(db)
    assert (figures.pending, figures.delivered, figures.dead) == (0, 56, 4)


def test_retry_after_is_honoured(settings: Settings, db: Database) -> None:
    make_events(db, 3)
    with fake_portal(token=TOKEN) as portal:
        portal.throttle(1, retry_after="1")
        tuned = portal_settings(settings, portal.url)
        first = outbox.deliver_due(db, tuned)
        assert first.backing_off
        assert first.retrying == 3
        assert outbox.deliver_due(db, tuned).batches == 0  # not due: the portal said a second
        row = _rows(db)[0]
        assert row.last_error == "HTTP 429"
        assert row.next_attempt_at >= portal_requests_time(portal) + dt.timedelta(seconds=0.99)
        outbox.drain(db, tuned, timeout=10)
        throttled, accepted = portal.requests[0], portal.requests[1]
    assert throttled.status == 429
    assert accepted.status == 202
    assert accepted.at - throttled.at >= 1.0


def portal_requests_time(portal: FakePortal) -> dt.datetime:
    """The wall-clock time of the portal's first request (its log keeps monotonic times)."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - portal.requests[0].at)


def test_the_token_never_reaches_a_log(settings: Settings, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    ids = make_events(db, 30)
    caplog.set_level(logging.DEBUG)
    with fake_portal(token=TOKEN, seed=5, fail_rate=0.3, echo_token=True) as portal:
        portal.reject = {ids[7]}
        portal.throttle(1)
        tuned = portal_settings(settings, portal.url)
        outbox.drain(db, tuned, timeout=30)
    assert "portal_dead_letter" in caplog.text
    assert "portal_retry_scheduled" in caplog.text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in (row.last_error or "") for row in _rows(db))
    assert TOKEN not in repr(EpcisCapture(portal.url, TOKEN, 1.0))
    assert TOKEN not in repr(tuned)


def test_an_unset_portal_sends_nothing(settings: Settings, db: Database) -> None:
    make_events(db, 2)
    assert outbox.deliver_due(db, settings).batches == 0
    assert outbox.status(db).pending == 2


# `tem worker`, killed mid-delivery


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tem", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_nothing_is_lost_across_a_killed_worker(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    ids = make_events(db, 200)
    log = tmp_path / "worker.log"
    with fake_portal(token=TOKEN, seed=11, fail_rate=0.1, slow_rate=1.0, slow_seconds=0.04) as portal:
        worker_env = {
            **{k: v for k, v in env.items() if k not in ("TEM_REDIS_URL", "TEM_REDIS_PREFIX")},
            "TEM_PORTAL_URL": portal.url,
            "TEM_PORTAL_TOKEN": TOKEN,
            "TEM_PORTAL_BATCH": "5",
            "TEM_PORTAL_BACKOFF_SECONDS": "0.02",
            "TEM_PORTAL_BACKOFF_MAX_SECONDS": "0.2",
            "TEM_PORTAL_TIMEOUT_SECONDS": "0.5",
            "TEM_PORTAL_POLL_SECONDS": "0.05",
            "TEM_LOG_LEVEL": "DEBUG",
            "TEM_WORKER_NICE": "0",
        }
        first = _worker(worker_env, log)
        try:
            _wait(lambda: len(portal.received) >= 40 or first.poll() is not None, 30, "the first deliveries")
            assert first.poll() is None, log.read_text()
            os.kill(first.pid, signal.SIGKILL)  # mid-delivery: some batches claimed, perhaps sent, not recorded
            first.wait(timeout=10)
            killed_at = outbox.status(db)
            assert 0 < killed_at.pending < 200
            second = _worker(worker_env, log)
            try:
                _wait(lambda: outbox.status(db).pending == 0, 40, "the restarted worker to deliver the rest")
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(timeout=15) == 0, log.read_text()
        finally:
            if first.poll() is None:
                first.kill()
    assert set(portal.received) == set(ids)
    figures = outbox.status(db)
    assert (figures.delivered, figures.dead) == (200, 0)
    output = log.read_text()
    assert "portal" in output  # it did log (at DEBUG), and never the token
    assert TOKEN not in output


# `tem outbox`


def test_tem_outbox_drain_status_and_replay(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    ids = make_events(db, 12)
    runner = CliRunner()

    def tem(*args: str, **extra: str | None) -> Any:
        return runner.invoke(main, list(args), env={**env, "TEM_PORTAL_TOKEN": TOKEN, **extra})

    unset = tem("outbox", "drain", TEM_PORTAL_URL=None)
    assert unset.exit_code == 2
    assert "set TEM_PORTAL_URL" in unset.stderr
    status = tem("outbox", "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["pending"] == 12

    closed = FakePortal(token=TOKEN)  # a port that nobody answers
    closed.stop()
    stuck = tem("outbox", "drain", "--timeout", "1", TEM_PORTAL_URL=closed.url, TEM_PORTAL_BACKOFF_SECONDS="0.05")
    assert stuck.exit_code == 1, stuck.output
    assert "12 events are still pending" in stuck.stderr
    assert "Traceback" not in stuck.output

    with fake_portal(token=TOKEN) as portal:
        portal.reject = {ids[5]}
        done = tem("outbox", "drain", "--timeout", "20", TEM_PORTAL_URL=portal.url, TEM_PORTAL_BATCH="4")
    assert done.exit_code == 0, done.output  # only a dead letter remains
    assert "11 delivered, 1 dead letters" in done.stderr
    figures = json.loads(tem("outbox", "status", "--json").stdout)
    assert figures == {"pending": 0, "delivered": 11, "dead": 1, "oldest_pending_age_seconds": 0.0}
    human = tem("outbox", "status")
    assert "dead       1" in human.stdout

    assert tem("outbox", "replay").exit_code == 2
    assert tem("outbox", "replay", "999").exit_code == 2
    replayed = tem("outbox", "replay", "--all")
    assert replayed.exit_code == 0
    assert "1 dead letters back" in replayed.stdout
    with fake_portal(token=TOKEN) as portal:
        again = tem("outbox", "drain", "--timeout", "20", TEM_PORTAL_URL=portal.url)
    assert again.exit_code == 0, again.output
    assert portal.received == [ids[5]]
    assert json.loads(tem("outbox", "status", "--json").stdout)["delivered"] == 12


# The ministry's API and /metrics


def test_the_ministry_sees_and_replays_dead_letters(world: World, settings: Settings, db: Database) -> None:
    ids = make_events(db, 6)
    with fake_portal(token=TOKEN) as portal:
        portal.reject = {ids[2]}
        outbox.drain(db, portal_settings(settings, portal.url), timeout=10)
    client = world.client
    assert client.get("/api/v1/portal-outbox", headers=world.packer).status_code == 403
    assert client.get("/api/v1/portal-outbox").status_code == 401
    answer = client.get("/api/v1/portal-outbox", headers=world.ministry)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["pending"], body["delivered"], body["dead"]) == (0, 5, 1)
    [letter] = body["dead_letters"]
    assert letter["event_id"] == ids[2]
    assert letter["event_type"] == "ObjectEvent"
    assert letter["reason"].startswith("HTTP 400")
    assert letter["attempts"] >= 1
    path = f"/api/v1/portal-outbox/{letter['id']}/replay"
    assert client.post(path, headers=world.packer).status_code == 403
    replayed = client.post(path, headers=world.ministry)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"id": letter["id"], "status": "pending"}
    assert client.post(path, headers=world.ministry).status_code == 409  # no longer a dead letter
    assert client.post("/api/v1/portal-outbox/99999/replay", headers=world.ministry).status_code == 404
    after = client.get("/api/v1/portal-outbox", headers=world.ministry).json()
    assert (after["pending"], after["dead"], after["dead_letters"]) == (1, 0, [])


def test_metrics_show_the_portal_outbox(settings: Settings, db: Database) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from tem.app import create_app

    make_events(db, 4)
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        text = client.get("/metrics").text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("tem_portal_outbox_events", (("status", "pending"),))] == 4
    assert samples[("tem_portal_outbox_events", (("status", "dead"),))] == 0
    assert samples[("tem_outbox_depth", (("outbox", "national_portal"),))] == 4
    assert samples[("tem_portal_outbox_oldest_pending_age_seconds", ())] >= 0


def test_the_in_process_worker_sends_when_a_portal_is_set(settings: Settings, db: Database) -> None:
    from fastapi.testclient import TestClient

    from tem.app import create_app

    ids = make_events(db, 15)
    with fake_portal(token=TOKEN) as portal:
        served = portal_settings(settings, portal.url, run_worker_in_process=True)
        with TestClient(create_app(served)):
            _wait(lambda: outbox.status(db).pending == 0, 20, "the in-process worker to send")
    assert set(portal.received) == set(ids)
