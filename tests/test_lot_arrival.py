"""A lot's arrival in its market: shelf life counts from it when a long border queue made it late, in replay and
online alike (the worker learns the arrival from the scan log; scan processes read it with resale places)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from detection.engine import Engine, FindingType, LotState, Severity, Verdict, default_config
from detection.engine.model import Role, StampState
from tem.core.settings import Settings
from tests.conftest import BASE_URL, World
from tests.resolver_helpers import flush, issue_and_activate, runtime
from tests.test_engine_rules import DAY, NANNING, T0, route, scan, worst

SHANGHAI = {"cf-ipcountry": "CN", "cf-iplatitude": "31.23", "cf-iplongitude": "121.47", "cf-ipcity": "Shanghai"}


def _shelf(engine: Engine, at: float, serial: str) -> Severity | None:
    result = engine.scan(scan(at, NANNING, f"late-{serial}", serial=serial), StampState.ACTIVATED, route())
    return worst(result, FindingType.PAST_SHELF_LIFE)


def test_a_lot_that_reached_its_market_late_is_sold_later() -> None:
    config = default_config()
    life = config.lifecycle
    shelf = route().shelf_life_days
    too_late = T0 + (shelf + life.shelf_life_grace_days + 1) * DAY
    # Nothing known of the lot's arrival: shelf life counts from activation.
    assert _shelf(Engine(config), too_late, "1") is Severity.WARNING
    # Its first clean scan in China came late (a nine-day border queue): its fruit is sold days after that.
    engine = Engine(config)
    arrived = T0 + (shelf - 1) * DAY
    first = engine.scan(
        scan(arrived, NANNING, "importer", serial="2", role=Role.DISTRIBUTOR), StampState.ACTIVATED, route()
    )
    assert first.verdict is Verdict.GENUINE
    assert engine.lots[route().key].arrived == arrived
    assert _shelf(engine, too_late, "3") is None
    beyond = arrived + (life.market_days + life.shelf_life_grace_days + 1) * DAY
    assert _shelf(engine, beyond, "4") is Severity.WARNING
    # An inspector's check on the way is not the lot reaching its market.
    other = Engine(config)
    other.scan(scan(arrived, NANNING, "insp", serial="5", role=Role.INSPECTOR), StampState.ACTIVATED, route())
    assert other.lots[route().key].arrived == 0.0


def test_the_arrival_survives_the_aggregates_json() -> None:
    lot = LotState(places=[[31.2, 121.5, 3.0]], arrived=T0)
    assert LotState.from_json(lot.to_json()) == lot
    assert LotState.from_json({"scanned": 1, "flagged": 0, "level": 0, "evidence": [], "places": []}).arrived == 0.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trust_edge_headers": True})  # the scan's place comes from the edge


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from tem.app import create_app

    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client


def _scan(client: TestClient, uri: str, phone: str) -> int:
    client.cookies.clear()
    parts = urlsplit(uri)
    answer = client.get(
        f"{parts.path}?{parts.query}", headers={**SHANGHAI, "user-agent": phone}, follow_redirects=False
    )
    return answer.status_code


def test_online_the_worker_learns_the_arrival_and_the_scan_processes_read_it(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    assert _scan(c, stamps.uris[0], "phone-a") == 307
    flush(c)
    learned = runtime(c).writer.learned_places()
    (key,) = learned
    arrived = learned[key].arrived
    assert arrived > 0
    places = runtime(c).scans.detector.places
    lot = places.get(key)
    assert lot is not None
    assert lot.arrived == arrived
    # A later scan is no news: the arrival stays the first one.
    assert _scan(c, stamps.uris[1], "phone-b") == 307
    flush(c)
    assert runtime(c).writer.learned_places()[key].arrived == arrived
