"""Growing areas as a national register (issue 22): boundaries validated and measured, national codes, the
GeoJSON of an area, its status and who may change it, activation refused on a suspended area, and what the
trace page, the ministry's alerts and the ministry's map show."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from sqlalchemy import select

from alerts.models import Alert
from identity.principal import operator
from issuer import schemas, service
from issuer.models import AuditEvent
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import World
from tests.helpers import GTIN_A, ok, order, setup_packer

LON, LAT = 106.10, 10.35  # Cái Bè, Tiền Giang
AREA = "VN-TGOR-0123"  # setup_packer's area
DOMESTIC = {"destination_markets": ["VN"]}  # no export: the phytosanitary gate is not what these tests are about


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at `lat` on WGS84 (the usual series)."""
    phi = math.radians(lat)
    per_lat = 111_132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi) - 0.0023 * math.cos(6 * phi)
    per_lon = 111_412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return per_lon, per_lat


def from_metres(points: list[tuple[float, float]], lon: float = LON, lat: float = LAT) -> list[list[float]]:
    """A closed ring of [lon, lat] from (east, north) metres around (lon, lat)."""
    per_lon, per_lat = metres_per_degree(lat)
    ring = [[lon + x / per_lon, lat + y / per_lat] for x, y in points]
    return [*ring, ring[0]]


def square(side_m: float = 100.0, lon: float = LON, lat: float = LAT) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [from_metres([(0, 0), (side_m, 0), (side_m, side_m), (0, side_m)], lon, lat)],
    }


def create_area(world: World, who: dict[str, str], code: str, **fields: Any) -> Any:
    body = {"code": code, "province": "Tiền Giang", **fields}
    return world.client.post("/api/v1/growing-areas", headers=who, json=body)


def province_token(settings: Settings, code: str, province: str) -> dict[str, str]:
    with Database(settings.effective_database_url).session() as session:
        service.create_organisation(
            session,
            settings,
            operator("test"),
            schemas.OrganisationCreate(kind="province_authority", name=f"Sở {province}", code=code, province=province),
        )
        _row, token = service.create_token(
            session,
            operator("test"),
            schemas.TokenCreate(organisation=code, role="province", name=f"province {code}"),
        )
    return {"Authorization": f"Bearer {token}"}


def set_status(
    world: World, who: dict[str, str], status: str, reason: str = "GACC notice 2026/17", code: str = AREA
) -> Any:
    return world.client.post(
        f"/api/v1/growing-areas/{code}/status", headers=who, json={"status": status, "reason": reason}
    )


# Boundaries and the measured area


def test_a_one_hectare_square_is_measured_within_five_percent(world: World) -> None:
    body = ok(create_area(world, world.packer, "VN-TGOR-0900", boundary=square(100.0), area_hectares=1.0), 201)
    assert body["measured_hectares"] == pytest.approx(1.0, rel=0.05)
    assert body["measured_hectares"] == pytest.approx(1.0, rel=0.002)  # in fact far closer
    assert body["declared_area_mismatch"] is False
    listed = ok(world.client.get("/api/v1/growing-areas", headers=world.packer))
    assert listed[0]["measured_hectares"] == body["measured_hectares"]
    assert listed[0]["status"] == "active"


def test_an_irregular_shape_with_a_hole_matches_an_independent_formula(world: World) -> None:
    """An L-shaped field with a pond, laid out in metres: its area by the shoelace formula in metres is the
    reference for the geodesic measure of the same shape in degrees."""
    shell_m = [(0.0, 0.0), (300.0, 0.0), (300.0, 120.0), (140.0, 120.0), (140.0, 260.0), (0.0, 260.0)]
    hole_m = [(30.0, 30.0), (30.0, 80.0), (90.0, 80.0), (90.0, 30.0)]

    def shoelace(points: list[tuple[float, float]]) -> float:
        return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, points[1:] + points[:1], strict=True))) / 2

    expected_ha = (shoelace(shell_m) - shoelace(hole_m)) / 10_000  # 5.36 - 0.3 = 5.06 ha
    lat = 12.67  # Buôn Ma Thuột: another latitude
    boundary = {"type": "Polygon", "coordinates": [from_metres(shell_m, 108.04, lat), from_metres(hole_m, 108.04, lat)]}
    body = ok(create_area(world, world.packer, "VN-DLOR-0001", boundary=boundary), 201)
    assert body["measured_hectares"] == pytest.approx(expected_ha, rel=0.005)
    # A MultiPolygon of two such 1 ha squares measures 2 ha.
    multi = {"type": "MultiPolygon", "coordinates": [square()["coordinates"], square(lon=LON + 0.01)["coordinates"]]}
    two = ok(create_area(world, world.packer, "VN-TGOR-0902", boundary=multi), 201)
    assert two["measured_hectares"] == pytest.approx(2.0, rel=0.01)


