"""Where a genuine lot may be seen: the detection engine's `LotRoute`, built from what the registry knows.

The origin is the lot's growing areas (their mean position) or else its packing house's province; the border
gates are the ones the lot declared, or every durian gate to China when it declared none; the places are the
destination cities or hubs it declared (none: anywhere in its destination markets). Pure: rows in, routes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from detection.engine.model import LotRoute, Waypoint
from issuer.provinces import normalize_border_gate

DEFAULT_SHELF_LIFE_DAYS = 21.0  # fresh durian: one to three weeks
VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7))
# Stages recorded where the lot starts out (or on its way): the earliest tells when its journey began.
DEPARTURE_STAGES = ("packing", "shipping", "border_crossing")

# The border crossings durian takes to China: the Vietnamese side and the Chinese side of each.
BORDER_GATES: dict[str, tuple[Waypoint, Waypoint]] = {
    "Hữu Nghị/Tân Thanh": (
        Waypoint("Hữu Nghị/Tân Thanh", 21.90, 106.68, "VN"),
        Waypoint("Pingxiang", 22.10, 106.75, "CN"),
    ),
    "Kim Thành": (Waypoint("Kim Thành", 22.50, 103.96, "VN"), Waypoint("Hekou", 22.51, 103.95, "CN")),
    "Móng Cái": (Waypoint("Móng Cái", 21.53, 107.97, "VN"), Waypoint("Dongxing", 21.55, 107.98, "CN")),
}

# The 34 provinces' administrative centres: a lot with no located growing area starts here.
PROVINCE_CENTRES: dict[str, tuple[float, float]] = {
    "Hà Nội": (21.03, 105.85),
    "Huế": (16.46, 107.59),
    "Lai Châu": (22.40, 103.46),
    "Điện Biên": (21.39, 103.02),
    "Sơn La": (21.33, 103.91),
    "Lạng Sơn": (21.85, 106.76),
    "Quảng Ninh": (20.95, 107.08),
    "Thanh Hóa": (19.81, 105.78),
    "Nghệ An": (18.68, 105.68),
    "Hà Tĩnh": (18.34, 105.91),
    "Cao Bằng": (22.67, 106.26),
    "Tuyên Quang": (21.82, 105.21),
    "Lào Cai": (22.49, 103.97),
    "Thái Nguyên": (21.59, 105.85),
    "Phú Thọ": (21.32, 105.40),
    "Bắc Ninh": (21.19, 106.08),
    "Hưng Yên": (20.65, 106.05),
    "Hải Phòng": (20.86, 106.68),
    "Ninh Bình": (20.25, 105.97),
    "Quảng Trị": (16.75, 107.19),
    "Đà Nẵng": (16.05, 108.22),
    "Quảng Ngãi": (15.12, 108.80),
    "Gia Lai": (13.98, 108.00),
    "Khánh Hòa": (12.24, 109.19),
    "Lâm Đồng": (11.94, 108.44),
    "Đắk Lắk": (12.67, 108.04),
    "Hồ Chí Minh": (10.78, 106.70),
    "Đồng Nai": (10.95, 106.82),
    "Tây Ninh": (11.31, 106.10),
    "Cần Thơ": (10.03, 105.78),
    "Vĩnh Long": (10.25, 105.97),
    "Đồng Tháp": (10.36, 106.36),
    "Cà Mau": (9.18, 105.15),
    "An Giang": (10.37, 105.43),
}


@dataclass(frozen=True, slots=True)
class LotFacts:
    """What the registry holds about a lot that its route depends on."""

    lot_id: int
    lot_code: str
    gtin: str
    packing_house: str
    province: str
    markets: Sequence[str]
    border_gates: Sequence[str]
    destination_places: Sequence[dict[str, object]]
    growing_areas: Sequence[tuple[float, float]]  # located growing areas only
    shelf_life_days: float | None
    departed_at: dt.datetime | None = None  # the earliest recorded packing or shipping stage, or packing date


def build_route(facts: LotFacts, activated_at: dt.datetime) -> LotRoute:
    if facts.growing_areas:
        lat = sum(p[0] for p in facts.growing_areas) / len(facts.growing_areas)
        lon = sum(p[1] for p in facts.growing_areas) / len(facts.growing_areas)
    else:
        lat, lon = PROVINCE_CENTRES.get(facts.province, PROVINCE_CENTRES["Hồ Chí Minh"])
    gates = [BORDER_GATES[name] for name in filter(None, map(normalize_border_gate, facts.border_gates))]
    if not gates and "CN" in facts.markets:
        gates = list(BORDER_GATES.values())
    places = tuple(
        Waypoint(
            str(p.get("name") or f"{p['lat']},{p['lon']}"),
            float(p["lat"]),  # type: ignore[arg-type]  # validated when the lot was declared
            float(p["lon"]),  # type: ignore[arg-type]
            str(p.get("country") or "").upper(),
            float(p["radius_km"]) if p.get("radius_km") else None,  # type: ignore[arg-type]
        )
        for p in facts.destination_places
    )
    return LotRoute(
        lot=facts.lot_code,
        gtin=facts.gtin,
        origin_lat=lat,
        origin_lon=lon,
        origin_country="VN",
        activated_at=activated_at.timestamp(),
        markets=frozenset(facts.markets),
        shelf_life_days=facts.shelf_life_days or DEFAULT_SHELF_LIFE_DAYS,
        packing_house=facts.packing_house,
        province=facts.province,
        gates=tuple(w for pair in gates for w in pair),
        places=places,
        departed_at=facts.departed_at.timestamp() if facts.departed_at is not None else 0.0,
    )
