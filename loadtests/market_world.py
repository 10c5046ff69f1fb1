"""The market world: a second, independent simulation of durian export lots, the markets they are sold in, and the
people who copy their stamps, written from how fruit is bought, carried, shared and copied rather than from Tem's
rules. It emits the JSON lines `tem replay` reads and a ground-truth file; `detection_study.py` scores it.

    python -m loadtests.market_world --seed 1 --lots 100 --scan-rate 0.05 --out events.jsonl --labels truth.jsonl

The same seed and parameters always give byte-identical files.

**Lots.** About 5,000 fruit each (±25%), packed at one of eight Mekong Delta and Central Highlands packing houses
across a 70-day season. Stamps are issued in rolls days before packing (`issue`). The activation is recorded by a
clerk: within three hours for most lots, in an end-of-day batch for about a quarter, and one to three days late for
8%. Trucks drive to Hữu Nghị/Tân Thanh, Kim Thành or Móng Cái at 38–52 km/h over 1.35× the straight line; the border
queue is lognormal around 14 h and, during congestion episodes at a gate (two or three per season, 5–12 days each),
three to eight times longer, capped at nine days. 8% of lots go by sea from Cát Lái to Nansha instead (4–7 days).
After customs the lot goes to its hub wholesale market (Nanning, Guangzhou or Kunming), then to its declared
destination city's wholesale market (18% stay at the hub).

**Where fruit is sold.** 10% of a lot at the hub, the rest in the destination; lots resold off their declared route
(a configurable share) send 30–80% of the destination's share on to one or two other cities, undeclared; 4% of fruit
is sold online by a shop in the destination and delivered anywhere in China one to three days later; 1% of lots are
turned back at the border and sold in northern or southern Vietnam. Retail sales follow ripening: most fruit in the
first days, a tail to the end of the declared shelf life.

**People.** A household has one to four phones and one home Wi-Fi network. A sold fruit is scanned by its household
at the consumer scan rate (1–10%): the buyer in the shop (on mobile data) or at home when it is opened (mostly on
the home Wi-Fi), sometimes several times; each other member with a phone scans it with probability 0.35, mostly on
the same Wi-Fi, around the time it is opened or the next day. 3% of fruit is opened at an office or a gathering
where two to six colleagues (other households) scan it, mostly on the office network. 5% is a gift carried to a
relative in another city, by plane when it is more than 700 km away (door to door 4.5 h + flight) and by train or
car otherwise; the receiver's household scans it there. 1% of buyers scan the kept stamp again weeks later. A
configurable share of phones sit behind a VPN whose exit is abroad (Hong Kong, Singapore, Tokyo, Los Angeles, San
Jose, Seoul, Taipei, Frankfurt), on for 90% of scans; a few percent of phones send GPS. Mobile IP addresses
geolocate to the carrier's gateway: four fixed gateways per carrier and city. In China a gateway lies inland of the
city, at an error of 0.75× the IP database's radius (50–500 km, median 200) times a lognormal factor (σ 0.5), so the
radius is a ~70% confidence circle and the median error ~150 km, at most 600 km; in Vietnam at Hà Nội, Đà Nẵng or Hồ
Chí Minh City (the nearest for 80%, radius 100–200 km; any of them otherwise, radius 1000 km). 6% of gateways give
only the country's centroid (radius 1000 km). Fixed lines geolocate 8–40 km off; 2% of addresses have only a
country; mobile /24 networks are shared by strangers (carrier NAT, a pool per carrier and city). PIN lots (30%)
carry a scratch-off code that 30% of scanning buyers enter (5% mistype first).

**Trade and inspection.** Vietnamese border inspectors and Chinese customs sample a few fruit of each lot at the
gate; importers sample about 0.3% at the hub. Market inspectors sweep wholesale halls (one sweep a city a week, in
Chinese and Vietnamese cities): one device scans 20–120 stamps of whatever stands in the hall, 10–60 s apart, each
fruit once: a genuine outlet's pallets for the day before they go to the shops, copies in the day before they are
sold, and about 2,000 fruit of other exporters, outside this world (scanned, but no event here).

**Attacks** (campaigns scale with 5% / scan rate, so every point holds comparable numbers of scanned fakes):

- `copy_same_market`: a wholesaler in the destination city buys 1–10 fruit of the lot when it arrives, prints 5–60
  copies of each stamp and sells them on cheaper fruit in the same city over 3–14 days;
- `copy_other_city`: the same, sold in another Chinese city the lot does not go to;
- `copy_vietnam`: an insider at the packing house photographs 1–10 stamps; copies are sold on domestic fruit in
  Vietnam as "export grade" over 1–4 weeks;
- `copy_slow_release`: 1–4 stamps, 5–20 copies each, released one every few days over weeks, in the destination
  (60%) or another city;
- `cautious_copier`: buys 1–4 stamped fruit at retail, sells at most two copies of each in the same city within
  days, and keeps or resells the original;
- `reused_tag`: 5–30 tags collected from discarded boxes, put on other fruit 2–8 weeks later, mostly in the same
  city;
- `stolen_roll`: a roll issued to a packing house and never activated, 50–400 of its stamps sold on fakes;
- `guessed_serial`: made-up serials with no valid signature, after a test run from one network;
- `revoked_lot`: a lot revoked after a cadmium finding whose fruit is sold anyway.

Every scan and PIN event has an `id`; the labels file has one line per id, in event order: `truth` (`genuine`,
`fake`, or `banned` for a revoked lot's fruit after the revocation), `attack` (campaign id) and `kind`, `key`
(`gtin/serial`), `instance` (0 the genuine fruit, 1.. copies), `household` (who scanned: a household, an office
colleague's household, or a trade device), `role`, `behaviour` (buyer, repeat, household, office, gift, rescan, pin,
copier_check, border, customs, distributor, sweep, forger_test), `channel` (where the fruit was sold: destination,
hub, resale, ecommerce, turned_back, or fake), `loc` (how the scan was located: gps, fixed, mobile, centroid,
country, vpn), `lot_tags` (late_activation, long_queue, sea, resale, turned_back) and two facts of physics used to
define detectability: `place_evidence` (a fake scanned where it was sold, with a known location, more than 500 km
(100 km by GPS) from every place its genuine lot was stocked, cleared or sold, or in Vietnam after the lot had
crossed into China) and `after_life` (a fake scanned after the genuine lot's last fruit can have been eaten).
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

from loadtests.simulator import CN_CITIES, GATES, HUBS, PACKING_HOUSES, VN_CITIES, City

DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0

ATTACK_KINDS = (
    "copy_same_market",
    "copy_other_city",
    "copy_vietnam",
    "copy_slow_release",
    "cautious_copier",
    "reused_tag",
    "stolen_roll",
    "guessed_serial",
    "revoked_lot",
)
REGISTRY_KINDS = frozenset({"stolen_roll", "guessed_serial", "revoked_lot"})
# Attack campaigns per 10 lots at a 5% scan rate.
CAMPAIGNS_PER_TEN_LOTS = {
    "copy_same_market": 1.2,
    "copy_other_city": 1.0,
    "copy_vietnam": 1.0,
    "copy_slow_release": 0.8,
    "cautious_copier": 6.0,
    "reused_tag": 1.0,
    "stolen_roll": 0.25,
    "guessed_serial": 0.25,
}
PLACE_EVIDENCE_KM = 500.0  # beyond all but the worst mobile IP errors: the place is told apart from the lot's
PLACE_GPS_KM = 100.0
LIFE_MARGIN_DAYS = 3.0  # a bought durian is eaten within three days
# ... and its household has scanned it by the day after: one fruit's new households span at most this much.
ONE_FRUIT_DAYS = LIFE_MARGIN_DAYS + 1.5

VN_MARKETS = [*VN_CITIES, City("Cần Thơ", 10.03, 105.78, "VN", 1.0), City("Buôn Ma Thuột", 12.67, 108.04, "VN", 0.6)]
VN_NORTH = [c for c in VN_MARKETS if c.lat > 20]
VN_GATEWAYS = [c for c in VN_MARKETS if c.name in ("Hà Nội", "Đà Nẵng", "TP Hồ Chí Minh")]
VPN_EXITS = [
    City("Hong Kong", 22.32, 114.17, "HK", 3),
    City("Singapore", 1.35, 103.82, "SG", 3),
    City("Tokyo", 35.68, 139.69, "JP", 2),
    City("Los Angeles", 34.05, -118.24, "US", 1.5),
    City("San Jose", 37.34, -121.89, "US", 1),
    City("Seoul", 37.57, 126.98, "KR", 1),
    City("Taipei", 25.03, 121.56, "TW", 1),
    City("Frankfurt", 50.11, 8.68, "DE", 0.5),
]
PORT_VN = City("Cát Lái", 10.76, 106.79, "VN")
PORT_CN = City("Nansha", 22.75, 113.60, "CN")
GUANGZHOU = next(c for c in CN_CITIES if c.name == "Guangzhou")
CENTROIDS = {"CN": (34.7725, 113.7266), "VN": (16.1667, 107.8333)}  # where a country-level IP record points
METRO_KM = 18.0
HALL_DAYS = 1.0  # how long fruit stands in a wholesale hall before it goes to the shops
HALL_BACKGROUND = 2000.0  # stamped fruit of other exporters in a hall, outside this world
GTIN_BASE = 8936100000000  # + packing house index, then a GS1 check digit
CARRIERS = 3


@dataclass(frozen=True, slots=True)
class WorldConfig:
    seed: int = 1
    lots: int = 100
    scan_rate: float = 0.05  # share of sold fruit (genuine or fake) whose buyer's household scans it
    vpn_share: float = 0.05  # phones behind a VPN exit abroad
    resale_share: float = 0.10  # lots partly resold off their declared route
    fruit_per_lot: int = 5000
    season_days: float = 70.0
    start: str = "2026-06-01T00:00:00+00:00"
    gps_share: float = 0.04
    ecommerce_share: float = 0.04
    gift_share: float = 0.05
    office_share: float = 0.03
    turned_back_share: float = 0.01
    sea_share: float = 0.08
    revoked_share: float = 0.02
    pin_lot_share: float = 0.30
    sweeps_per_city_week: float = 1.0
    attack_scale: float | None = None  # campaigns per kind, times CAMPAIGNS_PER_TEN_LOTS; None: 5% / scan rate

    @property
    def scale(self) -> float:
        if self.attack_scale is not None:
            return self.attack_scale
        return min(5.0, 0.05 / self.scan_rate)


@dataclass(slots=True)
class Outlet:
    """Where part of a lot is sold: its city, from when, which share of the lot's fruit, and how."""

    city: City
    opens: float
    share: float
    channel: str
    first: int = 0  # the outlet's serials: whole pallets, so a block of the lot's range
    last: int = -1


