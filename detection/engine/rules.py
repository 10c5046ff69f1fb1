"""The rules. Each one reads a stamp's memory, its lot's route and the new scan, and returns a finding or None.
Pure functions; `engine.Engine` calls them in order and then updates the memory.

Severity follows what the consumer will be told: `critical` ("counterfeit") only on proof (a forged signature,
a revoked stamp or key, two physical instances no single fruit can explain: travel no aircraft could make even
with both location errors doubled); `warning` ("suspect") for what is likely but has innocent explanations
(gifts, households, VPNs, resale, dates recorded late). Timing and route inferences are never more than that.
"""

from __future__ import annotations

import math

from detection.engine.config import EngineConfig
from detection.engine.geo import EARTH_KM, distance_km
from detection.engine.model import Finding, FindingType, LotRoute, Scan, Scope, Severity, Sighting, StampMemory

_T = FindingType
_RAD = math.pi / 180
_TWO_R = 2 * EARTH_KM
_KM_PER_DEGREE = 111.2

# English and Vietnamese explanations, formatted with the numbers the rule measured.
TEXT: dict[str, tuple[str, str]] = {
    "duplicate": (
        "Checked by {n:g} independent devices or households (limit {limit:g}): more than one fruit may carry "
        "this stamp.",
        "Đã được {n:g} thiết bị hoặc hộ gia đình độc lập kiểm tra (giới hạn {limit:g}): có thể nhiều quả đang "
        "mang cùng một tem này.",
    ),
    "duplicate_info": (
        "Checked by {n:g} independent devices or households.",
        "Đã được {n:g} thiết bị hoặc hộ gia đình độc lập kiểm tra.",
    ),
    "travel": (
        "Scanned {km:.0f} km from an earlier scan within {duration_en}: {kmh:.0f} km/h even after allowing for "
        "location error, faster than {limit:.0f} km/h.",
        "Được quét cách lần quét trước {km:.0f} km trong vòng {duration_vi}: {kmh:.0f} km/h sau khi đã trừ sai "
        "số vị trí, nhanh hơn {limit:.0f} km/h.",
    ),
    "abroad": (
        "Scanned in {country}, which is not on this lot's route ({route}).",
        "Được quét tại {country}, không thuộc tuyến vận chuyển của lô hàng ({route}).",
    ),
    "abroad_info": (
        "Scanned from {country}, off this lot's route; a single such scan is usually a VPN.",
        "Được quét từ {country}, ngoài tuyến của lô hàng; một lượt quét đơn lẻ như vậy thường do dùng VPN.",
    ),
    "region": (
        "Scanned {km:.0f} km beyond the nearest place on this lot's route ({place}).",
        "Được quét cách điểm gần nhất trên tuyến của lô hàng ({place}) hơn {km:.0f} km.",
    ),
    "region_learned": (
        "Scanned off the declared route, at a place where many stamps of this lot were sold.",
        "Được quét ngoài tuyến khai báo, tại nơi nhiều tem của lô này đã được bán.",
    ),
    "region_carried": (
        "Scanned off the declared route after a consumer checked it on the route: carried there after purchase "
        "(a gift?).",
        "Được quét ngoài tuyến khai báo sau khi người tiêu dùng đã kiểm tra trên tuyến: có lẽ được mang đi sau khi "
        "mua (làm quà?).",
    ),
    "backflow": (
        "Scanned in {country} after it had been sold in a destination market.",
        "Được quét tại {country} sau khi đã được bán ở thị trường đích.",
    ),
    "early": (
        "Scanned {hours:.0f} h after the lot {since_en}, {km:.0f} km from where it was grown: by road it needs "
        "at least {need:.0f} h to get there.",
        "Được quét {hours:.0f} giờ sau khi lô hàng {since_vi}, cách vùng trồng {km:.0f} km: đi đường bộ lô hàng "
        "cần ít nhất {need:.0f} giờ để đến đó.",
    ),
    "early_note": (
        "Scanned at one of this lot's destinations sooner than the journey usually takes: its dates may have "
        "been recorded late.",
        "Được quét tại một điểm đến của lô hàng sớm hơn thời gian vận chuyển thường cần: ngày tháng của lô có "
        "thể đã được ghi muộn.",
    ),
    "not_activated": (
        "This serial was never activated on a lot.",
        "Số sê-ri này chưa từng được kích hoạt cho lô hàng nào.",
    ),
    "revoked": ("This stamp is revoked. Reason: {category_en}.", "Tem này đã bị thu hồi. Lý do: {category_vi}."),
    "shelf": (
        "Scanned {days:.0f} days after packing; this product keeps {shelf:g} days.",
        "Được quét sau {days:.0f} ngày kể từ khi đóng gói; sản phẩm này chỉ giữ được {shelf:g} ngày.",
    ),
    "reuse": (
        "A new device on a new network scanned it {days:.1f} days after the first consumer check: a fresh "
        "durian is eaten within days, so this stamp may be on another fruit.",
        "Một thiết bị mới trên một mạng mới quét tem {days:.1f} ngày sau lần kiểm tra đầu tiên của người tiêu "
        "dùng: sầu riêng tươi được ăn trong vài ngày, nên tem này có thể đang ở trên một quả khác.",
    ),
    "exported": (
        "Scanned in {country} {days:.1f} days after this lot could have crossed the border for export; export "
        "fruit is not sold here.",
        "Được quét tại {country} {days:.1f} ngày sau khi lô hàng có thể đã qua biên giới để xuất khẩu; hàng "
        "xuất khẩu không được bán ở đây.",
    ),
    "exported_info": (
        "Scanned in {country}, where this export lot is not sold.",
        "Được quét tại {country}, nơi lô hàng xuất khẩu này không được bán.",
    ),
    "pin_reused": (
        "This scratch-off PIN was already confirmed on another device.",
        "Mã cào này đã được xác nhận trên một thiết bị khác.",
    ),
    "pin_guessing": (
        "{n} wrong PINs were entered for this stamp.",
        "Đã nhập sai mã cào {n} lần cho tem này.",
    ),
    "forged": (
        "The signature is not valid: Tem never issued this stamp.",
        "Chữ ký không hợp lệ: hệ thống Tem chưa từng phát hành tem này.",
    ),
    "forged_burst": (
        "{n} forged scans from one network within {minutes:g} minutes.",
        "{n} lượt quét tem giả từ cùng một mạng trong vòng {minutes:g} phút.",
    ),
    "lot": (
        "{flagged} of {scanned} scanned stamps of lot {lot} have findings ({share:.0%}).",
        "{flagged} trên {scanned} tem đã quét của lô {lot} có cảnh báo ({share:.0%}).",
    ),
    "house": (
        "Packing house {house}: {flagged} of {scanned} scanned stamps have findings ({share:.0%}); "
        "{not_activated} scans of its never-activated serials.",
        "Cơ sở đóng gói {house}: {flagged} trên {scanned} tem đã quét có cảnh báo ({share:.0%}); "
        "{not_activated} lượt quét số sê-ri chưa kích hoạt của cơ sở.",
    ),
}


