"""Detection on the live scan path: verdicts from the stamp's history, alerts and aggregates from the worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select

from alerts.models import Alert
from detection.engine import FindingType, Severity, StampMemory, default_config, refine_place
from detection.engine.model import TYPE_BIT, Place, Role, StampState, Verdict
from detection.models import DetectionAggregate
from detection.online import Detector, Judgement, KnownMemories, LearnedPlaces, record_and_judge
from detection.ports import Lookup, LotRef
from detection.scans import ScanEvent, new_scan_id
from identity.principal import operator
from issuer import schemas, service
from ministry.models import ScanDailyStat
from resolver.lot_route import LotFacts, build_route
from resolver.models import ScanRecord
from resolver.store import MemoryScanStore, RedisScanStore, Saved
from resolver.worker import drain
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import BASE_URL, REDIS_URL, World
from tests.resolver_helpers import flush, issue_and_activate, replace_save, runtime, scan_token_of, stamp_alerts

SHANGHAI = {"cf-ipcountry": "CN", "cf-iplatitude": "31.23", "cf-iplongitude": "121.47", "cf-ipcity": "Shanghai"}
HARBIN = {"cf-ipcountry": "CN", "cf-iplatitude": "45.80", "cf-iplongitude": "126.53", "cf-ipcity": "Harbin"}
CHENGDU = {"cf-ipcountry": "CN", "cf-iplatitude": "30.57", "cf-iplongitude": "104.07", "cf-ipcity": "Chengdu"}
SAIGON = {"cf-ipcountry": "VN", "cf-iplatitude": "10.78", "cf-iplongitude": "106.70", "cf-ipcity": "Ho Chi Minh City"}
SHANGHAI_PLACE = {"name": "Shanghai", "lat": 31.23, "lon": 121.47, "country": "CN"}

# Small escalation thresholds, so a handful of scans shows a lot escalating.
ESCALATION = """
[escalation]
lot_min_scanned = 2
lot_min_flagged = 1
lot_info_share = 0.2
lot_warning_share = 0.4
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    config = tmp_path / "detection.toml"
    config.write_text(ESCALATION, encoding="utf-8")
    return settings.model_copy(update={"trust_edge_headers": True, "detection_config": config})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from tem.app import create_app

    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client


def scan(client: TestClient, uri: str, place: dict[str, str], phone: str) -> Any:
    """A scan from a phone of its own: no cookie carried over, its own user agent."""
    client.cookies.clear()
    parts = urlsplit(uri)
    return client.get(f"{parts.path}?{parts.query}", headers={**place, "user-agent": phone}, follow_redirects=False)


def scan_rows(client: TestClient) -> list[ScanRecord]:
    with client.app.state.tem.db.session() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(ScanRecord).order_by(ScanRecord.id)))