@dataclass(slots=True)
class Lot:
    code: str
    house: str
    province: str
    origin: City
    gtin: str
    first: int
    last: int
    packed: float
    activated: float
    shelf_days: float
    gate: City
    gate_cn: City
    hub: City
    dest: City
    pin: bool
    at_gate: float
    crossed: float  # inf: turned back at the border
    at_hub: float
    at_dest: float
    outlets: list[Outlet] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    revoked_at: float | None = None
    life_end: float = 0.0  # after this no fruit of the lot can still be uneaten

    @property
    def places(self) -> list[City]:
        """Every place the lot was stocked, cleared or sold."""
        return [self.origin, self.gate, self.gate_cn, self.hub, self.dest, *(o.city for o in self.outlets)]

    def sold_in_vietnam(self) -> bool:
        return any(o.city.country == "VN" for o in self.outlets)


@dataclass(slots=True)
class Person:
    """One phone."""

    device: str
    carrier: int
    vpn: City | None
    gps: bool


@dataclass(slots=True)
class Household:
    hid: str
    wifi: str
    members: list[Person]


@dataclass(slots=True)
class Item:
    """One physical fruit and the stamp it carries."""

    gtin: str
    serial: int
    lot: Lot | None
    truth: str  # genuine | fake
    attack: str | None
    kind: str | None
    instance: int
    channel: str
    pin: str = "none"  # what a PIN its buyer enters checks as: none (no PIN), valid, wrong
    sig_valid: bool = True


@dataclass(slots=True)
class Copy:
    serial: int
    instance: int
    sold: float


@dataclass(slots=True)
class Stock:
    """Fruit standing in a city's wholesale hall between `begin` and `end`, for inspectors' sweeps."""

    city: City
    begin: float
    end: float
    weight: float
    lot: Lot | None
    outlet: Outlet | None = None
    copies: list[Copy] | None = None
    item: Item | None = None  # the template of the campaign's copies