def duration(hours: float) -> tuple[str, str]:
    """A short span in English and Vietnamese: minutes under an hour ("3 min", "3 phút", never "0.0 h"), else
    hours to one decimal, the Vietnamese with its decimal comma ("1,5 giờ")."""
    if hours < 1:
        minutes = max(1, round(hours * 60))
        return f"{minutes} min", f"{minutes} phút"
    text = f"{hours:.1f}"
    return f"{text} h", f"{text.replace('.', ',')} giờ"


def finding(
    kind: FindingType,
    severity: Severity,
    evidence: tuple[str, ...],
    text: str,
    scope: Scope = Scope.STAMP,
    subject: str | None = None,
    **values: object,
) -> Finding:
    en, vi = TEXT[text]
    return Finding(kind, severity, evidence, en.format(**values), vi.format(**values), scope, subject, text)


# Lifecycle: the registry's word


def revoked(scan: Scan, category: str | None) -> Finding:
    """Explained by the revocation's category (`detection.ports.RevocationCategory`), in the words of the consumer
    pages (`resolver/i18n.py`). Never the packing house's own reason: anything but a known category reads as
    "other"."""
    labels = {
        "withdrawn": ("Withdrawn by the packing house", "Đã được cơ sở đóng gói thu hồi"),
        "stolen": ("Reported stolen or lost", "Đã được báo mất hoặc bị đánh cắp"),
        "recalled": ("Recalled for safety or quality", "Bị thu hồi vì lý do an toàn hoặc chất lượng"),
        "misprinted": ("Printed in error", "Tem bị in lỗi"),
        "key_withdrawn": ("The key that signed it was withdrawn", "Khóa ký của tem đã bị thu hồi"),
    }
    en, vi = labels.get(category or "", ("Other", "Khác"))
    return finding(_T.REVOKED, Severity.CRITICAL, (scan.scan_id,), "revoked", category_en=en, category_vi=vi)