def test_a_declared_area_far_from_the_measured_one_is_flagged(world: World) -> None:
    off = ok(create_area(world, world.packer, "VN-TGOR-0910", boundary=square(100.0), area_hectares=1.5), 201)
    assert off["declared_area_mismatch"] is True
    near = ok(create_area(world, world.packer, "VN-TGOR-0911", boundary=square(100.0), area_hectares=1.15), 201)
    assert near["declared_area_mismatch"] is False
    none = ok(create_area(world, world.packer, "VN-TGOR-0912", area_hectares=3.0), 201)  # nothing to compare with
    assert none["measured_hectares"] is None
    assert none["declared_area_mismatch"] is False


def _ring(*points: tuple[float, float]) -> list[list[float]]:
    return [[LON + dx, LAT + dy] for dx, dy in points]


BAD_POLYGONS = {
    "unclosed": (
        {"type": "Polygon", "coordinates": [_ring((0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001))]},
        "is not closed",
    ),
    "bow-tie": (
        {"type": "Polygon", "coordinates": [_ring((0, 0), (0.001, 0.001), (0.001, 0), (0, 0.001), (0, 0))]},
        "intersects itself",
    ),
    "outside Vietnam": (  # Bangkok
        {"type": "Polygon", "coordinates": [[[100.5, 13.75], [100.51, 13.75], [100.51, 13.76], [100.5, 13.75]]]},
        "outside Vietnam",
    ),
    "latitude and longitude swapped": (
        {"type": "Polygon", "coordinates": [[[LAT, LON], [LAT + 0.001, LON], [LAT, LON + 0.001], [LAT, LON]]]},
        "invalid coordinates",
    ),
    "not numbers": (
        {"type": "Polygon", "coordinates": [[["106.1", LAT], [LON + 0.001, LAT], [LON, LAT + 0.001], ["106.1", LAT]]]},
        "must hold numbers",
    ),
    "too few points": (
        {"type": "Polygon", "coordinates": [_ring((0, 0), (0.001, 0), (0, 0))]},
        "at least 4",
    ),
    "hole outside the shell": (
        {
            "type": "Polygon",
            "coordinates": [
                _ring((0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001), (0, 0)),
                _ring((0.002, 0.002), (0.003, 0.002), (0.003, 0.003), (0.002, 0.002)),
            ],
        },
        "is not inside the outer ring",
    ),
    "a point": ({"type": "Point", "coordinates": [LON, LAT]}, "must be Polygon or MultiPolygon"),
}


@pytest.mark.parametrize("case", list(BAD_POLYGONS))
def test_a_bad_polygon_gets_422_saying_what_is_wrong(world: World, case: str) -> None:
    boundary, words = BAD_POLYGONS[case]
    response = create_area(world, world.packer, "VN-TGOR-0920", boundary=boundary)
    assert response.status_code == 422, response.text
    assert words in response.text, response.text
    assert ok(world.client.get("/api/v1/growing-areas", headers=world.packer)) == []


# The national register


def test_codes_are_unique_nationally(world: World) -> None:
    ok(create_area(world, world.packer, "VN-TGOR-0930"), 201)
    again = create_area(world, world.other_packer, "vn-tgor-0930")  # another packing house, any case
    assert again.status_code == 409, again.text
    assert "VN-TGOR-0930 is already registered" in again.text
    bad = create_area(world, world.packer, "X")
    assert bad.status_code == 422


