"""Numbers and dates beyond what the database holds are a 422 naming the field, on SQLite and PostgreSQL alike
(issue 23): ids above 2³¹−1 (INTEGER), serials above 2⁶³−1 (BIGINT), dates outside the years 2000 to 2100."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.helpers import GTIN_A, ok, order, setup_packer
from tests.resolver_helpers import flush

TOO_BIG_ID = 3_000_000_000
TOO_BIG_SERIAL = 2**63  # 19 digits: a well-formed GS1 serial, one past BIGINT


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("get", f"/api/v1/lots/{TOO_BIG_ID}", "packer"),
        ("put", f"/api/v1/lots/{TOO_BIG_ID}/destinations", "packer"),
        ("get", f"/api/v1/orders/{TOO_BIG_ID}", "packer"),
        ("post", f"/api/v1/orders/{TOO_BIG_ID}/approve", "ministry"),
        ("get", f"/api/v1/orders/{TOO_BIG_ID}/stamps.csv", "packer"),
        ("get", f"/api/v1/orders/{TOO_BIG_ID}/print.pdf", "packer"),
        ("get", f"/api/v1/alerts?lot_id={TOO_BIG_ID}", "ministry"),
        ("get", f"/api/v1/alerts?parent_id={TOO_BIG_ID}", "ministry"),
        ("get", f"/api/v1/alerts/{TOO_BIG_ID}", "ministry"),
        ("get", f"/api/v1/inspections?inspector_id={TOO_BIG_ID}", "ministry"),
        ("get", f"/api/v1/reports?alert_id={TOO_BIG_ID}", "ministry"),
        ("get", "/api/v1/alerts?since=0001-01-01T00:00:00%2B14:00", "ministry"),
        ("get", "/api/v1/alerts?until=9999-12-31T23:59:59-14:00", "ministry"),
        ("get", "/api/v1/inspections?since=0001-01-01T00:00:00%2B14:00", "ministry"),
        ("get", "/api/v1/epcis/events?GE_eventTime=0001-01-01T00:00:00%2B14:00", "ministry"),
    ],
)
def test_out_of_range_path_and_query_values_are_422(world: World, method: str, path: str, who: str) -> None:
    response = world.client.request(method, path, headers=getattr(world, who), json={} if method != "get" else None)
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["field"]
    assert "3000000000" not in response.text
    assert "0001-01-01" not in response.text


def test_out_of_range_serials_in_activations_and_revocations_are_422(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    order(c, world.packer, GTIN_A, 10)
    activation = {"gtin": GTIN_A, "first_serial": 1, "last_serial": TOO_BIG_SERIAL, "lot": "LOT-1"}
    response = c.post("/api/v1/activations", headers=world.packer, json=activation)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "last_serial"
    revocation = {
        "gtin": GTIN_A,
        "first_serial": TOO_BIG_SERIAL,
        "last_serial": TOO_BIG_SERIAL,
        "category": "stolen",
        "reason": "roll lost in transit",
    }
    response = c.post("/api/v1/revocations", headers=world.packer, json=revocation)
    assert response.status_code == 422, response.text
    assert str(TOO_BIG_SERIAL) not in response.text
    # The largest BIGINT is a serial like any other: the 4xx is about the range, not its size.
    response = c.post("/api/v1/revocations", headers=world.packer, json={**revocation, "first_serial": 2**63 - 1})
    assert response.status_code == 422  # first above last
    assert "first_serial" in response.text or "last_serial" in response.text


def test_out_of_range_body_ids_quantities_and_dates_are_422(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    lot: dict[str, object] = {
        "code": "LOT-2",
        "gtin": GTIN_A,
        "harvest_dates": ["2026-06-02"],
        "destination_markets": ["VN"],
        "growing_areas": ["VN-TGOR-0123"],
    }
    extras: list[tuple[dict[str, object], str]] = [
        ({"households": [TOO_BIG_ID]}, "households.0"),
        ({"quantity": TOO_BIG_ID}, "quantity"),
        ({"harvest_dates": ["0001-01-01"]}, "harvest_dates.0"),
        ({"packing_date": "9999-12-31"}, "packing_date"),
    ]
    for extra, field in extras:
        response = c.post("/api/v1/lots", headers=world.packer, json={**lot, **extra})
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["error"]["field"] == field
    response = c.post("/api/v1/orders", headers=world.packer, json={"gtin": GTIN_A, "quantity": TOO_BIG_ID})
    assert response.status_code == 422, response.text
    lot_id = ok(c.get("/api/v1/lots", headers=world.packer))[0]["id"]
    stage = {"stage": "packing", "occurred_at": "0001-01-01T00:00:00+14:00"}
    response = c.post(f"/api/v1/lots/{lot_id}/stages", headers=world.packer, json=stage)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "occurred_at"


def test_a_stamp_uri_with_a_serial_beyond_bigint_is_not_a_server_error(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    signature = "A" * 103
    for serial in (TOO_BIG_SERIAL, 99_999_999_999_999_999_999):
        response = c.get(f"/01/{GTIN_A}/21/{serial}?k=k1&s={signature}", follow_redirects=False)
        assert response.status_code < 500, response.text
        response = c.get(f"/01/{GTIN_A}/10/LOT-1?serial={serial}", follow_redirects=False)
        assert response.status_code < 500, response.text
    flush(c)  # the scan log's rows reach the database without an overflow
