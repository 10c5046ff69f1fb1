"""A lot declares its route for detection: border gates, destination places, and its product's shelf life."""

from __future__ import annotations

import datetime as dt

from resolver.lot_route import DEFAULT_SHELF_LIFE_DAYS, PROVINCE_CENTRES, LotFacts, build_route
from tests.conftest import World
from tests.helpers import setup_packer

NANNING = {"name": "Nanning", "lat": 22.82, "lon": 108.32, "country": "CN"}


def test_a_lot_declares_gates_and_places_and_reads_them_back(world: World) -> None:
    made = setup_packer(
        world.client,
        world.packer,
        lot_extra={"border_gates": ["tan thanh", "Móng Cái"], "destination_places": [NANNING]},
    )
    lot = made["lot"]
    assert lot["border_gates"] == ["Hữu Nghị/Tân Thanh", "Móng Cái"]
    assert lot["destination_places"] == [NANNING]


def test_unknown_gates_and_places_outside_the_markets_are_refused_with_a_reason(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    base = {
        "code": "LOT-2",
        "gtin": c.get("/api/v1/products", headers=world.packer).json()[0]["gtin"],
        "harvest_dates": ["2026-06-02"],
        "destination_markets": ["CN"],
        "growing_areas": ["VN-TGOR-0123"],
    }
    gate = c.post("/api/v1/lots", headers=world.packer, json={**base, "border_gates": ["Lào Cai airport"]})
    assert gate.status_code == 422
    assert "not a known border gate" in gate.text
    place = {**NANNING, "name": "Bangkok", "country": "TH"}
    outside = c.post("/api/v1/lots", headers=world.packer, json={**base, "destination_places": [place]})
    assert outside.status_code == 422
    assert "outside the destination markets: Bangkok" in outside.text
    bad_lat = c.post(
        "/api/v1/lots", headers=world.packer, json={**base, "destination_places": [{**NANNING, "lat": 95}]}
    )
    assert bad_lat.status_code == 422


def test_a_product_keeps_its_shelf_life(world: World) -> None:
    body = {
        "gtin": "08935000000021",
        "name_vi": "Sầu riêng đông lạnh",
        "name_en": "Frozen durian",
        "name_zh": "冷冻榴莲",
    }
    created = world.client.post("/api/v1/products", headers=world.packer, json={**body, "shelf_life_days": 365})
    assert created.status_code == 201, created.text
    assert created.json()["shelf_life_days"] == 365
    negative = world.client.post("/api/v1/products", headers=world.packer, json={**body, "shelf_life_days": -1})
    assert negative.status_code == 422


def test_the_route_falls_back_to_the_province_and_every_gate() -> None:
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    facts = LotFacts(1, "L1", "08935000000014", "PH-1", "Đắk Lắk", ["CN"], [], [], [], None)
    route = build_route(facts, at)
    assert (route.origin_lat, route.origin_lon) == PROVINCE_CENTRES["Đắk Lắk"]
    assert route.shelf_life_days == DEFAULT_SHELF_LIFE_DAYS
    assert {g.name for g in route.gates} >= {"Hữu Nghị/Tân Thanh", "Pingxiang", "Kim Thành", "Hekou", "Móng Cái"}
    assert route.activated_at == at.timestamp()
    located = LotFacts(
        1,
        "L1",
        "08935000000014",
        "PH-1",
        "Đắk Lắk",
        ["CN"],
        ["Kim Thành"],
        [NANNING],
        [(10.0, 106.0), (11.0, 107.0)],
        14,
    )
    route = build_route(located, at)
    assert (route.origin_lat, route.origin_lon) == (10.5, 106.5)
    assert [g.name for g in route.gates] == ["Kim Thành", "Hekou"]
    assert [p.name for p in route.places] == ["Nanning"]
    assert route.region_countries == frozenset({"CN"})
    assert route.shelf_life_days == 14