def not_activated(scan: Scan) -> Finding:
    return finding(_T.NOT_ACTIVATED, Severity.WARNING, (scan.scan_id,), "not_activated")


def forged(scan: Scan) -> Finding:
    return finding(_T.FORGED, Severity.CRITICAL, (scan.scan_id,), "forged")


def past_shelf_life(cfg: EngineConfig, route: LotRoute, scan: Scan, sold_by: float) -> Finding | None:
    """Well after the lot's last fruit can have been sold (`sold_by`: its shelf life from packing, or a few
    days after it reached its market when that was later) and eaten."""
    if scan.ts - sold_by <= cfg.lifecycle.shelf_life_grace_days * 86400:
        return None
    days = (scan.ts - route.activated_at) / 86400
    return finding(
        _T.PAST_SHELF_LIFE, Severity.WARNING, (scan.scan_id,), "shelf", days=days, shelf=route.shelf_life_days
    )


def reuse(cfg: EngineConfig, mem: StampMemory, scan: Scan) -> Finding | None:
    """Called for a consumer's new, independent sighting (a new phone on a new network). A fruit is eaten
    within days of its first consumer check, and its household and guests scan it by then."""
    if not mem.first_consumer_ts:
        return None
    days = (scan.ts - mem.first_consumer_ts) / 86400
    if days <= cfg.lifecycle.reuse_gap_days:
        return None
    evidence = (*(s.scan_id for s in mem.sightings[:1]), scan.scan_id)
    return finding(_T.REUSE_AFTER_CONSUMPTION, Severity.WARNING, evidence, "reuse", days=days)


# History: the same stamp seen by several independent devices


def duplicate(cfg: EngineConfig, mem: StampMemory, scan: Scan) -> Finding | None:
    n = mem.independent
    d = cfg.duplicate
    if n >= d.warning_devices:
        severity, text = Severity.WARNING, "duplicate"
    elif n >= d.info_devices:
        severity, text = Severity.INFO, "duplicate_info"
    else:
        return None
    evidence = tuple(dict.fromkeys([*(s.scan_id for s in mem.sightings), scan.scan_id]))
    return finding(_T.DUPLICATE, severity, evidence, text, n=round(n, 2), limit=d.warning_devices)


def travel(
    cfg: EngineConfig,
    sightings: list[Sighting],
    skip: Sighting | None,
    scan: Scan,
    accuracy: float,
    in_route: bool,
) -> Finding | None:
    """The fastest pair between this scan and the stamp's other sightings. Only places in the route's countries
    count: a VPN exit abroad is the off-route rule's business, and would otherwise look like a teleport."""
    lat, lon = scan.lat, scan.lon
    if lat is None or lon is None or not in_route:
        return None
    t = cfg.travel
    best: tuple[float, float, float, Sighting] | None = None  # (speed, km, hours, sighting)
    severity = None
    for s in sightings:
        if s is skip or s.lat is None or s.lon is None or not s.in_route:
            continue
        if s.first_ts <= scan.ts <= s.last_ts:
            gap = 0.0
        else:
            gap = min(abs(scan.ts - s.first_ts), abs(scan.ts - s.last_ts)) / 3600
        hours = max(gap, t.min_hours)
        km = distance_km(lat, lon, s.lat, s.lon)
        radii = accuracy + s.accuracy_km
        warn_km = km - t.warning_radius_factor * radii
        if warn_km <= 0 or warn_km / hours <= t.warning_kmh:
            continue
        crit_km = km - t.critical_radius_factor * radii
        level = (
            Severity.CRITICAL if crit_km >= t.critical_min_km and crit_km / hours > t.critical_kmh else Severity.WARNING
        )
        speed = warn_km / hours
        if severity is None or level > severity or (level == severity and best is not None and speed > best[0]):
            severity, best = level, (speed, km, gap, s)
    if best is None or severity is None:
        return None
    speed, km, gap, s = best
    limit = t.critical_kmh if severity is Severity.CRITICAL else t.warning_kmh
    duration_en, duration_vi = duration(gap)
    return finding(
        _T.IMPOSSIBLE_TRAVEL,
        severity,
        (s.scan_id, scan.scan_id),
        "travel",
        km=km,
        kmh=speed,
        limit=limit,
        duration_en=duration_en,
        duration_vi=duration_vi,
    )


