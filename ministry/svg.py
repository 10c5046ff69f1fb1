"""Inline SVG drawn on the server: the alerts-per-day chart and the scan map. No script, no tiles, no
third-party asset. Returns plain data for the template (coordinates, labels); Jinja escapes the text."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

# A coarse outline of Vietnam (lon, lat), drawn by hand from the border and coast: enough to place a scan.
VIETNAM_OUTLINE = [
    (102.14, 22.40), (103.00, 22.60), (104.10, 22.80), (105.30, 23.35), (106.70, 22.90), (106.70, 22.00),
    (107.97, 21.54), (107.00, 20.90), (106.60, 20.20), (105.90, 19.30), (105.60, 18.90), (106.40, 18.00),
    (107.10, 17.00), (108.20, 16.10), (108.80, 15.40), (109.20, 13.80), (109.45, 12.70), (109.20, 11.60),
    (108.10, 10.90), (107.10, 10.35), (106.50, 9.60), (105.80, 8.90), (104.75, 8.60), (104.90, 9.80),
    (104.45, 10.40), (105.10, 10.95), (106.10, 11.70), (107.50, 12.30), (107.60, 14.20), (107.50, 14.70),
    (107.20, 16.00), (106.60, 16.50), (106.00, 17.30), (105.20, 18.20), (104.50, 18.80), (104.00, 19.30),
    (104.40, 19.70), (103.90, 20.10), (103.20, 20.60), (102.70, 21.00), (102.20, 21.40), (101.90, 22.30),
]  # fmt: skip
# China's southern and eastern coast, from the Vietnamese border to Shanghai, and Hainan.
CHINA_COAST = [
    (107.97, 21.54), (108.60, 21.70), (109.10, 21.50), (109.80, 21.45), (110.40, 21.20), (110.20, 20.30),
    (110.60, 20.50), (111.00, 21.50), (112.50, 21.80), (113.60, 22.20), (114.20, 22.30), (115.50, 22.80),
    (116.70, 23.40), (118.10, 24.50), (119.60, 26.00), (120.70, 28.00), (121.60, 29.90), (121.90, 31.20),
]  # fmt: skip
HAINAN = [
    (108.60, 19.20),
    (109.50, 20.05),
    (110.60, 20.10),
    (111.00, 19.60),
    (110.50, 18.70),
    (109.60, 18.20),
    (108.70, 18.50),
]
REFERENCE_CITIES = [
    ("Hà Nội", 105.85, 21.03),
    ("TP Hồ Chí Minh", 106.70, 10.78),
    ("Đà Nẵng", 108.22, 16.05),
    ("Cần Thơ", 105.78, 10.03),
    ("Buôn Ma Thuột", 108.04, 12.67),
    ("Lạng Sơn", 106.76, 21.85),
    ("Nanning", 108.32, 22.82),
    ("Kunming", 102.71, 25.04),
    ("Guangzhou", 113.26, 23.13),
    ("Xiamen", 118.09, 24.48),
    ("Shanghai", 121.47, 31.23),
    ("Chengdu", 104.07, 30.57),
    ("Wuhan", 114.30, 30.59),
    ("Beijing", 116.40, 39.90),
    ("Bangkok", 100.50, 13.75),
    ("Singapore", 103.82, 1.35),
    ("Hong Kong", 114.17, 22.32),
]
KM_PER_DEGREE = 111.2


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


def day_bars(per_day: list[tuple[dt.date, int]], width: float = 720, height: float = 160) -> dict[str, Any]:
    """Bars for alerts per day, with a y axis at the maximum and x labels spaced to stay readable."""
    peak = max((n for _day, n in per_day), default=0)
    count = max(1, len(per_day))
    step = width / count
    bars = [
        Bar(
            i * step + step * 0.1,
            height - (n / peak * height if peak else 0),
            step * 0.8,
            n / peak * height if peak else 0,
            day.isoformat(),
            n,
        )
        for i, (day, n) in enumerate(per_day)
    ]
    every = max(1, math.ceil(count / 8))
    ticks = [(i * step + step / 2, day.strftime("%d/%m")) for i, (day, _n) in enumerate(per_day) if i % every == 0]
    return {"bars": bars, "ticks": ticks, "peak": peak, "width": width, "height": height}


@dataclass(frozen=True, slots=True)
class Frame:
    """An equirectangular view: longitude scaled by the cosine of the middle latitude, so shapes keep their look."""

    west: float
    east: float
    south: float
    north: float
    width: float

    @property
    def scale(self) -> float:  # pixels per degree of latitude
        return self.width / ((self.east - self.west) * self.kx)

    @property
    def kx(self) -> float:
        return math.cos(math.radians((self.north + self.south) / 2))

    @property
    def height(self) -> float:
        return (self.north - self.south) * self.scale

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (round((lon - self.west) * self.kx * self.scale, 1), round((self.north - lat) * self.scale, 1))


def _frame(points: list[tuple[float, float]], width: float) -> Frame:
    """Vietnam and southern China at least; wider when a scan lies further away (a VPN exit abroad)."""
    west, east, south, north = 100.0, 118.0, 8.0, 27.0
    for lon, lat in points:
        west, east = min(west, lon - 2), max(east, lon + 2)
        south, north = min(south, lat - 2), max(north, lat + 2)
    return Frame(max(-180.0, west), min(180.0, east), max(-85.0, south), min(85.0, north), width)


def scan_map(scans: list[dict[str, Any]], width: float = 720) -> dict[str, Any]:
    """Outline, graticule, reference cities and numbered scan points with accuracy circles."""
    located = [s for s in scans if s.get("latitude") is not None and s.get("longitude") is not None]
    frame = _frame([(float(s["longitude"]), float(s["latitude"])) for s in located], width)

    def path(points: list[tuple[float, float]], close: bool) -> str:
        coords = " ".join(f"{x},{y}" for x, y in (frame.xy(lon, lat) for lon, lat in points))
        return f"M{coords}{' Z' if close else ''}"

    step = 5 if frame.east - frame.west <= 40 else 20
    meridians = [
        (frame.xy(lon, frame.north)[0], f"{lon:g}°E" if lon >= 0 else f"{-lon:g}°W")
        for lon in range(math.ceil(frame.west / step) * step, math.floor(frame.east) + 1, step)
    ]
    parallels = [
        (frame.xy(frame.west, lat)[1], f"{lat:g}°N" if lat >= 0 else f"{-lat:g}°S")
        for lat in range(math.ceil(frame.south / step) * step, math.floor(frame.north) + 1, step)
    ]
    cities = []
    for name, lon, lat in REFERENCE_CITIES:
        if frame.west <= lon <= frame.east and frame.south <= lat <= frame.north:
            x, y = frame.xy(lon, lat)
            cities.append({"name": name, "x": x, "y": y})
    points = []
    for number, scan in enumerate(scans, start=1):
        if scan.get("latitude") is None or scan.get("longitude") is None:
            continue
        x, y = frame.xy(float(scan["longitude"]), float(scan["latitude"]))
        radius = float(scan.get("accuracy_km") or 0) / KM_PER_DEGREE * frame.scale
        points.append({"n": number, "x": x, "y": y, "r": round(max(radius, 0.0), 1), "verdict": scan.get("verdict")})
    return {
        "width": width,
        "height": round(frame.height, 1),
        "vietnam": path(VIETNAM_OUTLINE, True),
        "china": path(CHINA_COAST, False),
        "hainan": path(HAINAN, True),
        "meridians": meridians,
        "parallels": parallels,
        "cities": cities,
        "points": points,
    }


#: The fill of a growing area on the ministry's map, by its status (the legend uses the same).
AREA_COLOURS = {"active": "#2e7d32", "suspended": "#ef6c00", "revoked": "#c62828"}


def _rings(geometry: dict[str, Any]) -> list[list[tuple[float, float]]]:
    coordinates = geometry.get("coordinates") or []
    polygons = coordinates if geometry.get("type") == "MultiPolygon" else [coordinates]
    return [[(float(p[0]), float(p[1])) for p in ring] for polygon in polygons for ring in polygon]


def area_map(areas: list[dict[str, Any]], width: float = 720) -> dict[str, Any]:
    """Growing areas drawn from their boundaries (an area with only a point is a dot), on an equirectangular view
    of their bounding box, each filled by its status. `areas`: dicts with code, province, status, boundary
    (GeoJSON or None), latitude and longitude. One shape per area, holes cut out by the even-odd rule."""
    shaped = [(a, _rings(a["boundary"]) if a.get("boundary") else []) for a in areas]
    shaped = [
        (a, rings) for a, rings in shaped if rings or (a.get("latitude") is not None and a.get("longitude") is not None)
    ]
    points = [
        p for a, rings in shaped for p in ([q for ring in rings for q in ring] or [(a["longitude"], a["latitude"])])
    ]
    if not points:
        return {"width": width, "height": 0, "shapes": [], "colours": AREA_COLOURS}
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    margin = max(0.005, (east - west) * 0.05, (north - south) * 0.05)
    frame = Frame(west - margin, east + margin, south - margin, north + margin, width)
    shapes = []
    for area, rings in shaped:
        base = {
            "code": area["code"],
            "province": area.get("province"),
            "status": area.get("status") or "active",
            "colour": AREA_COLOURS.get(area.get("status") or "active", "#757575"),
        }
        if rings:
            d = " ".join(
                "M" + " ".join(f"{x},{y}" for x, y in (frame.xy(lon, lat) for lon, lat in ring)) + " Z"
                for ring in rings
            )
            shapes.append({**base, "d": d})
        else:
            x, y = frame.xy(float(area["longitude"]), float(area["latitude"]))
            shapes.append({**base, "x": x, "y": y})
    return {"width": width, "height": round(frame.height, 1), "shapes": shapes, "colours": AREA_COLOURS}
