"""The packing-house API: roles, tenant isolation, and the registry's rules."""

from __future__ import annotations

import datetime as dt

import pytest

from crypto import parse_keyset_document, parse_stamp_uri, verify_stamp
from tests.conftest import World
from tests.helpers import GTIN_A, GTIN_B, ok, order, setup_packer


def test_packer_builds_a_lot_with_the_plans_minimum_data(world: World) -> None:
    c = world.client
    made = setup_packer(c, world.packer)
    stage = ok(
        c.post(
            f"/api/v1/lots/{made['lot']['id']}/stages",
            headers=world.packer,
            json={
                "stage": "packing",
                "occurred_at": "2026-06-04T09:00:00+07:00",
                "place": "Cái Bè",
                "country": "VN",
            },
        ),
        201,
    )
    lot = ok(c.get(f"/api/v1/lots/{made['lot']['id']}", headers=world.packer))
    assert lot["growing_areas"] == ["VN-TGOR-0123"]
    assert lot["households"][0]["name"] == "Hộ Nguyễn Văn An"
    assert lot["harvest_dates"] == ["2026-06-02"]
    assert lot["destination_markets"] == ["CN"]
    assert lot["stages"][0]["id"] == stage["id"]
    # The instant survives storage whatever the backend: 09:00 in Vietnam is 02:00 UTC.
    when = dt.datetime.fromisoformat(lot["stages"][0]["occurred_at"])
    assert when == dt.datetime(2026, 6, 4, 2, 0, tzinfo=dt.UTC)
    area = ok(c.get("/api/v1/growing-areas", headers=world.packer))[0]
    assert area["province"] == "Đồng Tháp"  # Tiền Giang merged into Đồng Tháp on 1 July 2025