# Route: where and when a genuine lot can be


def on_road_since(route: LotRoute) -> float:
    """When the lot's journey is counted from: its earliest recorded stage, or else its activation."""
    if route.departed_at:
        return min(route.departed_at, route.activated_at)
    return route.activated_at


def too_early(cfg: EngineConfig, route: LotRoute, scan: Scan, accuracy: float) -> Finding | None:
    """Somewhere the lot is unlikely to have reached yet by road, inside the route's countries (a VPN exit
    abroad proves nothing). Never more than a warning: dates are recorded late, and fruit can be flown."""
    lat, lon = scan.lat, scan.lon
    if lat is None or lon is None or scan.country not in route.countries:
        return None  # abroad is `abroad`'s business: VPN exits would all look early
    o = cfg.off_route
    hours = (scan.ts - on_road_since(route)) / 3600
    # Cheap bound first: the great-circle distance is at most the sum of the degree differences times 111.2 km.
    bound = _KM_PER_DEGREE * (abs(lat - route.origin_lat) + abs(lon - route.origin_lon))
    if hours >= bound / o.truck_kmh + o.min_border_hours:
        return None
    km = distance_km(route.origin_lat, route.origin_lon, lat, lon)
    crossed = scan.country != route.origin_country
    truck_km = km - o.radius_factor * accuracy
    need_truck = truck_km / o.truck_kmh + (o.min_border_hours if crossed else 0.0)
    if truck_km <= 0 or hours >= need_truck:
        return None
    since_en, since_vi = ("left", "xuất phát") if route.departed_at else ("was activated", "được kích hoạt")
    return finding(
        _T.OFF_ROUTE,
        Severity.WARNING,
        (scan.scan_id,),
        "early",
        hours=max(hours, 0.0),
        km=km,
        need=need_truck,
        since_en=since_en,
        since_vi=since_vi,
    )


def early_note(scan: Scan) -> Finding:
    """`too_early` for a consumer's first look at the fruit in one of the lot's own destinations: the likeliest
    story is a date recorded late, so the fruit stays genuine, with a note."""
    return finding(_T.OFF_ROUTE, Severity.INFO, (scan.scan_id,), "early_note")


def region_gap(cfg: EngineConfig, route: LotRoute, lat: float, lon: float, accuracy: float) -> tuple[float, str]:
    """How far beyond the nearest declared place (cities, hubs, gates) a location is, after its radius. Stops
    at the first place that covers it: that is the common case, and this runs for most consumer scans."""
    o = cfg.off_route
    widen = o.radius_factor * accuracy
    default = o.waypoint_radius_km
    p1 = lat * _RAD
    lam = lon * _RAD
    cos1 = math.cos(p1)
    best, name = math.inf, ""
    for wp_name, p2, lam2, cos2, radius in route.geo:
        reach = (default if radius is None else radius) + widen
        # Equirectangular first: no trigonometry, and within 2% of the true distance at these scales.
        dy, dx = p2 - p1, (lam2 - lam) * cos2
        if (dy * dy + dx * dx) * EARTH_KM * EARTH_KM < (0.98 * reach) ** 2:
            return -1.0, wp_name
        a = math.sin((p2 - p1) * 0.5) ** 2 + cos1 * cos2 * math.sin((lam2 - lam) * 0.5) ** 2
        gap = _TWO_R * math.asin(min(1.0, math.sqrt(a))) - reach
        if gap <= 0:
            return gap, wp_name
        if gap < best:
            best, name = gap, wp_name
    return best, name


