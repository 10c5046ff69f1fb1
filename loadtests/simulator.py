"""A seeded simulator of the durian export chain: the JSON-lines events `tem replay` reads, and ground truth.

Lots of about 6,000 fruit leave Mekong Delta and Central Highlands packing houses, cross into China at Hữu
Nghị/Tân Thanh, Kim Thành or Móng Cái (long-tailed border queues of up to 10 days), pass through Nanning,
Guangzhou or Kunming and are sold in their declared city (10% of lots are resold elsewhere). Consumers scan a
share of the stamps, with repeat scans, households of several phones, gifts carried by train or plane, VPN
exits abroad, IP location errors (~190 km mobile, ~10 km fixed line) and GPS for a minority; distributors and
inspectors scan on the way. Attacks: photocopied stamps sold in the same city, another city or Vietnam; tags
reused from discarded boxes weeks later; stolen never-activated rolls; fruit of a revoked lot; guessed serials;
cautious attackers making at most two copies in one city.

    python -m loadtests.simulator --seed 1 --lots 200 --scan-rate 0.05 --out events.jsonl --labels truth.jsonl

The same seed and parameters always give byte-identical files. Every scan and PIN event has an `id`; the labels
file has one line per such id: {"id", "truth": "genuine"|"fake"|"banned", "attack", "kind", "key",
"instance", "off_route"}, where `instance` 0 is the genuine fruit and 1.. are fakes carrying the same serial.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class City:
    name: str
    lat: float
    lon: float
    country: str
    weight: float = 1.0


# Packing houses: (code, province, lat, lon). Mekong Delta first, then Central Highlands.
PACKING_HOUSES = [
    ("PH-DT-001", "Đồng Tháp (Tiền Giang)", 10.40, 106.03),
    ("PH-DT-002", "Đồng Tháp (Cai Lậy)", 10.41, 106.12),
    ("PH-VL-001", "Vĩnh Long (Bến Tre)", 10.24, 106.37),
    ("PH-CT-001", "Cần Thơ", 10.03, 105.78),
    ("PH-DL-001", "Đắk Lắk (Krông Pắc)", 12.70, 108.30),
    ("PH-DL-002", "Đắk Lắk (Buôn Ma Thuột)", 12.67, 108.04),
    ("PH-LD-001", "Lâm Đồng (Bảo Lộc)", 11.55, 107.80),
    ("PH-GL-001", "Gia Lai", 13.98, 108.00),
]
# Border gates: the Vietnamese side and the Chinese side, the hubs they lead to, and their share of trucks.
GATES = [
    (City("Hữu Nghị/Tân Thanh", 21.90, 106.68, "VN"), City("Pingxiang", 22.10, 106.75, "CN"), 0.55),
    (City("Kim Thành", 22.50, 103.96, "VN"), City("Hekou", 22.51, 103.95, "CN"), 0.2),
    (City("Móng Cái", 21.53, 107.97, "VN"), City("Dongxing", 21.55, 107.98, "CN"), 0.25),
]
HUBS = {
    "Hữu Nghị/Tân Thanh": [City("Nanning", 22.82, 108.32, "CN", 0.6), City("Guangzhou", 23.13, 113.26, "CN", 0.4)],
    "Kim Thành": [City("Kunming", 25.04, 102.71, "CN")],
    "Móng Cái": [City("Nanning", 22.82, 108.32, "CN", 0.4), City("Guangzhou", 23.13, 113.26, "CN", 0.6)],
}
CN_CITIES = [
    City("Shanghai", 31.23, 121.47, "CN", 3),
    City("Beijing", 39.90, 116.40, "CN", 3),
    City("Guangzhou", 23.13, 113.26, "CN", 2),
    City("Shenzhen", 22.54, 114.06, "CN", 2),
    City("Hangzhou", 30.27, 120.15, "CN", 1.5),
    City("Chengdu", 30.57, 104.07, "CN", 1.5),
    City("Chongqing", 29.56, 106.55, "CN", 1.5),
    City("Wuhan", 30.59, 114.30, "CN", 1),
    City("Nanjing", 32.06, 118.80, "CN", 1),
    City("Xi'an", 34.34, 108.94, "CN", 1),
    City("Changsha", 28.23, 112.94, "CN", 1),
    City("Zhengzhou", 34.75, 113.63, "CN", 1),
    City("Xiamen", 24.48, 118.09, "CN", 0.7),
    City("Qingdao", 36.07, 120.38, "CN", 0.7),
    City("Tianjin", 39.34, 117.36, "CN", 0.7),
    City("Kunming", 25.04, 102.71, "CN", 0.7),
    City("Nanning", 22.82, 108.32, "CN", 0.7),
    City("Harbin", 45.80, 126.53, "CN", 0.5),
    City("Shenyang", 41.80, 123.43, "CN", 0.5),
]
VN_CITIES = [
    City("Hà Nội", 21.03, 105.85, "VN", 3),
    City("TP Hồ Chí Minh", 10.78, 106.70, "VN", 3),
    City("Đà Nẵng", 16.05, 108.22, "VN", 1),
    City("Hải Phòng", 20.86, 106.68, "VN", 1),
]
VPN_EXITS = [
    City("Singapore", 1.35, 103.82, "SG", 3),
    City("Hong Kong", 22.32, 114.17, "HK", 3),
    City("Tokyo", 35.68, 139.69, "JP", 2),
    City("Los Angeles", 34.05, -118.24, "US", 2),
    City("Seoul", 37.57, 126.98, "KR", 1),
    City("Taipei", 25.03, 121.56, "TW", 1),
    City("Frankfurt", 50.11, 8.68, "DE", 1),
]
GTIN_BASE = 8935000000000  # + packing house index, then a GS1 check digit

ATTACK_KINDS = (
    "photocopy_same_city",
    "photocopy_other_city",
    "photocopy_vietnam",
    "cautious",
    "reuse_discarded",
    "stolen_roll",
    "revoked_lot",
    "guessed_serials",
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 1
    lots: int = 200
    consumer_scan_rate: float = 0.05  # share of stamps (genuine or fake) that a consumer scans
    vpn_share: float = 0.05  # users behind a VPN exit abroad
    resale_share: float = 0.10  # lots resold outside their declared city
    fruit_per_lot: int = 6000
    season_days: float = 60.0
    start: str = "2026-06-01T00:00:00+00:00"
    household_share: float = 0.20  # scanned fruit a second phone of the household also scans
    gift_share: float = 0.04  # scanned fruit carried to another city as a gift
    gps_share: float = 0.10  # users who share their phone's position
    wifi_share: float = 0.45  # scans made on a home or office fixed line
    pin_lot_share: float = 0.30  # lots whose stamps carry a scratch-off PIN
    revoked_lot_share: float = 0.02
    attack_scale: float = 1.0  # attack campaigns per kind, per 10 lots


@dataclass(slots=True)
class Lot:
    code: str
    house: str
    province: str
    origin: City
    gtin: str
    first: int
    last: int
    activated: float
    shelf_days: float
    gate: City
    gate_cn: City
    hub: City
    city: City
    arrive_city: float
    pin: bool
    resale: City | None = None
    revoked_at: float | None = None


@dataclass(slots=True)
class User:
    device: str
    home_net: str
    vpn: City | None
    gps: bool


@dataclass
class Simulation:
    config: SimConfig
    events: list[dict[str, Any]]
    labels: dict[str, dict[str, Any]]
    lots: list[Lot] = field(default_factory=list)

    def write(self, events_path: Path, labels_path: Path | None) -> None:
        with events_path.open("w", encoding="utf-8") as out:
            for event in self.events:
                out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
        if labels_path is not None:
            with labels_path.open("w", encoding="utf-8") as out:
                for event in self.events:
                    label = self.labels.get(event.get("id", ""))
                    if label is not None:
                        out.write(json.dumps(label, ensure_ascii=False, separators=(",", ":")))
                        out.write("\n")


def _gtin(index: int) -> str:
    body = f"{GTIN_BASE + index:013d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return f"{body}{(10 - total % 10) % 10}"


def _km(a: City, b: City) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    def __init__(self, config: SimConfig) -> None:
        self.c = config
        self.rng = random.Random(config.seed)
        self.start = dt.datetime.fromisoformat(config.start).timestamp()
        self.events: list[tuple[float, int, dict[str, Any]]] = []
        self.labels: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.lots: list[Lot] = []
        self.next_serial: dict[str, int] = {}
        self.taken: set[tuple[str, int]] = set()  # serials already simulated: by the genuine flow or an attack
        # Carrier-grade NAT: strangers in one city share a mobile /24 now and then.
        self.mobile_pool = 3000
        # Streaming keeps no ground truth: no labels, and attacks may copy a stamp the genuine flow scanned.
        self.streaming = False

    # Primitives

    def pick(self, cities: list[City], exclude: tuple[str, ...] = ()) -> City:
        choices = [c for c in cities if c.name not in exclude]
        return self.rng.choices(choices, weights=[c.weight for c in choices])[0]

    def ident(self, prefix: str) -> str:
        return f"{prefix}{self.rng.getrandbits(48):012x}"

    def emit(self, ts: float, event: dict[str, Any], label: dict[str, Any] | None = None) -> None:
        self.seq += 1
        if label is not None:
            event["id"] = f"e{self.seq}"
            if not self.streaming:
                self.labels[event["id"]] = {"id": event["id"], **label}
        self.events.append((ts, self.seq, {"ts": _iso(ts), **event}))

    def user(self) -> User:
        rng = self.rng
        vpn = self.pick(VPN_EXITS) if rng.random() < self.c.vpn_share else None
        return User(self.ident("d"), self.ident("n"), vpn, rng.random() < self.c.gps_share)

    def where(self, user: User, place: City, at_home: bool) -> dict[str, Any]:
        """Where the resolver would say the scan was: VPN exit, GPS, fixed-line or mobile IP location."""
        rng = self.rng
        if user.vpn is not None and rng.random() < 0.85:
            exit_ = user.vpn
            lat, lon = self.jitter(exit_.lat, exit_.lon, rng.uniform(0, 15))
            return {"lat": lat, "lon": lon, "accuracy_km": 20, "country": exit_.country, "network": f"vpn-{exit_.name}"}
        if user.gps and rng.random() < 0.8:
            lat, lon = self.jitter(place.lat, place.lon, rng.uniform(0, 25))  # anywhere in the metro area
            network = user.home_net if at_home else f"m-{place.name}-{rng.randrange(self.mobile_pool)}"
            return {"lat": lat, "lon": lon, "accuracy_km": 0.05, "country": place.country, "network": network}
        if at_home:
            lat, lon = self.jitter(place.lat, place.lon, abs(rng.gauss(0, 12)))
            return {"lat": lat, "lon": lon, "accuracy_km": 10, "country": place.country, "network": user.home_net}
        # Mobile: the carrier's gateway, ~190 km away on average (Rayleigh), sometimes much further.
        error = rng.weibullvariate(151.6, 2.0)
        lat, lon = self.jitter(place.lat, place.lon, error)
        return {
            "lat": lat,
            "lon": lon,
            "accuracy_km": 200,
            "country": place.country,
            "network": f"m-{place.name}-{rng.randrange(self.mobile_pool)}",
        }

    def jitter(self, lat: float, lon: float, km: float) -> tuple[float, float]:
        angle = self.rng.uniform(0, 2 * math.pi)
        dlat = km * math.cos(angle) / 111.2
        dlon = km * math.sin(angle) / (111.2 * max(0.2, math.cos(math.radians(lat))))
        return round(lat + dlat, 4), round(max(-180.0, min(180.0, lon + dlon)), 4)

    def scan(
        self,
        ts: float,
        lot_gtin: str,
        serial: int,
        user: User,
        place: City,
        label: dict[str, Any],
        role: str = "consumer",
        at_home: bool | None = None,
        sig_valid: bool = True,
        loc: dict[str, Any] | None = None,
    ) -> None:
        home = self.rng.random() < self.c.wifi_share if at_home is None else at_home
        location = loc if loc is not None else self.where(user, place, home)
        event = {
            "type": "scan",
            "gtin": lot_gtin,
            "serial": str(serial),
            "sig_valid": sig_valid,
            **location,
            "device": user.device,
            "role": role,
        }
        if self.rng.random() < 0.03:  # some IP addresses have no coordinates, only a country
            for key in ("lat", "lon", "accuracy_km"):
                event.pop(key, None)
        self.emit(ts, event, label)

    def pin(self, ts: float, gtin: str, serial: int, user: User, ok: bool, label: dict[str, Any]) -> None:
        self.emit(ts, {"type": "pin", "gtin": gtin, "serial": str(serial), "ok": ok, "device": user.device}, label)

    # The genuine chain

    def build_lots(self) -> None:
        rng, c = self.rng, self.c
        for index in range(c.lots):
            h = rng.randrange(len(PACKING_HOUSES))
            code, province, lat, lon = PACKING_HOUSES[h]
            gtin = _gtin(h)
            first = self.next_serial.get(gtin, 1000)
            size = max(1000, round(rng.gauss(c.fruit_per_lot, c.fruit_per_lot / 15)))
            self.next_serial[gtin] = first + size + rng.choice([0, 0, 0, 500])  # now and then a roll left unused
            origin = City(code, lat, lon, "VN")
            gate, gate_cn, _w = rng.choices(GATES, weights=[g[2] for g in GATES])[0]
            hub = self.pick(HUBS[gate.name])
            city = self.pick(CN_CITIES, exclude=(hub.name,)) if rng.random() < 0.85 else hub
            activated = self.start + rng.uniform(0, c.season_days) * DAY
            # Road at ~45 km/h average over 1.3x the straight line, then a queue at the gate: median ~20 h,
            # long tail, capped at 10 days.
            to_gate = _km(origin, gate) * 1.3 / 45 + rng.uniform(2, 12)
            queue = min(240.0, max(2.0, rng.lognormvariate(math.log(20), 0.9)))
            to_hub = _km(gate_cn, hub) * 1.3 / 50 + rng.uniform(2, 10)
            to_city = _km(hub, city) * 1.3 / 55 + rng.uniform(4, 24)
            arrive = activated + (to_gate + queue + to_hub + to_city) * HOUR
            lot = Lot(
                code=f"{code[3:5]}{index:04d}",
                house=code,
                province=province,
                origin=origin,
                gtin=gtin,
                first=first,
                last=first + size - 1,
                activated=activated,
                shelf_days=rng.choice([10, 14, 14, 18, 21, 21]),
                gate=gate,
                gate_cn=gate_cn,
                hub=hub,
                city=city,
                arrive_city=arrive,
                pin=rng.random() < c.pin_lot_share,
            )
            if rng.random() < c.resale_share:
                lot.resale = self.pick(CN_CITIES, exclude=(city.name, hub.name))
            if rng.random() < c.revoked_lot_share:
                lot.revoked_at = activated + rng.uniform(1.5, 5) * DAY
            self.lots.append(lot)
            self.activate(lot)

    def activate(self, lot: Lot) -> None:
        def place(c: City) -> dict[str, Any]:
            return {"name": c.name, "lat": c.lat, "lon": c.lon, "country": c.country}

        self.emit(
            lot.activated,
            {
                "type": "activate",
                "gtin": lot.gtin,
                "first": str(lot.first),
                "last": str(lot.last),
                "lot": lot.code,
                "origin": {"lat": lot.origin.lat, "lon": lot.origin.lon, "country": "VN"},
                "markets": ["CN", place(lot.city)],
                "shelf_life_days": lot.shelf_days,
                "packing_house": lot.house,
                "province": lot.province,
                "gates": [place(lot.gate), place(lot.gate_cn)],
                "places": [place(lot.hub)],
            },
        )
        if lot.revoked_at is not None:
            self.emit(
                lot.revoked_at,
                {
                    "type": "revoke",
                    "gtin": lot.gtin,
                    "first": str(lot.first),
                    "last": str(lot.last),
                    "category": "recalled",
                    "reason": "cadmium above the limit (GACC notice)",
                },
            )

    def genuine(self, lot: Lot) -> None:
        rng, c = self.rng, self.c
        size = lot.last - lot.first + 1
        mean = size * c.consumer_scan_rate
        count = max(0, min(size, round(rng.gauss(mean, math.sqrt(mean * (1 - c.consumer_scan_rate))))))
        for serial in rng.sample(range(lot.first, lot.last + 1), count):
            if not self.streaming:
                self.taken.add((lot.gtin, serial))  # an attack copies another fruit's stamp, never this one's
            city = lot.city
            arrive = lot.arrive_city
            if lot.resale is not None and rng.random() < 0.7:
                city = lot.resale
                arrive += (_km(lot.city, city) * 1.3 / 55 + rng.uniform(6, 24)) * HOUR
            left = max(2.0, lot.shelf_days - (arrive - lot.activated) / DAY)
            bought = arrive + min(rng.expovariate(3 / left), left) * DAY
            label = {
                "truth": "genuine",
                "attack": None,
                "kind": None,
                "key": f"{lot.gtin}/{serial}",
                "instance": 0,
                "off_route": False,
            }
            self.consumer(lot, serial, bought, city, label)
        self.trade_scans(lot, size)

    def trade_scans(self, lot: Lot, size: int) -> None:
        """Distributors sample fruit at the hub and the destination market; inspectors at the border."""
        rng = self.rng
        gate_time = lot.activated + (_km(lot.origin, lot.gate) * 1.3 / 45 + 6) * HOUR
        for role, place, when, share, users in (
            ("inspector", lot.gate, gate_time, 0.002, 2),
            ("distributor", lot.hub, lot.arrive_city - 20 * HOUR, 0.004, 2),
            ("distributor", lot.city, lot.arrive_city, 0.004, 3),
        ):
            staff = [self.user() for _ in range(users)]
            for member in staff:
                member.vpn = None
            for serial in rng.sample(range(lot.first, lot.last + 1), round(size * share)):
                label = {
                    "truth": "genuine",
                    "attack": None,
                    "kind": None,
                    "key": f"{lot.gtin}/{serial}",
                    "instance": 0,
                    "off_route": False,
                }
                self.scan(when + rng.uniform(0, 10) * HOUR, lot.gtin, serial, rng.choice(staff), place, label, role)

    def consumer(self, lot: Lot, serial: int, bought: float, city: City, label: dict[str, Any]) -> None:
        """One physical fruit bought in `city`: the buyer's scans, the household's, a gift's, a PIN. The fruit is
        in one place at a time: a gift leaves after the buyer's household has looked at it."""
        rng, c = self.rng, self.c
        user = self.user()
        first = bought + (rng.uniform(0, 0.5) if rng.random() < 0.5 else rng.uniform(1, 24)) * HOUR
        gift = rng.random() < c.gift_share
        leaves = first + rng.uniform(2, 48) * HOUR if gift else math.inf
        self.scan(first, lot.gtin, serial, user, city, label)
        for _ in range(rng.choice([0, 0, 0, 0, 1, 1, 2, 3])):  # the buyer checks again
            again = first + rng.uniform(0.02, 48) * HOUR
            if again < leaves:
                self.scan(again, lot.gtin, serial, user, city, label)
        if lot.pin and rng.random() < 0.35:
            if rng.random() < 0.05:
                self.pin(first + 60, lot.gtin, serial, user, False, label)
            self.pin(first + 120, lot.gtin, serial, user, True, label)
        if rng.random() < c.household_share:
            phones = 2 if rng.random() < 0.8 else 3
            home_on_wifi = rng.random() < 0.6
            for _ in range(phones - 1):
                other = self.user()
                other.home_net = user.home_net
                later = first + (rng.expovariate(1 / 0.33) if rng.random() < 0.85 else rng.uniform(2, 36)) * HOUR
                if later < leaves:
                    self.scan(later, lot.gtin, serial, other, city, label, at_home=home_on_wifi)
        if gift:
            dest = self.pick(CN_CITIES if city.country == "CN" else [*CN_CITIES, *VN_CITIES], exclude=(city.name,))
            km = _km(city, dest)
            travel = km / 700 + 4 if km > 700 else km / 220 + 2  # plane, or high-speed train, door to door
            if rng.random() < 0.6:
                self.scan(leaves + (travel + rng.uniform(0.5, 24)) * HOUR, lot.gtin, serial, self.user(), dest, label)
        elif rng.random() < 0.01:  # a kept box, scanned again weeks later by the same phone
            self.scan(first + rng.uniform(14, 40) * DAY, lot.gtin, serial, user, city, label)

    # Attacks

    def campaigns(self, per_ten_lots: float) -> int:
        return max(1, round(self.c.lots / 10 * per_ten_lots * self.c.attack_scale))

    def lot_for_attack(self) -> Lot:
        return self.rng.choice([lot for lot in self.lots if lot.revoked_at is None])

    def free_serials(self, lot: Lot, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            serial = self.rng.randint(lot.first, lot.last)
            if (lot.gtin, serial) not in self.taken:
                self.taken.add((lot.gtin, serial))
                out.append(serial)
        return out

    def copies(self, kind: str, campaigns: int, k_range: tuple[int, int], n_range: tuple[int, int]) -> None:
        rng, c = self.rng, self.c
        for number in range(campaigns):
            lot = self.lot_for_attack()
            attack = f"{kind}-{number}"
            if kind == "photocopy_vietnam":
                where = self.pick(VN_CITIES)
                obtained = lot.activated + rng.uniform(0.2, 3) * DAY  # an insider at the packing house
            else:
                obtained = lot.arrive_city + rng.uniform(0, 5) * DAY  # bought at the destination
                if kind == "photocopy_same_city" or (kind == "cautious" and rng.random() < 0.5):
                    where = lot.city
                else:
                    where = self.pick(CN_CITIES, exclude=tuple(x.name for x in (lot.city, lot.hub, lot.resale) if x))
            off_route = where.country == "CN" and where.name not in {lot.city.name, lot.hub.name}
            if lot.resale is not None and where.name == lot.resale.name:
                off_route = False
            span = rng.uniform(3, 21)
            begin = obtained + rng.uniform(1, 7) * DAY
            for serial in self.free_serials(lot, rng.randint(*k_range)):
                self.genuine_instance(lot, serial, attack, kind)
                for instance in range(1, rng.randint(*n_range) + 1):
                    if rng.random() >= c.consumer_scan_rate:
                        continue
                    label = {
                        "truth": "fake",
                        "attack": attack,
                        "kind": kind,
                        "key": f"{lot.gtin}/{serial}",
                        "instance": instance,
                        "off_route": off_route,
                    }
                    self.consumer(lot, serial, begin + rng.uniform(0, span) * DAY, where, label)

    def genuine_instance(self, lot: Lot, serial: int, attack: str, kind: str) -> None:
        """The genuine fruit whose stamp was copied or reused: scanned like any other, at the consumer rate."""
        if self.rng.random() >= self.c.consumer_scan_rate:
            return
        left = max(2.0, lot.shelf_days - (lot.arrive_city - lot.activated) / DAY)
        bought = lot.arrive_city + min(self.rng.expovariate(3 / left), left) * DAY
        label = {
            "truth": "genuine",
            "attack": attack,
            "kind": kind,
            "key": f"{lot.gtin}/{serial}",
            "instance": 0,
            "off_route": False,
        }
        self.consumer(lot, serial, bought, lot.city, label)

    def reuse(self, campaigns: int) -> None:
        rng = self.rng
        for number in range(campaigns):
            lot = self.lot_for_attack()
            attack = f"reuse_discarded-{number}"
            for serial in self.free_serials(lot, rng.randint(5, 30)):
                self.genuine_instance(lot, serial, attack, "reuse_discarded")
                if rng.random() >= self.c.consumer_scan_rate:
                    continue
                sold = lot.arrive_city + rng.uniform(14, 56) * DAY
                where = lot.city if rng.random() < 0.7 else self.pick(CN_CITIES, exclude=(lot.city.name,))
                label = {
                    "truth": "fake",
                    "attack": attack,
                    "kind": "reuse_discarded",
                    "key": f"{lot.gtin}/{serial}",
                    "instance": 1,
                    "off_route": where.name not in {lot.city.name, lot.hub.name}
                    and (lot.resale is None or where.name != lot.resale.name),
                }
                self.consumer(lot, serial, sold, where, label)

    def stolen(self, campaigns: int) -> None:
        rng = self.rng
        for number in range(campaigns):
            h = rng.randrange(len(PACKING_HOUSES))
            gtin = _gtin(h)
            first = self.next_serial.get(gtin, 1000)
            self.next_serial[gtin] = first + 1000
            self.emit(
                self.start - DAY,
                {
                    "type": "issue",
                    "gtin": gtin,
                    "first": str(first),
                    "last": str(first + 999),
                    "packing_house": PACKING_HOUSES[h][0],
                },
            )
            attack = f"stolen_roll-{number}"
            where = self.pick(CN_CITIES) if rng.random() < 0.7 else self.pick(VN_CITIES)
            begin = self.start + rng.uniform(5, self.c.season_days) * DAY
            fake_lot = Lot("", "", "", where, gtin, 0, 0, begin, 21, where, where, where, where, begin, False)
            for serial in rng.sample(range(first, first + 1000), rng.randint(50, 300)):
                if rng.random() >= self.c.consumer_scan_rate:
                    continue
                label = {
                    "truth": "fake",
                    "attack": attack,
                    "kind": "stolen_roll",
                    "key": f"{gtin}/{serial}",
                    "instance": 1,
                    "off_route": True,
                }
                self.consumer(fake_lot, serial, begin + rng.uniform(0, 20) * DAY, where, label)

    def guessed(self, campaigns: int) -> None:
        rng = self.rng
        for number in range(campaigns):
            gtin = _gtin(rng.randrange(len(PACKING_HOUSES)))
            attack = f"guessed_serials-{number}"
            where = self.pick(CN_CITIES)
            begin = self.start + rng.uniform(5, self.c.season_days) * DAY
            prober = self.user()
            network = f"m-{where.name}-attacker{number}"
            for i in range(rng.choice([0, 40])):  # the forger's own test run, from one network
                serial = rng.randint(1000, 10**7)
                label = {
                    "truth": "fake",
                    "attack": attack,
                    "kind": "guessed_serials",
                    "key": f"{gtin}/{serial}",
                    "instance": 1,
                    "off_route": True,
                }
                loc = {**self.where(prober, where, False), "network": network}
                self.scan(begin - HOUR + i * 5, gtin, serial, prober, where, label, sig_valid=False, loc=loc)
            for _ in range(rng.randint(50, 200)):
                serial = rng.randint(1000, 10**7)
                if rng.random() >= self.c.consumer_scan_rate:
                    continue
                label = {
                    "truth": "fake",
                    "attack": attack,
                    "kind": "guessed_serials",
                    "key": f"{gtin}/{serial}",
                    "instance": 1,
                    "off_route": True,
                }
                self.scan(begin + rng.uniform(0, 20) * DAY, gtin, serial, self.user(), where, label, sig_valid=False)

    def ban_after_revocation(self) -> None:
        """Any scan of a revoked lot's stamp after its revocation is of banned fruit, whoever sells it."""
        revoked = [lot for lot in self.lots if lot.revoked_at is not None]
        for ts, _seq, event in self.events:
            label = self.labels.get(event.get("id", ""))
            if label is None or label["truth"] != "genuine":
                continue
            for lot in revoked:
                if (
                    event["gtin"] == lot.gtin
                    and lot.first <= int(event["serial"]) <= lot.last
                    and ts > (lot.revoked_at or 0)
                ):
                    label.update(truth="banned", attack=f"revoked-{lot.code}", kind="revoked_lot")

    def attacks(self) -> Iterator[None]:
        """Each attack kind in turn; the caller may take the events after each."""
        self.copies("photocopy_same_city", self.campaigns(1.5), (1, 12), (5, 80))
        yield
        self.copies("photocopy_other_city", self.campaigns(1.5), (1, 12), (5, 80))
        yield
        self.copies("photocopy_vietnam", self.campaigns(1.5), (1, 12), (5, 80))
        yield
        self.copies("cautious", self.campaigns(3), (1, 5), (1, 2))
        yield
        self.reuse(self.campaigns(1))
        yield
        self.stolen(self.campaigns(0.3))
        yield
        self.guessed(self.campaigns(0.3))
        yield

    def build(self) -> Simulation:
        self.build_lots()
        for lot in self.lots:
            self.genuine(lot)
        for _ in self.attacks():
            pass
        self.ban_after_revocation()
        self.events.sort(key=lambda item: (item[0], item[1]))
        return Simulation(self.c, [e for _, _, e in self.events], self.labels, self.lots)


def simulate(config: SimConfig) -> Simulation:
    return _Builder(config).build()


def stream(config: SimConfig) -> Iterator[dict[str, Any]]:
    """The same chain as `simulate`, yielded as it is made and never held: every lot's activation first,
    then each lot's scans (in time order within the lot), then each attack's. Memory stays flat however
    many lots, so it can feed tens of millions of scans to a loader. It keeps no ground truth (no labels;
    an attack may copy a stamp the genuine flow also scanned) and no revocation relabelling."""
    builder = _Builder(config)
    builder.streaming = True

    def drain() -> Iterator[dict[str, Any]]:
        builder.events.sort(key=lambda item: (item[0], item[1]))
        events = [event for _, _, event in builder.events]
        builder.events.clear()
        return iter(events)

    builder.build_lots()
    yield from drain()
    for lot in builder.lots:
        builder.genuine(lot)
        yield from drain()
    for _ in builder.attacks():
        yield from drain()


def iter_lines(sim: Simulation) -> Iterator[bytes]:
    for event in sim.events:
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lots", type=int, default=200)
    parser.add_argument("--scan-rate", type=float, default=0.05, help="consumer scan rate, 0.01–0.20")
    parser.add_argument("--vpn", type=float, default=0.05, help="share of users behind a VPN exit abroad")
    parser.add_argument("--resale", type=float, default=0.10, help="share of lots resold outside their city")
    parser.add_argument("--out", type=Path, required=True, help="events, JSON lines")
    parser.add_argument("--labels", type=Path, help="ground truth, JSON lines")
    args = parser.parse_args(argv)
    config = SimConfig(
        seed=args.seed,
        lots=args.lots,
        consumer_scan_rate=args.scan_rate,
        vpn_share=args.vpn,
        resale_share=args.resale,
    )
    sim = simulate(config)
    sim.write(args.out, args.labels)
    print(f"{len(sim.events)} events, {len(sim.labels)} labelled, {len(sim.lots)} lots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
