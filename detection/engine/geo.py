"""Great-circle distance. Pure."""

from __future__ import annotations

import math

EARTH_KM = 6371.0088
_RAD = math.pi / 180


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance; accurate to well under 1% at every scale the rules care about."""
    p1 = lat1 * _RAD
    p2 = lat2 * _RAD
    a = math.sin((p2 - p1) * 0.5) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((lon2 - lon1) * _RAD * 0.5) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))