def test_the_geojson_of_an_area_and_who_may_read_it(world: World, settings: Settings) -> None:
    ok(create_area(world, world.packer, "VN-TGOR-0940", boundary=square(100.0), crop="durian"), 201)
    own_province = province_token(settings, "SO-TG", "Tiền Giang")
    other_province = province_token(settings, "SO-DL", "Đắk Lắk")
    for who in (world.packer, world.ministry, world.inspector, own_province):
        response = world.client.get("/api/v1/growing-areas/VN-TGOR-0940.geojson", headers=who)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/geo+json")
        feature = response.json()
        assert feature["type"] == "Feature"
        assert feature["geometry"] == square(100.0)
        props = feature["properties"]
        assert props["code"] == "VN-TGOR-0940"
        assert props["crop"] == "durian"
        assert props["status"] == "active"
        assert props["province"]
        assert props["measured_hectares"] == pytest.approx(1.0, rel=0.05)
    for who in (world.other_packer, other_province):
        assert world.client.get("/api/v1/growing-areas/VN-TGOR-0940.geojson", headers=who).status_code == 404
    assert world.client.get("/api/v1/growing-areas/VN-NONE-0000.geojson", headers=world.ministry).status_code == 404
    assert world.client.get("/api/v1/growing-areas/VN-TGOR-0940.geojson").status_code == 401


# Status


def test_who_may_change_an_area_status_and_the_audit_log(world: World, settings: Settings) -> None:
    ok(create_area(world, world.packer, AREA), 201)
    refused = set_status(world, world.packer, "suspended")
    assert refused.status_code == 403, refused.text
    other_province = province_token(settings, "SO-DL", "Đắk Lắk")
    assert set_status(world, other_province, "suspended").status_code == 403
    assert set_status(world, world.inspector, "suspended").status_code == 403
    assert set_status(world, world.ministry, "paused").status_code == 422
    assert set_status(world, world.ministry, "suspended", code="VN-NONE-0000").status_code == 404

    body = ok(set_status(world, world.ministry, "suspended", "GACC notice 2026/17: residue found"))
    assert body["status"] == "suspended"
    assert body["status_reason"] == "GACC notice 2026/17: residue found"
    assert body["status_changed_at"]
    assert "ministry" in body["status_changed_by"]
    own_province = province_token(settings, "SO-TG", "Tiền Giang")
    back = ok(set_status(world, own_province, "active", "re-inspected, clean"))
    assert back["status"] == "active"
    assert "SO-TG" in back["status_changed_by"]

    with Database(settings.effective_database_url).session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "growing_area.status_changed").order_by(AuditEvent.id)
        ).all()
        assert [(r.subject, r.details["from"], r.details["to"]) for r in rows] == [
            (f"growing_area:{AREA}", "active", "suspended"),
            (f"growing_area:{AREA}", "suspended", "active"),
        ]
        assert rows[0].details["reason"] == "GACC notice 2026/17: residue found"
        assert rows[1].actor.endswith("province SO-TG")


def test_a_suspended_area_blocks_activation_and_an_active_one_does_not(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer, lot_extra=DOMESTIC)
    order(c, world.packer, GTIN_A, 20)
    ok(set_status(world, world.ministry, "suspended"))
    body = {"gtin": GTIN_A, "first_serial": 1, "last_serial": 10, "lot": "LOT-1"}
    refused = c.post("/api/v1/activations", headers=world.packer, json=body)
    assert refused.status_code == 409, refused.text
    assert f"growing area {AREA} is suspended (GACC notice 2026/17)" in refused.text
    ok(set_status(world, world.ministry, "revoked"))
    assert "is revoked" in c.post("/api/v1/activations", headers=world.packer, json=body).text
    ok(set_status(world, world.ministry, "active", "lifted"))
    assert ok(c.post("/api/v1/activations", headers=world.packer, json=body), 201)["lot"] == "LOT-1"