def test_a_copy_scanned_across_china_within_minutes_is_counterfeit_and_alerted(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    first = scan(c, stamps.uris[0], SHANGHAI, "phone-a")
    assert first.status_code == 307  # the genuine fruit, first check: the trace page
    copy = scan(c, stamps.uris[0], HARBIN, "phone-b")
    assert copy.status_code == 200
    assert 'data-verdict="counterfeit"' in copy.text
    assert "too far apart" in copy.text
    assert "Location" not in copy.headers  # no trace page for a copy
    assert flush(c) == 2
    rows = scan_rows(c)
    assert [r.verdict for r in rows] == ["genuine", "counterfeit"]
    assert rows[0].findings is None
    assert "impossible_travel:critical" in (rows[1].findings or "")
    alerts = stamp_alerts(c)
    travel = [a for a in alerts if a.type == "impossible_travel"]
    assert len(travel) == 1
    assert (travel[0].severity, travel[0].serial, travel[0].country) == ("critical", "1", "CN")
    assert travel[0].lot_id == stamps.lot_id
    assert travel[0].organisation_id is not None
    assert rows[1].id in travel[0].evidence
    assert "km/h" in travel[0].explanation_en
    assert "km/h" in travel[0].explanation_vi


def test_the_verdict_page_explains_in_the_readers_language(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    scan(c, stamps.uris[1], SHANGHAI, "phone-a")
    c.cookies.clear()
    parts = urlsplit(stamps.uris[1])
    page = c.get(
        f"{parts.path}?{parts.query}",
        headers={**HARBIN, "user-agent": "phone-b", "accept-language": "zh-CN"},
        follow_redirects=False,
    )
    assert 'data-verdict="counterfeit"' in page.text
    assert "很可能已被复制" in page.text


def test_the_same_phone_scanning_again_is_never_a_finding(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    parts = urlsplit(stamps.uris[2])
    answers = [
        c.get(f"{parts.path}?{parts.query}", headers={**SHANGHAI, "user-agent": "phone-a"}, follow_redirects=False)
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [307] * 5
    flush(c)
    assert all(r.findings is None for r in scan_rows(c))
    assert stamp_alerts(c) == []


def test_revoked_and_never_activated_stamps_are_judged_and_alerted(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    scan_never_activated_and_revoked(world, stamps)
    flush(c)
    kinds = {(a.type, a.severity, a.serial) for a in stamp_alerts(c)}
    assert ("not_activated", "warning", "15") in kinds
    assert ("revoked", "critical", "3") in kinds


def scan_never_activated_and_revoked(world: World, stamps: Any) -> None:
    """Serial 15, issued but never activated, is suspect; serial 3, revoked, is counterfeit."""
    c = world.client
    never = scan(c, stamps.uris[14], SHANGHAI, "phone-a")
    assert 'data-verdict="suspect"' in never.text
    response = c.post(
        "/api/v1/revocations",
        headers=world.packer,
        json={
            "gtin": stamps_gtin(c, stamps),
            "first_serial": 3,
            "last_serial": 3,
            "category": "stolen",
            "reason": "stolen from the truck",
        },
    )
    assert response.status_code == 201, response.text
    revoked = scan(c, stamps.uris[2], SHANGHAI, "phone-a")
    assert 'data-verdict="counterfeit"' in revoked.text


def stamps_gtin(client: TestClient, stamps: Any) -> str:
    return urlsplit(stamps.uris[0]).path.split("/")[2]


def test_a_lot_escalates_with_its_stamp_alerts_linked_beneath(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    for serial in (1, 2):  # two clean stamps
        assert scan(c, stamps.uris[serial - 1], SHANGHAI, f"phone-{serial}").status_code == 307
    scan(c, stamps.uris[3], SHANGHAI, "phone-x")
    scan(c, stamps.uris[3], HARBIN, "phone-y")  # a copy: 1 of 3 scanned stamps flagged
    flush(c)
    with c.app.state.tem.db.session() as session:  # type: ignore[attr-defined]
        lot_alert = session.scalars(select(Alert).where(Alert.scope == "lot")).one()
        children = list(session.scalars(select(Alert).where(Alert.parent_id == lot_alert.id)))
        aggregate = session.get(DetectionAggregate, f"lot:{stamps_gtin(c, stamps)}/LOT-1")
    assert (lot_alert.type, lot_alert.severity, lot_alert.lot_id) == ("lot_escalation", "info", stamps.lot_id)
    assert "1 of 3" in lot_alert.explanation_en
    assert {(a.scope, a.serial) for a in children} == {("stamp", "4")}  # its travel and duplicate alerts
    assert aggregate is not None
    assert (aggregate.state["scanned"], aggregate.state["flagged"]) == (3, 1)


def test_a_batch_read_twice_counts_and_alerts_once(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    scan(c, stamps.uris[0], SHANGHAI, "phone-a")
    scan(c, stamps.uris[0], HARBIN, "phone-b")
    store = runtime(c).store
    entries = c.portal.call(store.read_log, "test", 100, 0)  # type: ignore[attr-defined]
    writer = runtime(c).writer
    events = [event for _, event in entries]
    assert writer.write(events) == 2
    assert writer.write(events) == 0  # a worker crashed before acknowledging: nothing happens twice
    c.portal.call(store.ack_log, [entry_id for entry_id, _ in entries])  # type: ignore[attr-defined]
    (alert,) = [a for a in stamp_alerts(c) if a.type == "impossible_travel"]
    assert alert.count == 1
    with c.app.state.tem.db.session() as session:  # type: ignore[attr-defined]
        (aggregate,) = session.scalars(select(DetectionAggregate).where(DetectionAggregate.kind == "lot"))
        rollups = {
            (r.verdict, r.scans, r.flagged_scans, r.month_first_scans) for r in session.scalars(select(ScanDailyStat))
        }
    assert aggregate.state["scanned"] == 1
    # The ministry's daily rollups count each scan once too, with detection's verdict and findings.
    assert rollups == {("genuine", 1, 0, 1), ("counterfeit", 1, 1, 0)}


def test_a_lot_turned_back_and_sold_at_home_is_learned(world: World) -> None:
    """Declared for Shanghai, turned back at the border and sold in Hồ Chí Minh City days after it could have
    crossed: the first stamps there are suspect (export fruit is not sold at home), then the city is learned."""
    c = world.client
    learn = default_config().off_route.learn_serials
    stamps = issue_and_activate(
        world, quantity=learn + 5, activate_last=learn + 3, lot_extra={"destination_places": [SHANGHAI_PLACE]}
    )
    verdicts = []
    for serial in range(1, learn + 1):
        answer = scan(c, stamps.uris[serial - 1], SAIGON, f"phone-{serial}")
        verdicts.append('data-verdict="suspect"' in answer.text)
    assert all(verdicts)
    assert "after its lot had left for export" in answer.text
    flush(c)
    assert scan(c, stamps.uris[learn], SAIGON, "phone-late").status_code == 307  # learned: genuine again
    assert scan(c, stamps.uris[learn + 1], SHANGHAI, "phone-sh").status_code == 307  # the declared city
    # Far from every declared place in China is only a note: online orders and gifts go anywhere.
    assert scan(c, stamps.uris[learn + 2], CHENGDU, "phone-cd").status_code == 307


def test_distributor_checks_are_recorded_as_theirs_and_weigh_less(world: World, settings: Settings) -> None:
    c = world.client
    db = Database(settings.effective_database_url)
    with db.session() as session:
        admin = operator("test")
        service.create_organisation(
            session,
            settings,
            admin,
            schemas.OrganisationCreate(kind="distributor", name="Importer", code="CN-IMP-01", province="Hà Nội"),  # type: ignore[arg-type]
        )
        _row, token = service.create_token(
            session,
            admin,
            schemas.TokenCreate(organisation="CN-IMP-01", role="distributor", name="importer"),  # type: ignore[arg-type]
        )
    db.dispose()
    stamps = issue_and_activate(world)
    distributor = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        checked = c.get("/api/v1/stamps/verify", params={"uri": stamps.uris[4]}, headers=distributor)
        assert checked.status_code == 200, checked.text
        assert checked.json()["verdict"] == "genuine"
    consumer = scan(c, stamps.uris[4], SHANGHAI, "phone-a")
    assert consumer.status_code == 307  # a distributor's checks are not other consumers
    flush(c)
    assert [r.role for r in scan_rows(c)] == ["distributor", "distributor", "consumer"]


# The detector and the store on their own


def _event(serial: int, at: float, device: str, place: Place, role: Role = Role.CONSUMER) -> ScanEvent:
    return ScanEvent(
        new_scan_id(at), at, "08935000000014", serial, "k1", "activated", Verdict.UNKNOWN, role, device, None, place, 1
    )


def _lookup() -> Lookup:
    facts = LotFacts(1, "LOT-1", "08935000000014", "PH-1", "Đồng Tháp", ["CN"], [], [], [], 21)
    route = build_route(facts, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    return Lookup(StampState.ACTIVATED, LotRef(1, "LOT-1", "PH-1", route))


def test_the_memory_travels_as_bytes_between_scans_and_stays_small() -> None:
    detector = Detector(default_config(), LearnedPlaces())
    lookup = _lookup()
    start = 1780272000.0 + 3 * 86400  # three days after the activation
    memory: bytes | None = None
    verdicts = []
    cities = [(31.23, 121.47), (30.57, 104.07), (39.90, 116.40), (23.13, 113.26)]
    for i in range(40):
        lat, lon = cities[i % 4]
        place = Place("CN", None, None, lat, lon, 200.0)
        mem = StampMemory.from_bytes(memory) if memory else StampMemory()
        judged = detector.judge(_event(7, start + i * 86400 * 3, f"d{i}", place), lookup, mem, f"n{i}")
        memory = mem.to_bytes()
        verdicts.append(judged.verdict)
    assert len(memory) <= 520
    assert StampMemory.from_bytes(memory).scans == 40
    assert verdicts[0] is Verdict.GENUINE
    assert Verdict.SUSPECT in verdicts or Verdict.COUNTERFEIT in verdicts  # forty households: a copy


def _store(kind: str, prefix: str) -> Any:
    if kind == "redis" and not REDIS_URL:
        pytest.skip("needs Redis: set TEM_REDIS_URL")
    return MemoryScanStore() if kind == "memory" else RedisScanStore(Redis.from_url(REDIS_URL or ""), prefix)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_scan_judged_from_an_old_memory_is_not_saved(kind: str, redis_prefix: str) -> None:
    """Two processes judge scans of one stamp from the same memory: the second save is refused with the
    memory the first stored, and nothing of it is counted or logged until it is judged again."""
    store = _store(kind, redis_prefix)

    async def run() -> None:
        place = Place("CN", None, None, 31.2, 121.5, 200.0)
        first = _event(9, 1780000000.0, "d1", place)
        second = _event(9, 1780000001.0, "d2", place)
        saved = await store.save_judged([first], 0, b"memory after the first")
        assert (saved.ok, saved.version) == (True, 1)
        refused = await store.save_judged([second], 0, b"judged from nothing")
        assert (refused.ok, refused.version, refused.memory) == (False, 1, b"memory after the first")
        assert (await store.history("08935000000014", 9)).count == 1
        saved = await store.save_judged([second], 1, b"memory after the second")
        assert (saved.ok, saved.version) == (True, 2)
        history = await store.history("08935000000014", 9)
        assert (history.count, history.devices) == (2, 2)
        pin = replace(_event(9, 1780000002.0, "d1", place), kind="pin")
        saved = await store.save_judged([pin], 2, b"memory after the PIN")
        assert (saved.ok, saved.version) == (True, 3)
        assert (await store.history("08935000000014", 9)).count == 2  # a PIN entry is not a scan
        logged = await store.read_log("test", 10, 0)
        assert [e.scan_id for _, e in logged] == [first.scan_id, second.scan_id, pin.scan_id]
        await store.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_scans_of_one_stamp_at_once_go_together_in_process(kind: str, redis_prefix: str) -> None:
    """Twenty scans of one stamp: the first is saved alone, the nineteen that arrive while its save is in flight
    in one more round trip, each judged from the memory the one before it left."""
    store = _store(kind, redis_prefix)

    async def run() -> None:
        asked = 0
        save = store.save_judged

        async def counted(events: list[ScanEvent], version: int, memory: bytes) -> Any:
            nonlocal asked
            asked += 1
            await asyncio.sleep(0)  # a round trip: the other scans run meanwhile
            return await save(events, version, memory)

        replace_save(store, counted)  # counting the store's calls
        detector = Detector(default_config(), LearnedPlaces())
        scans_before: list[int] = []  # what each scan's judge found in the memory it was handed

        def watched(event: ScanEvent, lookup: Lookup, mem: StampMemory, network: str | None) -> Any:
            scans_before.append(mem.scans)
            return detector.judge(event, lookup, mem, network)

        def scan(event: ScanEvent) -> Awaitable[Judgement]:  # what record_and_judge does, watching the judge
            return detector.submit(store, event, watched, _lookup(), None)

        place = Place("VN", None, None, 10.8, 106.6, 200.0)
        events = [_event(11, 1780272000.0 + 3 * 86400 + i, f"d{i}", place) for i in range(20)]
        first = asyncio.ensure_future(scan(events[0]))
        await asyncio.sleep(0)  # its judging round: the first save is in flight
        await asyncio.gather(first, *(scan(e) for e in events[1:]))
        assert asked == 2
        assert scans_before == list(range(20))
        assert (await store.history("08935000000014", 11)).count == 20
        version, memory = detector.known.get("08935000000014", 11)
        assert version == 2
        assert memory is not None
        assert StampMemory.from_bytes(memory).scans == 20
        # Another process, which never saw the stamp, is told its memory and judges again: two round trips.
        elsewhere = Detector(default_config(), LearnedPlaces())
        late = _event(11, 1780272000.0 + 4 * 86400, "d-late", place)
        await record_and_judge(store, elsewhere, late, _lookup(), None)
        history = await store.history("08935000000014", 11)
        assert asked == 4
        assert history.count == 21
        assert StampMemory.from_bytes(elsewhere.known.get("08935000000014", 11)[1] or b"").scans == 21
        await store.close()

    asyncio.run(run())


def test_the_worker_rides_out_a_redis_timeout(world: World) -> None:
    """A stalled read from the scan log (Redis restarting, a paused process) is retried, not fatal."""
    c = world.client
    stamps = issue_and_activate(world)
    scan(c, stamps.uris[0], SHANGHAI, "phone-a")
    store = runtime(c).store
    real = store.read_log
    failures = []

    async def flaky(consumer: str, count: int, block_ms: int) -> Any:
        if not failures:
            failures.append(1)
            raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")
        return await real(consumer, count, block_ms)

    store.read_log = flaky  # type: ignore[method-assign]

    async def run() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(drain(store, runtime(c).writer, "test", block_ms=50, stop=stop))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if scan_rows(c):
                break
        stop.set()
        return await task

    assert c.portal.call(run) == 1  # type: ignore[attr-defined]
    assert failures == [1]


def test_known_memories_keep_the_most_recently_saved_stamps() -> None:
    known = KnownMemories(4)  # two generations of two stamps
    for serial in (1, 2, 3):
        known.put("08935000000014", serial, serial, b"m%d" % serial)
    assert known.get("08935000000014", 1) == (1, b"m1")  # 1 and 2 are the old generation now, 3 the young
    known.put("08935000000014", 1, 5, b"again")  # saved again: young once more, with the latest version
    # The young generation (3 and 1) was full: it became the old one, and the stamp saved longest ago went.
    assert known.get("08935000000014", 2) == (0, None)  # taken as never scanned
    assert known.get("08935000000014", 1) == (5, b"again")
    assert known.get("08935000000014", 3) == (3, b"m3")
    assert known.get("08935000000099", 1) == (0, None)  # another GTIN's serial 1


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_failed_save_leaves_the_known_memory_as_it_was_saved(kind: str, redis_prefix: str) -> None:
    store = _store(kind, redis_prefix)

    async def run() -> None:
        detector = Detector(default_config(), LearnedPlaces())
        place = Place("VN", None, None, 10.8, 106.6, 200.0)
        await record_and_judge(store, detector, _event(12, 1780272000.0 + 3 * 86400, "d1", place), _lookup(), None)
        save = store.save_judged

        async def lost(*_args: Any) -> Any:
            raise RedisTimeoutError("no answer")

        replace_save(store, lost)  # Redis gone for one scan
        with pytest.raises(RedisTimeoutError):
            await record_and_judge(store, detector, _event(12, 1780272000.0 + 4 * 86400, "d2", place), _lookup(), None)
        replace_save(store, save)
        await record_and_judge(store, detector, _event(12, 1780272000.0 + 5 * 86400, "d3", place), _lookup(), None)
        version, memory = detector.known.get("08935000000014", 12)
        assert version == 2
        assert StampMemory.from_bytes(memory or b"").scans == 2  # the scan that was not saved is not in it
        await store.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_two_processes_scanning_one_popular_stamp_both_get_through(kind: str, redis_prefix: str) -> None:
    """Two scan processes (two detectors on one store), each with a stream of scans of the same stamp: every
    scan is judged and saved exactly once, none is refused, and the memory counts them all."""
    store = _store(kind, redis_prefix)

    async def run() -> None:
        save = store.save_judged

        async def round_trip(events: list[ScanEvent], version: int, memory: bytes) -> Any:
            await asyncio.sleep(0)  # the other process runs meanwhile
            return await save(events, version, memory)

        replace_save(store, round_trip)
        processes = [Detector(default_config(), LearnedPlaces()) for _ in range(2)]
        place = Place("VN", None, None, 10.8, 106.6, 200.0)
        start = 1780272000.0 + 3 * 86400

        async def stream(detector: Detector, offset: int) -> None:
            for i in range(40):
                await record_and_judge(
                    store, detector, _event(13, start + offset + i, f"p{offset}-{i}", place), _lookup(), None
                )

        await asyncio.gather(*(stream(d, n * 1000) for n, d in enumerate(processes)))
        assert (await store.history("08935000000014", 13)).count == 80
        _version, memory = max(d.known.get("08935000000014", 13) for d in processes)
        assert memory is not None
        assert StampMemory.from_bytes(memory).scans == 80
        await store.close()

    asyncio.run(run())


def test_a_burst_of_forged_scans_from_one_network_opens_one_alert(world: World) -> None:
    c = world.client
    resolver = runtime(c).resolver
    resolver.config = replace(resolver.config, forged_burst_limit=3)
    stamps = issue_and_activate(world)
    good = urlsplit(stamps.uris[0])
    signature = dict(part.split("=", 1) for part in good.query.split("&"))["s"]
    forged = stamps.uris[0].replace(signature, ("A" if signature[0] != "A" else "B") + signature[1:])
    answers = [scan(c, forged, SHANGHAI, "forger").status_code for _ in range(6)]
    assert answers == [200, 200, 200, 429, 429, 429]
    flush(c)
    with c.app.state.tem.db.session() as session:  # type: ignore[attr-defined]
        (alert,) = session.scalars(select(Alert).where(Alert.type == "forged_burst"))
    assert (alert.severity, alert.gtin, alert.serial, alert.count, alert.country) == ("warning", None, None, 1, "CN")
    assert "4 forged scans from one network" in alert.explanation_en
    assert scan_rows(c) == []  # forged scans are never written as scans


def test_a_stamp_that_keeps_changing_is_answered_from_its_memory_and_logged_unjudged(world: World) -> None:
    """Other processes saving the stamp under every attempt (a stamp that hot): its scans are still answered,
    counted and logged, with the verdict its memory already carries, never a 503 or a 500."""
    c = world.client
    stamps = issue_and_activate(world)
    store = runtime(c).store
    unjudged: list[ScanEvent] = []
    held = {"memory": StampMemory().to_bytes()}

    async def always_overtaken(events: list[ScanEvent], version: int | None, memory: bytes) -> Saved:
        if version is None:
            unjudged.extend(events)
            return Saved(True, 7)
        return Saved(False, version + 1, held["memory"])

    replace_save(store, always_overtaken)
    answer = scan(c, stamps.uris[0], SHANGHAI, "phone-a")
    assert answer.status_code == 307  # a clean memory: genuine
    assert [(e.verdict, e.findings) for e in unjudged] == [(Verdict.GENUINE, None)]
    travel = StampMemory(levels=int(Severity.CRITICAL) << TYPE_BIT[FindingType.IMPOSSIBLE_TRAVEL])
    held["memory"] = travel.to_bytes()
    answer = scan(c, stamps.uris[0], SHANGHAI, "phone-b")
    assert answer.status_code == 200
    assert 'data-verdict="counterfeit"' in answer.text  # what its memory says: a copy was caught before
    checked = c.get("/api/v1/stamps/verify", params={"uri": stamps.uris[0]}, headers=world.inspector)
    assert checked.status_code == 200
    assert checked.json()["verdict"] == "counterfeit"
    assert len(unjudged) == 3


def test_scans_of_one_event_loop_turn_reach_redis_in_one_write(redis_prefix: str) -> None:
    """The shared connection writes the requests of concurrent scans together, and still answers each its own."""
    store = _store("redis", redis_prefix)

    async def run() -> None:
        assert await store.count_forged("warm", 60) == 1  # connects
        protocol = store._shared._protocol
        transport = protocol._transport
        writes: list[int] = []
        write = transport.write
        transport.write = lambda data: (writes.append(len(data)), write(data))[1]
        counts = await asyncio.gather(*(store.count_forged(f"net-{n % 4}", 60) for n in range(20)))
        assert sorted(counts) == sorted([1, 2, 3, 4, 5] * 4)
        assert len(writes) == 1
        await store.close()

    asyncio.run(run())


ZHENGZHOU = {"cf-ipcountry": "CN", "cf-iplatitude": "34.75", "cf-iplongitude": "113.62", "cf-ipcity": "Zhengzhou"}


def _copy_in_zhengzhou_after_shanghai(world: World, gps: bool) -> Any:
    """Phone A scans in Shanghai (an IP's place, ~200 km) and, when `gps`, sends its GPS fix from the trace
    page; minutes later phone B scans the same code in Zhengzhou, 830 km away."""
    c = world.client
    stamps = issue_and_activate(world)
    first = scan(c, stamps.uris[0], SHANGHAI, "phone-a")
    assert first.status_code == 307
    if gps:
        report = {
            "scan": scan_token_of(first),
            "gtin": stamps_gtin(c, stamps),
            "serial": 1,
            "latitude": 31.2304,
            "longitude": 121.4737,
            "accuracy_m": 40,
        }
        assert c.post("/scans/location", json=report, headers={"user-agent": "phone-a"}).status_code == 204
    return scan(c, stamps.uris[0], ZHENGZHOU, "phone-b")


def test_without_the_first_phones_gps_the_copy_is_only_suspect(world: World) -> None:
    copy = _copy_in_zhengzhou_after_shanghai(world, gps=False)
    assert 'data-verdict="suspect"' in copy.text  # 830 km less both IP radii: not beyond doubt


def test_the_first_phones_gps_fix_sharpens_what_detection_remembers(world: World) -> None:
    copy = _copy_in_zhengzhou_after_shanghai(world, gps=True)
    assert 'data-verdict="counterfeit"' in copy.text  # Shanghai was certain: Zhengzhou minutes later is not
    assert "too far apart" in copy.text


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_memory_is_stored_alone_only_from_its_current_version(kind: str, redis_prefix: str) -> None:
    store = _store(kind, redis_prefix)

    async def run() -> None:
        assert await store.load_memory("08935000000014", 5) == (0, None)
        place = Place("CN", None, None, 31.2, 121.5, 200.0)
        assert (await store.save_judged([_event(5, 1780000000.0, "d1", place)], 0, b"judged")).ok
        assert await store.load_memory("08935000000014", 5) == (1, b"judged")
        stale = await store.store_memory("08935000000014", 5, 0, b"from nothing")
        assert (stale.ok, stale.version, stale.memory) == (False, 1, b"judged")
        saved = await store.store_memory("08935000000014", 5, 1, b"refined")
        assert (saved.ok, saved.version) == (True, 2)
        assert await store.load_memory("08935000000014", 5) == (2, b"refined")
        await store.close()

    asyncio.run(run())


def test_a_gps_fix_refines_only_its_own_phones_sighting_and_only_when_sharper() -> None:
    detector = Detector(default_config(), LearnedPlaces())
    lookup = _lookup()
    start = 1780272000.0 + 3 * 86400
    mem = StampMemory()
    detector.judge(_event(7, start, "d1", Place("CN", None, None, 31.2, 121.5, 200.0)), lookup, mem, "n1")
    assert not refine_place(mem, "someone else", 31.23, 121.47, 0.04)
    assert not refine_place(mem, "d1", 31.23, 121.47, 300.0)  # vaguer than what it has
    assert refine_place(mem, "d1", 31.23, 121.47, 0.04)
    (sighting,) = mem.sightings
    assert (sighting.lat, sighting.lon, sighting.accuracy_km) == (31.23, 121.47, 0.04)


def test_a_flushed_script_cache_is_loaded_again_on_the_scan_path(redis_prefix: str) -> None:
    """Redis restarted or its scripts were flushed: the save is sent again with the script itself, both from a
    judging round and from an awaited save, and nothing is lost or counted twice."""
    if not REDIS_URL:
        pytest.skip("needs Redis: set TEM_REDIS_URL")

    async def run() -> None:
        client = Redis.from_url(REDIS_URL or "")
        store = RedisScanStore(client, redis_prefix)
        detector = Detector(default_config(), LearnedPlaces())
        place = Place("VN", None, None, 10.8, 106.6, 200.0)
        start = 1780272000.0 + 3 * 86400
        await record_and_judge(store, detector, _event(21, start, "d1", place), _lookup(), None)
        await client.script_flush()
        await record_and_judge(store, detector, _event(21, start + 60, "d2", place), _lookup(), None)
        version, memory = detector.known.get("08935000000014", 21)
        assert version == 2
        assert StampMemory.from_bytes(memory or b"").scans == 2
        await client.script_flush()
        saved = await store.save_judged([_event(21, start + 120, "d3", place)], 2, b"after the third")
        assert (saved.ok, saved.version) == (True, 3)
        assert (await store.history("08935000000014", 21)).count == 3
        await store.close()
        await client.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_scans_leave_no_reference_cycles(kind: str, redis_prefix: str) -> None:
    """A scan's objects are freed as soon as it is answered. A reference cycle per scan would be left for the
    garbage collector, which then walks them on the scan path (a closure that refers to itself did this)."""
    store = _store(kind, redis_prefix)

    async def run() -> int:
        detector = Detector(default_config(), LearnedPlaces())
        place = Place("VN", None, None, 10.8, 106.6, 200.0)
        start = 1780272000.0 + 3 * 86400
        await record_and_judge(store, detector, _event(30, start, "d0", place), _lookup(), None)  # connected
        gc.collect()
        gc.disable()
        try:
            for i in range(200):
                event = _event(31 + i % 20, start + i, f"d{i}", place)
                await record_and_judge(store, detector, event, _lookup(), f"n{i % 7}")
            return gc.collect()
        finally:
            gc.enable()
            await store.close()

    assert asyncio.run(run()) < 50
