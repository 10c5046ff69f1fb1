"""Small builders for API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from crypto import gs1_check_digit


def gtin(body: str) -> str:
    """A valid GTIN-14 from its first 13 digits."""
    assert len(body) == 13
    return body + str(gs1_check_digit(body))


GTIN_A = gtin("0893860450001")
GTIN_B = gtin("0893860450002")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def setup_packer(
    client: TestClient,
    headers: dict[str, str],
    product_gtin: str = GTIN_A,
    area: str = "VN-TGOR-0123",
    lot: str = "LOT-1",
    lot_extra: dict[str, Any] | None = None,
    phyto: bool = True,
) -> dict[str, Any]:
    """Product, growing area, household and lot for one packing house; an export lot gets its phytosanitary
    certificate, without which its stamps are not activated (TEM_REQUIRE_PHYTO)."""
    ok(
        client.post(
            "/api/v1/products",
            headers=headers,
            json={
                "gtin": product_gtin,
                "name_vi": "Sầu riêng Ri6",
                "name_en": "Ri6 durian",
                "name_zh": "Ri6 榴莲",
            },
        ),
        201,
    )
    ok(
        client.post("/api/v1/growing-areas", headers=headers, json={"code": area, "province": "Tiền Giang"}),
        201,
    )
    household = ok(
        client.post("/api/v1/households", headers=headers, json={"name": "Hộ Nguyễn Văn An", "growing_area": area}),
        201,
    )
    lot_body = ok(
        client.post(
            "/api/v1/lots",
            headers=headers,
            json={
                "code": lot,
                "gtin": product_gtin,
                "harvest_dates": ["2026-06-02"],
                "packing_date": "2026-06-04",
                "quantity": 1000,
                "destination_markets": ["CN"],
                "growing_areas": [area],
                "households": [household["id"]],
                **(lot_extra or {}),
            },
        ),
        201,
    )
    if phyto and any(market != "VN" for market in lot_body["destination_markets"]):
        ok(
            client.post(
                f"/api/v1/lots/{lot_body['id']}/documents",
                headers=headers,
                json={"kind": "phytosanitary", "number": f"PC-{lot}", "issued_on": "2026-06-04"},
            ),
            201,
        )
    return {"gtin": product_gtin, "lot": lot_body, "household": household}


def order(client: TestClient, headers: dict[str, str], product_gtin: str, quantity: int) -> dict[str, Any]:
    return ok(client.post("/api/v1/orders", headers=headers, json={"gtin": product_gtin, "quantity": quantity}), 201)