def abroad(
    cfg: EngineConfig, route: LotRoute, mem: StampMemory, scan: Scan, accuracy: float, new_sighting: bool
) -> Finding:
    """A consumer scan outside every country on the route. One such scan is most often a VPN exit, so it is only
    info; the phone's GPS, or several independent devices abroad, make it a warning. Never more: fruit is
    carried abroad as a gift, and a route says where a lot was sent, not where each fruit ends up."""
    o = cfg.off_route
    abroad_sightings = sum(1 for s in mem.sightings if not s.in_route) + (1 if new_sighting else 0)
    precise = scan.lat is not None and accuracy <= o.precise_km
    if not precise and abroad_sightings < o.abroad_sightings:
        return finding(_T.OFF_ROUTE, Severity.INFO, (scan.scan_id,), "abroad_info", country=scan.country or "?")
    evidence = tuple(dict.fromkeys([*(s.scan_id for s in mem.sightings if not s.in_route), scan.scan_id]))
    return finding(
        _T.OFF_ROUTE, Severity.WARNING, evidence, "abroad", country=scan.country or "?", route=route.describe()
    )


def crossing_due(cfg: EngineConfig, route: LotRoute) -> float:
    """The earliest the lot can have crossed its nearest border gate (Unix seconds), or 0 when it declared none."""
    o = cfg.off_route
    km = min(
        (
            distance_km(route.origin_lat, route.origin_lon, g.lat, g.lon)
            for g in route.gates
            if g.country == route.origin_country
        ),
        default=0.0,
    )
    if not km:
        return 0.0
    return on_road_since(route) + (km / o.truck_kmh + o.min_border_hours) * 3600


def near_gate(cfg: EngineConfig, route: LotRoute, lat: float, lon: float, accuracy: float) -> bool:
    """Within a border gate's radius (declared, else the default), widened by the scan's accuracy as the
    region check widens it."""
    o = cfg.off_route
    widen = o.radius_factor * accuracy
    return any(
        distance_km(lat, lon, g.lat, g.lon) <= (o.waypoint_radius_km if g.radius_km is None else g.radius_km) + widen
        for g in route.gates
    )


def exported(cfg: EngineConfig, route: LotRoute, scan: Scan, learned: bool) -> Finding | None:
    """A scan in the origin country of a lot sent only abroad, once the lot can have crossed the border: its fruit
    is not on sale there. A warning, never proof: a lot turned back at the border is sold at home (the lot's
    learned places, `learned`, then make it a note)."""
    due = crossing_due(cfg, route)
    if not due:
        return None
    country = scan.country or route.origin_country
    if learned or scan.ts <= due:
        return finding(_T.OFF_ROUTE, Severity.INFO, (scan.scan_id,), "exported_info", country=country)
    days = (scan.ts - due) / 86400
    return finding(_T.OFF_ROUTE, Severity.WARNING, (scan.scan_id,), "exported", country=country, days=days)


def backflow(route: LotRoute, mem: StampMemory, scan: Scan) -> Finding | None:
    """Export fruit does not come back: a consumer in the origin country after one in a destination market."""
    if not mem.market_ts or scan.ts <= mem.market_ts or route.origin_country in route.markets:
        return None
    first_market = next((s.scan_id for s in mem.sightings if s.country in route.markets), None)
    evidence = (first_market, scan.scan_id) if first_market else (scan.scan_id,)
    return finding(_T.OFF_ROUTE, Severity.WARNING, evidence, "backflow", country=scan.country)


# Scratch-off PIN


def pin_reused(event_id: str, mem: StampMemory) -> Finding:
    """A warning, not proof: a second phone of the household that bought the fruit confirms the same PIN."""
    evidence = (mem.pin_event, event_id) if mem.pin_event else (event_id,)
    return finding(_T.PIN_REUSED, Severity.WARNING, evidence, "pin_reused")


def pin_guessing(cfg: EngineConfig, event_id: str, mem: StampMemory) -> Finding | None:
    if mem.pin_wrong < cfg.pin.max_wrong:
        return None
    return finding(_T.PIN_GUESSING, Severity.WARNING, (event_id,), "pin_guessing", n=mem.pin_wrong)