@dataclass
class World:
    config: WorldConfig
    events: list[dict[str, Any]]
    labels: dict[str, dict[str, Any]]
    lots: list[Lot] = field(default_factory=list)

    def lines(self) -> Iterator[bytes]:
        for event in self.events:
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()

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


def gtin_for(index: int) -> str:
    body = f"{GTIN_BASE + index:013d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return f"{body}{(10 - total % 10) % 10}"


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def km(a: City, b: City) -> float:
    return km_between(a.lat, a.lon, b.lat, b.lon)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _place(c: City) -> dict[str, Any]:
    return {"name": c.name, "lat": c.lat, "lon": c.lon, "country": c.country}


class _Builder:
    def __init__(self, config: WorldConfig) -> None:
        self.c = config
        self.rng = random.Random(config.seed)
        self.start = dt.datetime.fromisoformat(config.start).timestamp()
        self.end = self.start + (config.season_days + 60) * DAY
        self.events: list[tuple[float, int, dict[str, Any]]] = []
        self.labels: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.lots: list[Lot] = []
        self.next_serial: dict[str, int] = {}
        self.attacked: dict[tuple[str, int], Item] = {}  # a copied or reused serial: its genuine fruit
        self.stock: list[Stock] = []
        self.gateways: dict[tuple[int, str, int], tuple[float, float, float]] = {}
        self.fixed_lines: dict[str, tuple[float, float, float]] = {}
        self.congestion: dict[str, list[tuple[float, float, float]]] = {}
        self.staff: dict[str, list[Person]] = {}

    # Primitives

    def pick(self, cities: list[City], exclude: tuple[str, ...] = ()) -> City:
        choices = [c for c in cities if c.name not in exclude]
        return self.rng.choices(choices, weights=[c.weight for c in choices])[0]

    def ident(self, prefix: str) -> str:
        return f"{prefix}{self.rng.getrandbits(40):010x}"

    def jitter(self, lat: float, lon: float, distance: float, towards: float | None = None) -> tuple[float, float]:
        """A point `distance` km away, in a random direction or within 60° of the bearing `towards`."""
        if towards is None:
            angle = self.rng.uniform(0, 2 * math.pi)
        else:
            angle = towards + self.rng.uniform(-math.pi / 3, math.pi / 3)
        dlat = distance * math.cos(angle) / 111.2
        dlon = distance * math.sin(angle) / (111.2 * max(0.2, math.cos(math.radians(lat))))
        return round(lat + dlat, 4), round(max(-180.0, min(180.0, lon + dlon)), 4)

    def emit(self, ts: float, event: dict[str, Any], label: dict[str, Any] | None = None) -> None:
        self.seq += 1
        if label is not None:
            event["id"] = f"m{self.seq}"
            self.labels[event["id"]] = {"id": event["id"], **label}
        self.events.append((ts, self.seq, {"ts": iso(ts), **event}))

    def person(self, staff: bool = False) -> Person:
        rng = self.rng
        vpn = None if staff or rng.random() >= self.c.vpn_share else self.pick(VPN_EXITS)
        gps = rng.random() < (0.5 if staff else self.c.gps_share)
        return Person(self.ident("d"), rng.randrange(CARRIERS), vpn, gps)

    def household(self) -> Household:
        size = self.rng.choices((1, 2, 3, 4), weights=(25, 35, 25, 15))[0]
        return Household(self.ident("h"), self.ident("w"), [self.person() for _ in range(size)])

    # Where a scan is said to be

    def mobile(self, person: Person, city: City) -> tuple[str, tuple[float, float, float]]:
        """A carrier-NAT /24 of the person's carrier in the city, and where IP databases put it."""
        rng = self.rng
        pool = 20 + round(60 * city.weight)
        block = rng.randrange(pool)
        gateway = block % 4
        key = (person.carrier, city.name, gateway)
        spot = self.gateways.get(key)
        if spot is None:
            centre = CENTROIDS.get(city.country, (city.lat, city.lon))
            if rng.random() < 0.06:
                spot = (centre[0], centre[1], 1000.0)
            elif city.country == "VN":
                # Vietnamese carriers' addresses geolocate to Hà Nội, Đà Nẵng or Hồ Chí Minh City.
                # The nearest for 80%, with a city-sized radius; any of the three otherwise, and then the database
                # knows it only has the country (radius 1000 km).
                near = rng.random() < 0.8
                hub = min(VN_GATEWAYS, key=lambda g: km(city, g)) if near else rng.choice(VN_GATEWAYS)
                lat, lon = self.jitter(hub.lat, hub.lon, rng.uniform(0, 20))
                spot = (lat, lon, float(rng.choice((100, 200))) if near else 1000.0)
            else:
                # The database's radius is a ~70% confidence circle: a gateway is beyond it about one time in four.
                # Gateways lie inland of the city, never abroad.
                radius = rng.choices((50, 100, 200, 500), weights=(1, 3, 4, 2))[0]
                error = min(600.0, radius * rng.lognormvariate(math.log(0.75), 0.5))
                bearing = math.atan2((centre[1] - city.lon) * math.cos(math.radians(city.lat)), centre[0] - city.lat)
                lat, lon = self.jitter(city.lat, city.lon, error, towards=bearing)
                spot = (lat, lon, float(radius))
            self.gateways[key] = spot
        return f"c{person.carrier}-{city.name}-{block}", spot

    def fixed(self, network: str, city: City) -> tuple[float, float, float]:
        spot = self.fixed_lines.get(network)
        if spot is None:
            rng = self.rng
            lat, lon = self.jitter(city.lat, city.lon, min(60.0, 8 + abs(rng.gauss(0, 12))))
            spot = (lat, lon, float(rng.choice((20, 25, 50))))
            self.fixed_lines[network] = spot
        return spot

    def locate(self, person: Person, city: City, network: str | None) -> tuple[dict[str, Any], str]:
        """The scan's location fields and how they were found. `network` is a fixed line (home, office, hall), or
        None for mobile data."""
        rng = self.rng
        if person.vpn is not None and rng.random() < 0.9:
            exit_ = person.vpn
            lat, lon = self.jitter(exit_.lat, exit_.lon, rng.uniform(0, 10))
            return {
                "country": exit_.country,
                "lat": lat,
                "lon": lon,
                "accuracy_km": rng.choice((20, 50, 100)),
                "network": f"vpn-{exit_.name}-{rng.randrange(40)}",
            }, "vpn"
        if network is None:
            network, (lat, lon, radius) = self.mobile(person, city)
            how = "centroid" if radius >= 1000 else "mobile"
        else:
            lat, lon, radius = self.fixed(network, city)
            how = "fixed"
        if rng.random() < 0.02:
            return {"country": city.country, "network": network}, "country"
        if person.gps and rng.random() < 0.85:
            lat, lon = self.jitter(city.lat, city.lon, rng.uniform(0, METRO_KM))
            return {"country": city.country, "lat": lat, "lon": lon, "accuracy_km": 0.03, "network": network}, "gps"
        lat, lon = self.jitter(lat, lon, rng.uniform(0, 3))
        return {"country": city.country, "lat": lat, "lon": lon, "accuracy_km": radius, "network": network}, how

    # Events

    def scan(
        self,
        ts: float,
        item: Item,
        person: Person,
        household: str,
        city: City,
        network: str | None,
        behaviour: str,
        role: str = "consumer",
    ) -> None:
        fields, how = self.locate(person, city, network)
        label = self.label(ts, item, household, role, behaviour, city, how)
        event = {
            "type": "scan",
            "gtin": item.gtin,
            "serial": str(item.serial),
            "sig_valid": item.sig_valid,
            **fields,
            "device": person.device,
            "role": role,
        }
        self.emit(ts, event, label)

    def pin(self, ts: float, item: Item, person: Person, household: str, city: City, ok: bool) -> None:
        network, _spot = self.mobile(person, city)
        label = self.label(ts, item, household, "consumer", "pin", city, "none")
        event = {
            "type": "pin",
            "gtin": item.gtin,
            "serial": str(item.serial),
            "ok": ok,
            "device": person.device,
            "network": network,
        }
        self.emit(ts, event, label)

    def label(
        self, ts: float, item: Item, household: str, role: str, behaviour: str, city: City, how: str
    ) -> dict[str, Any]:
        lot = item.lot
        truth, attack, kind = item.truth, item.attack, item.kind
        if lot is not None and lot.revoked_at is not None and ts > lot.revoked_at and truth == "genuine":
            truth, attack, kind = "banned", f"revoked-{lot.code}", "revoked_lot"
        place = after = False
        if truth == "fake" and lot is not None:
            after = ts > lot.life_end
            if behaviour == "gift" or how == "vpn":
                place = False  # a carried fruit can be anywhere; a VPN exit tells nothing
            elif city.country == "VN":
                place = not lot.sold_in_vietnam() and ts > lot.crossed + DAY
            else:
                near = min(km(city, p) for p in lot.places)
                place = near >= (PLACE_GPS_KM if how == "gps" else PLACE_EVIDENCE_KM) and how in (
                    "gps",
                    "fixed",
                    "mobile",
                )
        return {
            "truth": truth,
            "attack": attack,
            "kind": kind,
            "key": f"{item.gtin}/{item.serial}",
            "instance": item.instance,
            "household": household,
            "role": role,
            "behaviour": behaviour,
            "channel": item.channel,
            "loc": how,
            "lot_tags": list(lot.tags) if lot is not None else [],
            "place_evidence": place,
            "place_country": city.country if place else None,
            "after_life": after,
        }

    # Lots

    def build_congestion(self) -> None:
        rng = self.rng
        for gate, _cn, _w in GATES:
            episodes = []
            for _ in range(rng.choice((1, 2, 2, 3)) if gate.name == "Hữu Nghị/Tân Thanh" else rng.choice((0, 1, 1))):
                begin = self.start + rng.uniform(0, self.c.season_days) * DAY
                episodes.append((begin, begin + rng.uniform(5, 12) * DAY, rng.uniform(3, 8)))
            self.congestion[gate.name] = episodes

    def queue_hours(self, gate: City, at: float) -> float:
        hours = self.rng.lognormvariate(math.log(14), 0.8)
        for begin, end, factor in self.congestion.get(gate.name, []):
            if begin <= at <= end:
                hours *= factor
        return max(1.5, min(hours, 9 * 24.0))

    def build_lots(self) -> None:
        rng, c = self.rng, self.c
        self.build_congestion()
        for index in range(c.lots):
            h = rng.randrange(len(PACKING_HOUSES))
            house, province, lat, lon = PACKING_HOUSES[h]
            gtin = gtin_for(h)
            first = self.next_serial.get(gtin, 100_000)
            size = max(1000, round(c.fruit_per_lot * rng.uniform(0.75, 1.25)))
            self.next_serial[gtin] = first + size + rng.choice((0, 0, 0, 250))
            origin = City(house, lat, lon, "VN")
            packed = self.start + rng.uniform(0, c.season_days) * DAY
            tags: list[str] = []
            lag = rng.random()
            if lag < 0.65:
                activated = packed + rng.uniform(0.1, 3) * HOUR
            elif lag < 0.92:
                activated = packed + rng.uniform(4, 20) * HOUR  # the end-of-day batch
            else:
                activated = packed + rng.uniform(24, 72) * HOUR
                tags.append("late_activation")
            if rng.random() < c.sea_share:
                tags.append("sea")
                gate, gate_cn, hub = PORT_VN, PORT_CN, GUANGZHOU
                at_gate = packed + (km(origin, gate) * 1.35 / 40 + rng.uniform(2, 8)) * HOUR
                crossed = at_gate + rng.uniform(4, 7) * DAY
                at_hub = crossed + rng.uniform(4, 12) * HOUR
            else:
                gate, gate_cn, _w = rng.choices(GATES, weights=[g[2] for g in GATES])[0]
                hub = self.pick(HUBS[gate.name])
                at_gate = packed + (rng.uniform(1, 10) + km(origin, gate) * 1.35 / rng.uniform(38, 52)) * HOUR
                queue = self.queue_hours(gate, at_gate)
                if queue > 72:
                    tags.append("long_queue")
                crossed = at_gate + queue * HOUR
                at_hub = crossed + (km(gate_cn, hub) * 1.3 / rng.uniform(45, 60) + rng.uniform(2, 8)) * HOUR
            dest = hub if rng.random() < 0.18 else self.pick(CN_CITIES, exclude=(hub.name,))
            at_dest = at_hub
            if dest is not hub:
                dwell = rng.uniform(6, 36)
                at_dest = at_hub + (dwell + km(hub, dest) * 1.3 / rng.uniform(50, 65) + rng.uniform(3, 10)) * HOUR
            lot = Lot(
                code=f"{house[3:5]}{index:04d}",
                house=house,
                province=province,
                origin=origin,
                gtin=gtin,
                first=first,
                last=first + size - 1,
                packed=packed,
                activated=activated,
                shelf_days=rng.choice((10, 14, 14, 18, 21)),
                gate=gate,
                gate_cn=gate_cn,
                hub=hub,
                dest=dest,
                pin=rng.random() < c.pin_lot_share,
                at_gate=at_gate,
                crossed=crossed,
                at_hub=at_hub,
                at_dest=at_dest,
                tags=tags,
            )
            self.route(lot)
            if rng.random() < c.revoked_share:
                lot.revoked_at = packed + rng.uniform(1, 6) * DAY
            self.lots.append(lot)
            self.declare(lot)

    def route(self, lot: Lot) -> None:
        """Where the lot's fruit is sold, and when the last of it can be eaten."""
        rng, c = self.rng, self.c
        if rng.random() < c.turned_back_share and "sea" not in lot.tags:
            lot.tags.append("turned_back")
            lot.crossed = math.inf
            city = self.pick(VN_NORTH) if rng.random() < 0.7 else self.pick(VN_MARKETS)
            back = lot.at_gate + (self.queue_hours(lot.gate, lot.at_gate) + rng.uniform(12, 48)) * HOUR
            lot.outlets = [Outlet(city, back + km(lot.gate, city) * 1.3 / 50 * HOUR, 1.0, "turned_back")]
        else:
            lot.outlets = [Outlet(lot.hub, lot.at_hub + rng.uniform(4, 12) * HOUR, 0.1, "hub")]
            dest_share = 0.9 if lot.dest is not lot.hub else 1.0
            if dest_share < 1.0:
                lot.outlets.append(Outlet(lot.dest, lot.at_dest + rng.uniform(4, 24) * HOUR, dest_share, "destination"))
            else:
                lot.outlets[0].share = 1.0
            if rng.random() < c.resale_share:
                lot.tags.append("resale")
                moved = dest_share * rng.uniform(0.3, 0.8)
                lot.outlets[-1].share -= moved
                cities = rng.choice((1, 1, 2))
                taken = tuple(x.name for x in (lot.hub, lot.dest))
                for _ in range(cities):
                    city = self.pick(CN_CITIES, exclude=taken)
                    taken = (*taken, city.name)
                    opens = lot.at_dest + (km(lot.dest, city) * 1.3 / 55 + rng.uniform(6, 30)) * HOUR
                    lot.outlets.append(Outlet(city, opens, moved / cities, "resale"))
        size = lot.last - lot.first + 1
        begin, cumulative = lot.first, 0.0
        for outlet in lot.outlets:
            cumulative += outlet.share
            outlet.first, outlet.last = begin, lot.first + round(cumulative * size) - 1
            begin = outlet.last + 1
        lot.outlets[-1].last = lot.last
        last_sale = max(self.last_sale(lot, o) for o in lot.outlets)
        lot.life_end = last_sale + (3 + LIFE_MARGIN_DAYS) * DAY  # online delivery, then eating

    def last_sale(self, lot: Lot, outlet: Outlet) -> float:
        shops = outlet.opens + HALL_DAYS * DAY
        return shops + max(1.5 * DAY, lot.packed + lot.shelf_days * DAY - shops)

    def declare(self, lot: Lot) -> None:
        rng = self.rng
        self.emit(
            lot.packed - rng.uniform(3, 20) * DAY,
            {
                "type": "issue",
                "gtin": lot.gtin,
                "first": str(lot.first),
                "last": str(lot.last),
                "packing_house": lot.house,
            },
        )
        self.emit(
            lot.activated,
            {
                "type": "activate",
                "gtin": lot.gtin,
                "first": str(lot.first),
                "last": str(lot.last),
                "lot": lot.code,
                "origin": {"lat": lot.origin.lat, "lon": lot.origin.lon, "country": "VN"},
                "markets": ["CN", _place(lot.dest)],
                "shelf_life_days": lot.shelf_days,
                "packing_house": lot.house,
                "province": lot.province,
                "gates": [_place(lot.gate), _place(lot.gate_cn)],
                "places": [_place(lot.hub)],
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

    # A fruit's life after the shop

    def sale(self, lot: Lot, outlet: Outlet) -> float:
        """When a fruit of the lot is sold at the outlet, once it has left the wholesale hall: most in the first
        days, a tail to the shelf life."""
        shops = outlet.opens + HALL_DAYS * DAY
        left = self.last_sale(lot, outlet) - shops
        return shops + min(self.rng.gammavariate(1.5, left / 4.5), left)

    def outlet_of(self, lot: Lot, serial: int) -> Outlet:
        return next(o for o in lot.outlets if o.first <= serial <= o.last)

    def main_outlet(self, lot: Lot) -> Outlet:
        return next(o for o in lot.outlets if o.city is lot.dest)

    def fate(self, lot: Lot, serial: int) -> tuple[City, float, str]:
        """Where and when a genuine fruit of the lot reaches its buyer."""
        rng = self.rng
        outlet = self.outlet_of(lot, serial)
        sold = self.sale(lot, outlet)
        if outlet.city.country == "CN" and rng.random() < self.c.ecommerce_share:
            return self.pick(CN_CITIES), sold + rng.uniform(1, 3) * DAY, "ecommerce"
        return outlet.city, sold, outlet.channel

    def consume(self, item: Item, city: City, bought: float) -> None:
        """The buyer's household scans a fruit it bought: the buyer, again, the family, an office, a gift."""
        rng, c = self.rng, self.c
        home = self.household()
        buyer = home.members[0]
        opened = bought + (rng.uniform(1, 10) * HOUR if rng.random() < 0.4 else rng.uniform(0.5, 3) * DAY)
        gift = rng.random() < c.gift_share
        leaves = bought + rng.uniform(2, 40) * HOUR if gift else math.inf
        buyer_scans = not gift or rng.random() < 0.4
        first = math.inf
        if buyer_scans:
            if rng.random() < 0.35:
                first, network = bought + rng.uniform(0.01, 0.3) * HOUR, None  # in the shop
            else:
                first = min(opened, leaves) - rng.uniform(0, 0.5) * HOUR
                first = max(first, bought + 0.1 * HOUR)
                network = home.wifi if rng.random() < 0.85 else None
            self.scan(first, item, buyer, home.hid, city, network, "buyer")
            for _ in range(rng.choice((0, 0, 0, 0, 0, 1, 1, 2))):
                again = first + rng.expovariate(1 / 3) * HOUR
                if again < leaves:
                    self.scan(again, item, buyer, home.hid, city, home.wifi if rng.random() < 0.6 else None, "repeat")
            if item.pin != "none" and rng.random() < 0.3:
                if item.pin == "valid" and rng.random() < 0.05:
                    self.pin(first + rng.uniform(0.5, 2) * MINUTE, item, buyer, home.hid, city, False)
                self.pin(first + rng.uniform(2, 5) * MINUTE, item, buyer, home.hid, city, item.pin == "valid")
        if gift:
            self.gift(item, city, leaves if first == math.inf else max(leaves, first + HOUR))
            return
        if rng.random() < c.office_share:
            self.office(item, city, opened)
            return
        for member in home.members[1:]:
            if rng.random() < 0.35:
                when = opened + (rng.uniform(-0.5, 2) * HOUR if rng.random() < 0.85 else rng.uniform(12, 30) * HOUR)
                when = max(when, bought + 0.2 * HOUR)
                self.scan(when, item, member, home.hid, city, home.wifi if rng.random() < 0.8 else None, "household")
        if buyer_scans and rng.random() < 0.01:
            self.scan(first + rng.uniform(14, 45) * DAY, item, buyer, home.hid, city, home.wifi, "rescan")

    def office(self, item: Item, city: City, opened: float) -> None:
        rng = self.rng
        network = self.ident("o")
        for _ in range(rng.randint(2, 6)):
            colleague = self.household()
            self.scan(
                opened + rng.uniform(0, 1.5) * HOUR,
                item,
                colleague.members[0],
                colleague.hid,
                city,
                network if rng.random() < 0.7 else None,
                "office",
            )

    def gift(self, item: Item, city: City, leaves: float) -> None:
        rng = self.rng
        pool = CN_CITIES if city.country == "CN" else VN_MARKETS
        dest = self.pick(pool, exclude=(city.name,))
        distance = km(city, dest)
        travel = 4.5 + distance / 750 if distance > 700 else 1.5 + distance / 200  # plane, or train or car
        arrives = leaves + travel * HOUR
        receiver = self.household()
        when = arrives + rng.uniform(0.3, 30) * HOUR
        self.scan(
            when, item, receiver.members[0], receiver.hid, dest, receiver.wifi if rng.random() < 0.7 else None, "gift"
        )
        for member in receiver.members[1:]:
            if rng.random() < 0.3:
                later = when + rng.uniform(0, 3) * HOUR
                self.scan(later, item, member, receiver.hid, dest, receiver.wifi, "gift")

    # The genuine chain

    def genuine(self, lot: Lot) -> None:
        rng, c = self.rng, self.c
        size = lot.last - lot.first + 1
        mean = size * c.scan_rate
        count = max(0, min(size, round(rng.gauss(mean, math.sqrt(mean * (1 - c.scan_rate))))))
        for serial in rng.sample(range(lot.first, lot.last + 1), count):
            if (lot.gtin, serial) in self.attacked:
                continue  # its genuine fruit is played by the attack
            item = Item(lot.gtin, serial, lot, "genuine", None, None, 0, "", "valid" if lot.pin else "none")
            city, bought, item.channel = self.fate(lot, serial)
            self.consume(item, city, bought)
        self.trade(lot, size)

    def trade(self, lot: Lot, size: int) -> None:
        """Border inspectors and customs sample a few fruit; the importer samples at the hub."""
        rng = self.rng
        samples = [
            ("inspector", "border", lot.gate, lot.at_gate + rng.uniform(0.5, 4) * HOUR, rng.randint(2, 6)),
            ("inspector", "customs", lot.gate_cn, lot.crossed + rng.uniform(0.5, 4) * HOUR, rng.randint(2, 8)),
            ("distributor", "distributor", lot.hub, lot.at_hub + rng.uniform(0.5, 6) * HOUR, round(size * 0.003)),
        ]
        if "turned_back" in lot.tags:
            samples = samples[:1]
        for role, behaviour, place, when, count in samples:
            team = self.staff_of(f"{behaviour}-{place.name}", 3)
            device = rng.choice(team)
            for i, serial in enumerate(rng.sample(range(lot.first, lot.last + 1), count)):
                item = self.at_hand(lot, serial, "trade")
                self.scan(
                    when + i * rng.uniform(20, 90), item, device, f"staff:{device.device}", place, None, behaviour, role
                )

    def staff_of(self, key: str, size: int) -> list[Person]:
        team = self.staff.get(key)
        if team is None:
            team = self.staff[key] = [self.person(staff=True) for _ in range(size)]
        return team

    def at_hand(self, lot: Lot, serial: int, channel: str) -> Item:
        """The genuine fruit carrying this serial, for a scan by someone who picks it off a pallet."""
        attacked = self.attacked.get((lot.gtin, serial))
        if attacked is not None:
            return Item(lot.gtin, serial, lot, "genuine", attacked.attack, attacked.kind, 0, channel, attacked.pin)
        return Item(lot.gtin, serial, lot, "genuine", None, None, 0, channel, "valid" if lot.pin else "none")

    def sweeps(self) -> None:
        """Market inspectors sweep wholesale halls: one device, many stamps, whatever is in the hall."""
        rng, c = self.rng, self.c
        by_city: dict[str, list[Stock]] = {}
        for lot in self.lots:
            for outlet in lot.outlets:
                size = (lot.last - lot.first + 1) * outlet.share
                end = outlet.opens + HALL_DAYS * DAY
                self.stock.append(Stock(outlet.city, outlet.opens, end, size, lot, outlet))
        for stock in self.stock:
            by_city.setdefault(stock.city.name, []).append(stock)
        rate = c.sweeps_per_city_week / 7
        for city in [*CN_CITIES, *VN_MARKETS]:
            stocks = by_city.get(city.name)
            if not stocks:
                continue
            team = self.staff_of(f"sweep-{city.name}", 3)
            hall = self.ident("hall")
            t = self.start + rng.expovariate(rate) * DAY
            while t < self.end:
                present = [s for s in stocks if s.begin <= t <= s.end]
                if present:
                    self.sweep(t, city, rng.choice(team), hall, present)
                t += rng.expovariate(rate) * DAY

    def sweep(self, t: float, city: City, device: Person, hall: str, present: list[Stock]) -> None:
        """One inspector walks the hall and scans stamped fruit 10–60 s apart. Most of what stands in a big hall is
        other exporters' fruit, outside this world (`HALL_BACKGROUND`): those scans take time and leave no event.
        Each fruit is scanned once."""
        rng = self.rng
        stands: list[tuple[Stock | None, list[Copy]]] = [(None, [])]
        weights: list[float] = [HALL_BACKGROUND]
        for standing in present:
            if standing.copies is None:
                stands.append((standing, []))
                weights.append(standing.weight)
                continue
            waiting = [cp for cp in standing.copies if t <= cp.sold <= t + HALL_DAYS * DAY]  # in the hall now
            if waiting:
                stands.append((standing, waiting))
                weights.append(float(len(waiting)))
        network = hall if rng.random() < 0.3 else None
        seen: set[tuple[str, int, int]] = set()
        for _ in range(rng.randint(20, 120)):
            t += rng.uniform(10, 60)
            stock, waiting = rng.choices(stands, weights=weights)[0]
            if stock is None:
                continue
            if stock.item is not None:
                cp = rng.choice(waiting)
                template = stock.item
                item = Item(
                    template.gtin,
                    cp.serial,
                    template.lot,
                    "fake",
                    template.attack,
                    template.kind,
                    cp.instance,
                    "fake",
                    template.pin,
                    template.sig_valid,
                )
            elif stock.lot is not None and stock.outlet is not None:
                item = self.at_hand(stock.lot, rng.randint(stock.outlet.first, stock.outlet.last), "hall")
            else:
                continue
            fruit = (item.gtin, item.serial, item.instance)
            if fruit in seen:
                continue
            seen.add(fruit)
            self.scan(t, item, device, f"staff:{device.device}", city, network, "sweep", "inspector")

    # Attacks

    def campaigns(self, kind: str) -> int:
        return max(1, round(self.c.lots / 10 * CAMPAIGNS_PER_TEN_LOTS[kind] * self.c.scale))

    def attackable(self) -> Lot:
        lots = [lot for lot in self.lots if lot.revoked_at is None and "turned_back" not in lot.tags]
        return self.rng.choice(lots)

    def claim(self, lot: Lot, k: int, attack: str, kind: str, outlet: Outlet | None = None) -> list[int]:
        """k serials of the lot (of one outlet's pallets) no other attack uses; their genuine fruit is remembered
        as attacked."""
        first, last = (lot.first, lot.last) if outlet is None else (outlet.first, outlet.last)
        out: list[int] = []
        while len(out) < k:
            serial = self.rng.randint(first, last)
            if (lot.gtin, serial) in self.attacked:
                continue
            genuine_pin = "valid" if lot.pin else "none"
            self.attacked[(lot.gtin, serial)] = Item(lot.gtin, serial, lot, "genuine", attack, kind, 0, "", genuine_pin)
            out.append(serial)
        return out

    def genuine_instance(self, item: Item) -> None:
        """The original fruit of an attacked serial, sold and scanned like any other."""
        if item.lot is None or self.rng.random() >= self.c.scan_rate:
            return
        city, bought, channel = self.fate(item.lot, item.serial)
        item.channel = channel
        self.consume(item, city, bought)

    def sell_copies(self, template: Item, city: City, copies: list[Copy], hall: bool = True) -> None:
        rng = self.rng
        for cp in copies:
            if rng.random() < self.c.scan_rate:
                fake = Item(
                    template.gtin,
                    cp.serial,
                    template.lot,
                    "fake",
                    template.attack,
                    template.kind,
                    cp.instance,
                    "fake",
                    template.pin,
                    template.sig_valid,
                )
                self.consume(fake, city, cp.sold)
        if hall and copies:
            begin = min(cp.sold for cp in copies) - HALL_DAYS * DAY
            end = max(cp.sold for cp in copies)
            self.stock.append(Stock(city, begin, end, 0.0, template.lot, None, copies, template))

    def copies(self, kind: str) -> None:
        rng = self.rng
        for number in range(self.campaigns(kind)):
            lot = self.attackable()
            attack = f"{kind}-{number}"
            slow = kind == "copy_slow_release"
            if kind == "copy_vietnam":
                city = self.pick(VN_MARKETS)
                begin = lot.packed + rng.uniform(2, 7) * DAY  # an insider photographed the roll at packing
                span = rng.uniform(7, 30)
                pin = rng.choice(("valid", "wrong")) if lot.pin else "none"
            else:
                obtained = lot.at_dest + rng.uniform(0, 2) * DAY
                if kind == "copy_same_market" or (slow and rng.random() < 0.6):
                    city = lot.dest
                else:
                    city = self.pick(CN_CITIES, exclude=tuple(p.name for p in lot.places))
                begin = obtained + (rng.uniform(1, 4) + km(lot.dest, city) / 800) * DAY
                span = rng.uniform(3, 14)
                pin = "wrong" if lot.pin else "none"  # photographed unscratched: a printed panel, a made-up code
            k = rng.randint(1, 4) if slow else rng.randint(1, 10)
            template = Item(lot.gtin, 0, lot, "fake", attack, kind, 0, "fake", pin)
            source = None if kind == "copy_vietnam" else self.main_outlet(lot)  # bought at the destination
            for serial in self.claim(lot, k, attack, kind, source):
                self.genuine_instance(self.attacked[(lot.gtin, serial)])
                n = rng.randint(5, 20) if slow else rng.randint(5, 60)
                sold: list[float] = []
                t = begin
                for _ in range(n):
                    if slow:
                        t += rng.expovariate(1 / rng.uniform(2, 5)) * DAY
                        sold.append(t)
                    else:
                        sold.append(begin + rng.uniform(0, span) * DAY)
                copies = [Copy(serial, i + 1, ts) for i, ts in enumerate(sorted(sold))]
                self.sell_copies(template, city, copies)

    def cautious(self) -> None:
        rng = self.rng
        kind = "cautious_copier"
        for number in range(self.campaigns(kind)):
            lot = self.attackable()
            attack = f"{kind}-{number}"
            outlets = [o for o in lot.outlets if o.city.country == "CN"]
            outlet = rng.choices(outlets, weights=[o.share for o in outlets])[0]
            city = outlet.city
            copier = self.household()
            template = Item(lot.gtin, 0, lot, "fake", attack, kind, 0, "fake", "valid" if lot.pin else "none")
            for serial in self.claim(lot, rng.randint(1, 4), attack, kind, outlet):
                original = self.attacked[(lot.gtin, serial)]
                bought = self.sale(lot, outlet)
                original.channel = outlet.channel
                if rng.random() < 0.5:  # checks that the stamp is real before copying it
                    when = bought + rng.uniform(0.2, 6) * HOUR
                    self.scan(when, original, copier.members[0], copier.hid, city, copier.wifi, "copier_check")
                if rng.random() < 0.5 and rng.random() < self.c.scan_rate:  # resells the original with the copies
                    self.consume(original, city, bought + rng.uniform(0.5, 5) * DAY)
                copies = [Copy(serial, i + 1, bought + rng.uniform(0.5, 5) * DAY) for i in range(rng.randint(1, 2))]
                self.sell_copies(template, city, copies, hall=False)

    def reuse(self) -> None:
        rng = self.rng
        kind = "reused_tag"
        for number in range(self.campaigns(kind)):
            lot = self.attackable()
            attack = f"{kind}-{number}"
            outlets = [o for o in lot.outlets if o.city.country == "CN"]
            outlet = rng.choices(outlets, weights=[o.share for o in outlets])[0]
            city = outlet.city if rng.random() < 0.7 else self.pick(CN_CITIES, exclude=(outlet.city.name,))
            template = Item(lot.gtin, 0, lot, "fake", attack, kind, 0, "fake", "none")
            for serial in self.claim(lot, rng.randint(5, 30), attack, kind, outlet):
                original = self.attacked[(lot.gtin, serial)]
                self.genuine_instance(original)
                sold = self.sale(lot, outlet) + rng.uniform(14, 56) * DAY
                self.sell_copies(template, city, [Copy(serial, 1, sold)], hall=False)

    def stolen(self) -> None:
        rng = self.rng
        kind = "stolen_roll"
        for number in range(self.campaigns(kind)):
            h = rng.randrange(len(PACKING_HOUSES))
            gtin = gtin_for(h)
            first = self.next_serial.get(gtin, 100_000)
            self.next_serial[gtin] = first + 1000
            stolen_at = self.start + rng.uniform(-10, self.c.season_days - 10) * DAY
            self.emit(
                stolen_at - rng.uniform(3, 20) * DAY,
                {
                    "type": "issue",
                    "gtin": gtin,
                    "first": str(first),
                    "last": str(first + 999),
                    "packing_house": PACKING_HOUSES[h][0],
                },
            )
            attack = f"{kind}-{number}"
            city = self.pick(CN_CITIES) if rng.random() < 0.7 else self.pick(VN_MARKETS)
            begin = stolen_at + rng.uniform(5, 15) * DAY
            span = rng.uniform(5, 25)
            template = Item(gtin, 0, None, "fake", attack, kind, 1, "fake", "valid")
            serials = rng.sample(range(first, first + 1000), rng.randint(50, 400))
            copies = [Copy(s, 1, begin + rng.uniform(0, span) * DAY) for s in serials]
            self.sell_copies(template, city, copies)

    def guessed(self) -> None:
        rng = self.rng
        kind = "guessed_serial"
        for number in range(self.campaigns(kind)):
            gtin = gtin_for(rng.randrange(len(PACKING_HOUSES)))
            attack = f"{kind}-{number}"
            city = self.pick(CN_CITIES)
            begin = self.start + rng.uniform(5, self.c.season_days) * DAY
            forger = self.household()
            network = self.ident("w")
            template = Item(gtin, 0, None, "fake", attack, kind, 1, "fake", "none", sig_valid=False)
            for i in range(rng.choice((0, rng.randint(20, 60)))):  # the forger tries the codes first
                probe = Item(gtin, rng.randint(100_000, 10**7), None, "fake", attack, kind, 1, "fake", "none", False)
                when = begin - HOUR + i * rng.uniform(3, 20)
                self.scan(when, probe, forger.members[0], forger.hid, city, network, "forger_test")
            copies = [
                Copy(rng.randint(100_000, 10**7), 1, begin + rng.uniform(0, 20) * DAY)
                for _ in range(rng.randint(50, 300))
            ]
            self.sell_copies(template, city, copies)

    def build(self) -> World:
        self.build_lots()
        # Attacks first: they choose which serials they copy, and the genuine flow leaves those to them.
        for kind in ("copy_same_market", "copy_other_city", "copy_vietnam", "copy_slow_release"):
            self.copies(kind)
        self.cautious()
        self.reuse()
        self.stolen()
        self.guessed()
        for lot in self.lots:
            self.genuine(lot)
        self.sweeps()
        self.events.sort(key=lambda item: (item[0], item[1]))
        return World(self.c, [e for _, _, e in self.events], self.labels, self.lots)


def build_world(config: WorldConfig) -> World:
    return _Builder(config).build()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lots", type=int, default=100)
    parser.add_argument("--scan-rate", type=float, default=0.05, help="consumer scan rate, 0.01–0.10")
    parser.add_argument("--vpn", type=float, default=0.05, help="share of phones behind a VPN exit abroad")
    parser.add_argument("--resale", type=float, default=0.10, help="share of lots resold off their declared route")
    parser.add_argument("--out", type=Path, required=True, help="events, JSON lines")
    parser.add_argument("--labels", type=Path, help="ground truth, JSON lines")
    args = parser.parse_args(argv)
    config = WorldConfig(
        seed=args.seed, lots=args.lots, scan_rate=args.scan_rate, vpn_share=args.vpn, resale_share=args.resale
    )
    world = build_world(config)
    world.write(args.out, args.labels)
    print(f"{len(world.events)} events, {len(world.labels)} labelled, {len(world.lots)} lots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
