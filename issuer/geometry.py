"""Growing-area boundaries: GeoJSON Polygon or MultiPolygon (WGS84), validated, and their geodesic area.

Pure: the standard library only. `validate` raises `BoundaryError` with a message a person can read, naming
what is wrong and where ("polygon 1, ring 2 ..."). `hectares` measures an already valid boundary on the WGS84
ellipsoid through its authalic (equal-area) sphere: latitudes become authalic latitudes, and the area of each
ring is the spherical excess on the authalic radius, exact for great-circle edges on that sphere and within a
few parts per million of the ellipsoidal geodesic area for a field-sized polygon.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Vietnam's bounding box, mainland and the near islands (Phú Quốc, Côn Đảo), in degrees.
VIETNAM_BBOX = (102.1, 8.4, 109.5, 23.4)  # west, south, east, north
#: A bound on the work one boundary may ask for (the self-intersection test is quadratic per ring).
MAX_POSITIONS = 5000

WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
_E2 = WGS84_F * (2 - WGS84_F)
_E = math.sqrt(_E2)

Position = tuple[float, float]  # (longitude, latitude)
Ring = list[Position]


class BoundaryError(ValueError):
    """A boundary that is not a valid polygon inside Vietnam; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Boundary:
    """A valid boundary: polygons, each a shell followed by its holes (closed rings of (lon, lat))."""

    polygons: list[list[Ring]]

    def bbox(self) -> tuple[float, float, float, float]:
        lons = [p[0] for polygon in self.polygons for p in polygon[0]]
        lats = [p[1] for polygon in self.polygons for p in polygon[0]]
        return min(lons), min(lats), max(lons), max(lats)


# Validation


def validate(geometry: Any, bbox: tuple[float, float, float, float] = VIETNAM_BBOX) -> Boundary:
    """The boundary as polygons of rings, or `BoundaryError` naming what is wrong."""
    if not isinstance(geometry, dict):
        raise BoundaryError("boundary must be a GeoJSON geometry object (Polygon or MultiPolygon)")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon":
        raw_polygons = [coordinates]
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise BoundaryError("boundary: a MultiPolygon needs a non-empty list of polygons")
        raw_polygons = coordinates
    else:
        raise BoundaryError(f"boundary type must be Polygon or MultiPolygon, not {kind!r}")
    polygons = [_polygon(raw, i + 1, len(raw_polygons) > 1, bbox) for i, raw in enumerate(raw_polygons)]
    if sum(len(ring) for polygon in polygons for ring in polygon) > MAX_POSITIONS:
        raise BoundaryError(f"boundary has more than {MAX_POSITIONS} positions")
    return Boundary(polygons)


def _polygon(raw: Any, number: int, multi: bool, bbox: tuple[float, float, float, float]) -> list[Ring]:
    where = f"polygon {number}" if multi else "polygon"
    if not isinstance(raw, list) or not raw:
        raise BoundaryError(f"boundary: {where} needs a list of rings (the outer ring first)")
    rings = [_ring(r, f"{where}, ring {i + 1}", bbox) for i, r in enumerate(raw)]
    for i, ring in enumerate(rings):
        _check_simple(ring, f"{where}, ring {i + 1}")
    shell = rings[0]
    for i, hole in enumerate(rings[1:], start=2):
        label = f"{where}, ring {i} (a hole)"
        if _rings_cross(shell, hole):
            raise BoundaryError(f"boundary: {label} crosses the outer ring")
        if not all(_inside(p, shell) for p in hole[:-1]):
            raise BoundaryError(f"boundary: {label} is not inside the outer ring")
    return rings


def _ring(raw: Any, where: str, bbox: tuple[float, float, float, float]) -> Ring:
    if not isinstance(raw, list):
        raise BoundaryError(f"boundary: {where} must be a list of positions")
    if len(raw) > MAX_POSITIONS:
        raise BoundaryError(f"boundary: {where} has more than {MAX_POSITIONS} positions")
    ring = [_position(p, f"{where}, position {j + 1}", bbox) for j, p in enumerate(raw)]
    if len(ring) < 4:
        raise BoundaryError(
            f"boundary: {where} has {len(ring)} positions; a ring needs at least 4 (3 corners and the first repeated)"
        )
    if ring[0] != ring[-1]:
        raise BoundaryError(f"boundary: {where} is not closed: its last position must repeat its first")
    if len(set(ring)) < 3:
        raise BoundaryError(f"boundary: {where} needs at least 3 distinct corners")
    return ring


def _position(raw: Any, where: str, bbox: tuple[float, float, float, float]) -> Position:
    if not isinstance(raw, list | tuple) or len(raw) not in (2, 3):
        raise BoundaryError(f"boundary: {where} must be [longitude, latitude]")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        raise BoundaryError(f"boundary: {where} must hold numbers, [longitude, latitude]")
    lon, lat = float(raw[0]), float(raw[1])
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BoundaryError(
            f"boundary: {where} has invalid coordinates [{raw[0]}, {raw[1]}]: "
            "longitude must be within -180..180 and latitude within -90..90"
        )
    west, south, east, north = bbox
    if not (west <= lon <= east and south <= lat <= north):
        raise BoundaryError(
            f"boundary: {where} [{lon}, {lat}] is outside Vietnam "
            f"(longitude {west}..{east}, latitude {south}..{north}); is it [longitude, latitude]?"
        )
    return lon, lat