def test_order_issues_signed_stamps_and_streams_them(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    first = order(c, world.packer, GTIN_A, 50)
    second = order(c, world.packer, GTIN_A, 25)
    assert (first["first_serial"], first["last_serial"]) == (1, 50)
    assert (second["first_serial"], second["last_serial"]) == (51, 75)
    assert first["status"] == "approved"

    response = c.get(f"/api/v1/orders/{second['id']}/stamps.csv", headers=world.packer)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, *lines = response.text.splitlines()
    assert header == "uri"
    assert len(lines) == 25
    keyset = parse_keyset_document(c.get("/.well-known/tem-keys.json").json())
    serials = []
    for line in lines:
        stamp = parse_stamp_uri(line)
        assert verify_stamp(stamp, keyset)
        assert stamp.gtin == GTIN_A
        serials.append(stamp.serial)
    assert serials == list(range(51, 76))


def test_activation_binds_own_issued_serials_to_own_lot(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    order(c, world.packer, GTIN_A, 100)
    body = {"gtin": GTIN_A, "first_serial": 1, "last_serial": 40, "lot": "LOT-1"}
    activation = ok(c.post("/api/v1/activations", headers=world.packer, json=body), 201)
    assert activation["lot"] == "LOT-1"

    overlap = c.post("/api/v1/activations", headers=world.packer, json={**body, "first_serial": 40, "last_serial": 60})
    assert overlap.status_code == 409
    assert "already activated" in overlap.json()["error"]["message"]

    beyond = c.post("/api/v1/activations", headers=world.packer, json={**body, "first_serial": 90, "last_serial": 101})
    assert beyond.status_code == 422
    assert "not all been issued" in beyond.json()["error"]["message"]
    ok(
        c.post("/api/v1/activations", headers=world.packer, json={**body, "first_serial": 41, "last_serial": 100}),
        201,
    )


def test_activation_of_another_packing_houses_serials_is_rejected(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    setup_packer(c, world.other_packer, product_gtin=GTIN_B, area="VN-DLOR-0001", lot="LOT-B")
    order(c, world.packer, GTIN_A, 10)
    order(c, world.other_packer, GTIN_B, 10)
    # B's own lot is for GTIN B; A's serials of GTIN A are not B's to activate.
    foreign = c.post(
        "/api/v1/activations",
        headers=world.other_packer,
        json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 5, "lot": "LOT-B"},
    )
    assert foreign.status_code == 422
    # And A cannot activate onto B's lot: it does not exist for A.
    not_theirs = c.post(
        "/api/v1/activations",
        headers=world.packer,
        json={"gtin": GTIN_B, "first_serial": 1, "last_serial": 5, "lot": "LOT-B"},
    )
    assert not_theirs.status_code == 404


def test_tenant_isolation_answers_404_for_other_organisations_ids(world: World) -> None:
    c = world.client
    a = setup_packer(c, world.packer)
    a_order = order(c, world.packer, GTIN_A, 5)
    b = world.other_packer
    assert c.get(f"/api/v1/lots/{a['lot']['id']}", headers=b).status_code == 404
    assert c.get(f"/api/v1/orders/{a_order['id']}", headers=b).status_code == 404
    assert c.get(f"/api/v1/orders/{a_order['id']}/stamps.csv", headers=b).status_code == 404
    stage = {"stage": "harvest", "occurred_at": "2026-06-02T06:00:00+07:00"}
    assert c.post(f"/api/v1/lots/{a['lot']['id']}/stages", headers=b, json=stage).status_code == 404
    for path in ("products", "lots", "orders", "growing-areas", "households", "activations", "revocations"):
        assert ok(c.get(f"/api/v1/{path}", headers=b)) == [], path
    # B cannot order stamps for A's product.
    assert c.post("/api/v1/orders", headers=b, json={"gtin": GTIN_A, "quantity": 1}).status_code == 404
    # The ministry sees everything.
    assert len(ok(c.get("/api/v1/orders", headers=world.ministry))) == 1
    assert ok(c.get(f"/api/v1/lots/{a['lot']['id']}", headers=world.ministry))["code"] == "LOT-1"


@pytest.mark.parametrize(
    ("method", "path", "role", "status"),
    [
        ("get", "/api/v1/products", "none", 401),
        ("get", "/api/v1/products", "inspector", 403),
        ("post", "/api/v1/products", "ministry", 403),
        ("post", "/api/v1/orders", "inspector", 403),
        ("post", "/api/v1/activations", "ministry", 403),
        ("post", "/api/v1/organisations", "packer", 403),
        ("post", "/api/v1/orders/1/approve", "packer", 403),
        ("get", "/api/v1/lots", "bogus", 401),
    ],
)
def test_roles_are_enforced(world: World, method: str, path: str, role: str, status: int) -> None:
    headers = {
        "none": {},
        "bogus": {"Authorization": "Bearer tem_not_a_real_token"},
        "packer": world.packer,
        "inspector": world.inspector,
        "ministry": world.ministry,
    }[role]
    response = getattr(world.client, method)(path, headers=headers, **({"json": {}} if method == "post" else {}))
    assert response.status_code == status
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        (
            "/api/v1/products",
            {"gtin": "08938604500013", "name_vi": "x", "name_en": "x", "name_zh": "x"},
            "gtin",
            "check digit",
        ),
        ("/api/v1/orders", {"gtin": GTIN_A, "quantity": 0}, "quantity", "greater than 0"),
        ("/api/v1/orders", {"gtin": GTIN_A, "quantity": 6_000_000}, "quantity", "maximum"),
        ("/api/v1/orders", {"gtin": "08938604500027", "quantity": 5}, "gtin", "no product"),
        (
            "/api/v1/lots",
            {
                "code": "LOT 1",
                "gtin": GTIN_A,
                "harvest_dates": ["2026-06-01"],
                "destination_markets": ["CN"],
                "growing_areas": ["VN-TGOR-0123"],
            },
            "code",
            "82-character",
        ),
        (
            "/api/v1/lots",
            {
                "code": "LOT-2",
                "gtin": GTIN_A,
                "harvest_dates": ["2026-06-01"],
                "destination_markets": ["XX"],
                "growing_areas": ["VN-TGOR-0123"],
            },
            "destination_markets.0",
            "country",
        ),
        (
            "/api/v1/growing-areas",
            {"code": "VN-TGOR-9", "province": "Atlantis"},
            "province",
            "not a Vietnamese",
        ),
        (
            "/api/v1/activations",
            {"gtin": GTIN_A, "first_serial": 10, "last_serial": 5, "lot": "LOT-1"},
            None,
            "smaller",
        ),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field(
    world: World, path: str, body: dict[str, object], field: str | None, words: str
) -> None:
    setup_packer(world.client, world.packer)
    response = world.client.post(path, headers=world.packer, json=body)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert words in error["message"]
    if field:
        assert error.get("field") == field or field in error["message"]


def test_malformed_json_is_a_400(world: World) -> None:
    response = world.client.post(
        "/api/v1/orders", headers={**world.packer, "Content-Type": "application/json"}, content=b'{"gtin": '
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_nothing_is_half_written_when_a_lot_names_an_unknown_household(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    response = c.post(
        "/api/v1/lots",
        headers=world.packer,
        json={
            "code": "LOT-9",
            "gtin": GTIN_A,
            "harvest_dates": ["2026-06-01"],
            "destination_markets": ["CN"],
            "growing_areas": ["VN-TGOR-0123"],
            "households": [999],
        },
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "households"
    assert [lot["code"] for lot in ok(c.get("/api/v1/lots", headers=world.packer))] == ["LOT-1"]


def test_duplicate_gtin_and_lot_are_conflicts(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    dup = c.post(
        "/api/v1/products",
        headers=world.other_packer,
        json={"gtin": GTIN_A, "name_vi": "a", "name_en": "a", "name_zh": "a"},
    )
    assert dup.status_code == 409


def test_gtin13_input_is_padded_to_14(world: World) -> None:
    made = ok(
        world.client.post(
            "/api/v1/products",
            headers=world.packer,
            json={"gtin": GTIN_B[1:], "name_vi": "a", "name_en": "a", "name_zh": "a"},
        ),
        201,
    )
    assert made["gtin"] == GTIN_B


def test_revocation_of_a_range_and_of_a_lot(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    order(c, world.packer, GTIN_A, 100)
    ok(
        c.post(
            "/api/v1/activations",
            headers=world.packer,
            json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 50, "lot": "LOT-1"},
        ),
        201,
    )
    lost = ok(
        c.post(
            "/api/v1/revocations",
            headers=world.packer,
            json={
                "gtin": GTIN_A,
                "first_serial": 80,
                "last_serial": 100,
                "category": "stolen",
                "reason": "roll lost in transit",
            },
        ),
        201,
    )
    assert lost[0]["lot"] is None
    blocked = c.post(
        "/api/v1/activations",
        headers=world.packer,
        json={"gtin": GTIN_A, "first_serial": 75, "last_serial": 85, "lot": "LOT-1"},
    )
    assert blocked.status_code == 409
    assert "revoked" in blocked.json()["error"]["message"]
    banned = ok(
        c.post(
            "/api/v1/revocations",
            headers=world.ministry,
            json={"lot": "LOT-1", "category": "recalled", "reason": "cadmium found by GACC"},
        ),
        201,
    )
    assert [(r["first_serial"], r["last_serial"], r["lot"]) for r in banned] == [(1, 50, "LOT-1")]
    foreign = c.post(
        "/api/v1/revocations",
        headers=world.other_packer,
        json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 2, "category": "other", "reason": "not mine"},
    )
    assert foreign.status_code == 422
    assert len(ok(c.get("/api/v1/revocations", headers=world.packer))) == 2


def test_order_approval_required(world: World) -> None:
    c = world.client
    c.app.state.tem.settings.order_approval = "required"  # type: ignore[attr-defined]
    setup_packer(c, world.packer)
    pending = order(c, world.packer, GTIN_A, 10)
    assert pending["status"] == "pending"
    assert pending["first_serial"] is None
    assert c.get(f"/api/v1/orders/{pending['id']}/stamps.csv", headers=world.packer).status_code == 409
    rejected_one = order(c, world.packer, GTIN_A, 10)
    rejected = ok(
        c.post(
            f"/api/v1/orders/{rejected_one['id']}/reject",
            headers=world.ministry,
            json={"reason": "quantity exceeds the lot's declared weight"},
        )
    )
    assert rejected["status"] == "rejected"
    assert rejected["rejection_reason"] == "quantity exceeds the lot's declared weight"
    approved = ok(c.post(f"/api/v1/orders/{pending['id']}/approve", headers=world.ministry))
    assert (approved["status"], approved["first_serial"], approved["last_serial"]) == ("approved", 1, 10)
    again = c.post(f"/api/v1/orders/{pending['id']}/approve", headers=world.ministry)
    assert again.status_code == 409
    stamps = c.get(f"/api/v1/orders/{pending['id']}/stamps.csv", headers=world.packer).text.splitlines()
    assert len(stamps) == 11  # the header row and 10 stamps


def test_openapi_is_published(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    spec = client.get("/openapi.json").json()
    assert "/api/v1/orders" in spec["paths"]
    assert client.get("/docs").status_code == 200