def test_activated_lots_keep_their_stamps_the_trace_page_shows_the_status_and_the_ministry_is_alerted(
    world: World, settings: Settings
) -> None:
    c = world.client
    setup_packer(c, world.packer, lot_extra=DOMESTIC)
    order(c, world.packer, GTIN_A, 30)
    activations = [(1, 10), (11, 15)]
    for first, last in activations:
        body = {"gtin": GTIN_A, "first_serial": first, "last_serial": last, "lot": "LOT-1"}
        ok(c.post("/api/v1/activations", headers=world.packer, json=body), 201)
    shown = {"vi": "Đã bị tạm dừng", "en": "Suspended", "zh": "已暂停"}
    before = c.get(f"/01/{GTIN_A}/10/LOT-1", headers={"Accept-Language": "en"})
    assert before.status_code == 200, before.text
    assert "Active" in before.text
    assert "Suspended" not in before.text

    ok(set_status(world, world.ministry, "suspended", "GACC notice 2026/17"))

    for lang, words in shown.items():
        page = c.get(f"/01/{GTIN_A}/10/LOT-1", headers={"Accept-Language": lang})
        assert page.status_code == 200, page.text
        assert AREA in page.text
        assert words in page.text, lang

    with Database(settings.effective_database_url).session() as session:
        alerts = session.scalars(select(Alert).where(Alert.type == "growing_area_suspended")).all()
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert.severity == "warning"
        assert f"area:{AREA}:suspended" in alert.evidence
        assert "lot:LOT-1:stamps:15" in alert.evidence
        assert "LOT-1 (15 stamps)" in alert.explanation_en
        assert "LOT-1 (15 tem)" in alert.explanation_vi
        assert AREA in alert.explanation_en
    # The ministry reads it like any alert.
    listed = c.get("/api/v1/alerts?type=growing_area_suspended", headers=world.ministry)
    assert listed.status_code == 200, listed.text
    assert "growing_area_suspended" in listed.text


def test_no_alert_without_activated_lots(world: World, settings: Settings) -> None:
    setup_packer(world.client, world.packer, lot_extra=DOMESTIC)
    ok(set_status(world, world.ministry, "revoked"))
    with Database(settings.effective_database_url).session() as session:
        assert session.scalars(select(Alert).where(Alert.type == "growing_area_suspended")).all() == []


# The ministry's map


def _map_section(html: str) -> str:
    found = re.search(r'<section id="area-map">.*?</section>', html, re.S)
    assert found is not None
    return found.group(0)


def test_the_ministry_dashboard_draws_the_areas_as_inline_svg(world: World) -> None:
    ok(create_area(world, world.packer, "VN-TGOR-0950", boundary=square(100.0)), 201)
    hole = {
        "type": "Polygon",
        "coordinates": [
            from_metres([(0, 0), (200, 0), (200, 200), (0, 200)], LON + 0.02, LAT),
            from_metres([(50, 50), (50, 100), (100, 100), (100, 50)], LON + 0.02, LAT),
        ],
    }
    ok(create_area(world, world.other_packer, "VN-DLOR-0950", boundary=hole), 201)
    ok(create_area(world, world.packer, "VN-TGOR-0951", latitude=LAT + 0.01, longitude=LON), 201)  # a point only
    ok(create_area(world, world.packer, "VN-TGOR-0952"), 201)  # nothing to draw
    ok(set_status(world, world.ministry, "suspended", code="VN-DLOR-0950"))

    legends = {
        "vi": ("Bản đồ vùng trồng", "Tạm dừng"),
        "en": ("Map of growing areas", "Suspended"),
        "zh": ("种植区地图", "已暂停"),
    }
    for lang, (title, suspended) in legends.items():
        page = world.client.get(f"/ministry?lang={lang}", headers=world.ministry)
        assert page.status_code == 200, page.text
        section = _map_section(page.text)
        assert title in section
        assert suspended in section
        svg = re.search(r"<svg class=\"area-map[^\"]*\".*?</svg>", section, re.S)
        assert svg is not None
        shapes = re.findall(r'<(?:path|circle) class="area area-(\w+)"', svg.group(0))
        assert sorted(shapes) == ["active", "active", "suspended"]  # one shape per area that has a place
        assert svg.group(0).count("VN-DLOR-0950") == 1
        assert "#ef6c00" in svg.group(0)  # suspended: orange
        for external in ("http:", "https:", "//", "<script", "<image", "href"):
            assert external not in section.replace("</", "<"), external