def _orient(a: Position, b: Position, c: Position) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Position, b: Position, p: Position) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(a: Position, b: Position, c: Position, d: Position) -> bool:
    """Whether segments ab and cd share a point (touching and collinear overlap included)."""
    if max(a[0], b[0]) < min(c[0], d[0]) or max(c[0], d[0]) < min(a[0], b[0]):
        return False
    if max(a[1], b[1]) < min(c[1], d[1]) or max(c[1], d[1]) < min(a[1], b[1]):
        return False
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((o1 > 0 and o2 < 0) or (o1 < 0 and o2 > 0)) and ((o3 > 0 and o4 < 0) or (o3 < 0 and o4 > 0)):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def _edges(ring: Ring) -> list[tuple[Position, Position]]:
    """The ring's edges, repeated consecutive positions dropped."""
    points = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
    return list(itertools.pairwise(points))


def _check_simple(ring: Ring, where: str) -> None:
    edges = _edges(ring)
    n = len(edges)
    for i in range(n):
        a, b = edges[i]
        for j in range(i + 1, n):
            c, d = edges[j]
            if j == i + 1 or (i == 0 and j == n - 1):
                # Neighbours share one end; they may only fold back onto each other (a spike).
                shared, other_end, start = (b, d, a) if j == i + 1 else (a, c, b)
                if _orient(start, shared, other_end) == 0 and _dot(start, shared, other_end) > 0:
                    raise BoundaryError(f"boundary: {where} folds back on itself at [{shared[0]}, {shared[1]}]")
                continue
            if segments_intersect(a, b, c, d):
                raise BoundaryError(
                    f"boundary: {where} intersects itself (edge {i + 1} crosses edge {j + 1}); "
                    "a boundary must not cross or touch itself"
                )
    if abs(_planar_area(ring)) == 0:
        raise BoundaryError(f"boundary: {where} encloses no area")


def _dot(start: Position, shared: Position, other_end: Position) -> float:
    """Positive when the path start → shared → other_end turns fully back."""
    return (start[0] - shared[0]) * (other_end[0] - shared[0]) + (start[1] - shared[1]) * (other_end[1] - shared[1])


def _rings_cross(a: Ring, b: Ring) -> bool:
    return any(segments_intersect(p, q, r, s) for p, q in _edges(a) for r, s in _edges(b))


def _inside(point: Position, ring: Ring) -> bool:
    """Even-odd point in polygon test in plain (lon, lat)."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in _edges(ring):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _planar_area(ring: Ring) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in _edges(ring)) / 2


# Area


def _q(phi: float) -> float:
    s = math.sin(phi)
    return (1 - _E2) * (s / (1 - _E2 * s * s) - (1 / (2 * _E)) * math.log((1 - _E * s) / (1 + _E * s)))


_Q_POLE = _q(math.pi / 2)
#: The radius of the sphere with the WGS84 ellipsoid's surface area.
AUTHALIC_RADIUS = WGS84_A * math.sqrt(_Q_POLE / 2)


def _authalic_latitude(phi: float) -> float:
    return math.asin(max(-1.0, min(1.0, _q(phi) / _Q_POLE)))


def ring_square_metres(ring: Sequence[Position], radius: float = AUTHALIC_RADIUS, authalic: bool = True) -> float:
    """The unsigned area enclosed by a closed ring of (lon, lat) degrees, by spherical excess.

    Each edge with the pole makes a spherical triangle whose excess E is given by
    tan(E/2) = tan(Δλ/2)·(tan(φ1/2) + tan(φ2/2)) / (1 + tan(φ1/2)·tan(φ2/2)); the ring's excess is their sum.
    """
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(ring):
        p1, p2 = math.radians(lat1), math.radians(lat2)
        if authalic:
            p1, p2 = _authalic_latitude(p1), _authalic_latitude(p2)
        dlon = math.radians(lon2 - lon1)
        t1, t2 = math.tan(p1 / 2), math.tan(p2 / 2)
        total += 2 * math.atan2(math.tan(dlon / 2) * (t1 + t2), 1 + t1 * t2)
    return abs(total) * radius * radius


def square_metres(boundary: Boundary) -> float:
    return sum(
        ring_square_metres(polygon[0]) - sum(ring_square_metres(hole) for hole in polygon[1:])
        for polygon in boundary.polygons
    )


def hectares(boundary: Boundary) -> float:
    return square_metres(boundary) / 10_000


def declared_area_mismatch(declared: float | None, measured: float | None, tolerance: float = 0.20) -> bool:
    """Whether a declared area is more than `tolerance` (a fraction) off the measured one."""
    if declared is None or measured is None or measured <= 0:
        return False
    return abs(declared - measured) > tolerance * measured
