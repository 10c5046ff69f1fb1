"""`tem replay`: run the detection engine over a JSON-lines event log and write one line per alert change.

This is the I/O edge around the pure engine: it parses lines, keeps the registry the log describes (issued,
activated and revoked ranges, revoked keys) and streams alerts out. Memory grows with the number of scanned
stamps and ranges, never with the number of events. Line types (unknown fields are ignored everywhere):

- `activate`: gtin, first, last, lot, origin {lat, lon, country}, markets, shelf_life_days; optional
  packing_house, province, gates, places, transit (see docs/detection.md).
- `revoke`: gtin, first, last, optional category (withdrawn, stolen, recalled, misprinted or other; other when
  absent), optional reason (accepted and never used: explanations name the category); or kid (the signing key
  is revoked, category key_withdrawn).
- `issue` (optional): gtin, first, last, packing_house: serials issued but not yet activated.
- `scan`: gtin, serial, sig_valid, country; optional lat, lon, accuracy_km, device, role, id, network, kid.
- `pin`: gtin, serial, ok; optional device, id, network.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from detection.engine import Alert, Engine, EngineConfig, LotRoute, PinEvent, Role, Scan, ScanResult, Waypoint
from detection.engine.model import Scope, StampState
from detection.ports import RANGE_CATEGORIES, RevocationCategory

ROLES = {r.value: r for r in Role}
_FREEZE_EVERY = 20_000


class BadLine(ValueError):
    """One input line that cannot be used; `line` is its 1-based number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class _Invalid(ValueError):
    pass


@dataclass(slots=True)
class _Spans:
    """Disjoint ranges of one GTIN, sorted by first serial."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def find(self, serial: int) -> Any:
        i = bisect.bisect_right(self.starts, serial) - 1
        if i >= 0 and self.ends[i] >= serial:
            return self.values[i]
        return None

    def add(self, first: int, last: int, value: Any) -> bool:
        i = bisect.bisect_right(self.starts, first)
        if (i > 0 and self.ends[i - 1] >= first) or (i < len(self.starts) and self.starts[i] <= last):
            return False
        self.starts.insert(i, first)
        self.ends.insert(i, last)
        self.values.insert(i, value)
        return True


@dataclass(slots=True)
class Registry:
    """What the log has said so far about ranges and keys."""

    activated: dict[str, _Spans] = field(default_factory=dict)
    issued: dict[str, _Spans] = field(default_factory=dict)
    revoked: dict[str, list[tuple[int, int, RevocationCategory]]] = field(default_factory=dict)
    revoked_kids: set[str] = field(default_factory=set)

    def lookup(
        self, gtin: str, serial: str, kid: str | None
    ) -> tuple[StampState, LotRoute | None, RevocationCategory | None]:
        number = int(serial) if serial.isdigit() else -1
        spans = self.activated.get(gtin)
        route: LotRoute | None = spans.find(number) if spans is not None else None
        if kid is not None and kid in self.revoked_kids:
            return StampState.KEY_REVOKED, route, RevocationCategory.KEY_WITHDRAWN
        for first, last, category in self.revoked.get(gtin, ()):
            if first <= number <= last:
                return StampState.REVOKED, route, category
        if route is not None:
            return StampState.ACTIVATED, route, None
        issued = self.issued.get(gtin)
        if issued is not None and issued.find(number) is not None:
            return StampState.NOT_ACTIVATED, None, None
        return StampState.UNKNOWN_SERIAL, None, None

    def issuer(self, gtin: str, serial: str) -> str | None:
        issued = self.issued.get(gtin)
        if issued is None or not serial.isdigit():
            return None
        house: str | None = issued.find(int(serial))
        return house


@dataclass(slots=True)
class Stats:
    lines: int = 0
    events: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    skipped: int = 0


class Replayer:
    """Feeds parsed events to an `Engine`; `handle` returns the engine's result for scans and PIN entries."""

    def __init__(self, config: EngineConfig) -> None:
        self.engine = Engine(config)
        self.registry = Registry()
        self.stats = Stats()

    def handle(self, event: Any, line: int) -> tuple[str, ScanResult | None]:
        """Apply one event (a decoded JSON object). Returns its `ts` text and, for scans and PINs, the result."""
        try:
            if not isinstance(event, dict):
                raise _Invalid("not a JSON object")
            kind = event.get("type")
            ts_text = event.get("ts")
            if not isinstance(ts_text, str):
                raise _Invalid("'ts' must be an ISO 8601 time string")
            ts = _time(ts_text)
            if kind == "scan":
                result = self._scan(event, ts, line)
            elif kind == "pin":
                result = self._pin(event, ts, line)
            elif kind == "activate":
                self._activate(event, ts)
                result = None
            elif kind == "revoke":
                self._revoke(event)
                result = None
            elif kind == "issue":
                self._issue(event)
                result = None
            else:
                raise _Invalid(f"unknown type {kind!r} (activate, revoke, issue, scan or pin)")
        except _Invalid as exc:
            raise BadLine(line, str(exc)) from None
        events = self.stats.events
        events[kind] = events.get(kind, 0) + 1
        return ts_text, result

    def _scan(self, e: dict[str, Any], ts: float, line: int) -> ScanResult:
        # The hot path: most lines are scans, so fields are checked inline rather than through helpers.
        gtin = e.get("gtin")
        if type(gtin) is not str or not 8 <= len(gtin) <= 14 or not gtin.isdigit():
            gtin = _gtin(e)  # raises with the message
        serial = e.get("serial")
        if type(serial) is not str or not 0 < len(serial) <= 20:
            serial = _serial(e)
        sig = e.get("sig_valid", True)
        if type(sig) is not bool:
            raise _Invalid("'sig_valid' must be true or false")
        country = e.get("country")
        if type(country) is not str:
            raise _Invalid("'country' must be a string")
        role = ROLES.get(e.get("role", "consumer"))
        if role is None:
            raise _Invalid(f"'role' must be one of {', '.join(ROLES)}")
        lat, lon, accuracy = e.get("lat"), e.get("lon"), e.get("accuracy_km")
        if type(lat) is not float or type(lon) is not float or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            lat, lon = _coord(e, "lat", 90.0), _coord(e, "lon", 180.0)
            if (lat is None) != (lon is None):
                raise _Invalid("'lat' and 'lon' come together")
        if accuracy is not None and (type(accuracy) not in (int, float) or not 0 <= accuracy < math.inf):
            accuracy = _number(e, "accuracy_km", 0.0)
        device = e.get("device", "")
        scan_id = e.get("id")
        network = e.get("network")
        scan = Scan(
            scan_id if type(scan_id) is str else _text(e, "id") or f"L{line}",
            ts,
            gtin,
            serial,
            sig,
            country if country.isupper() else country.upper(),
            lat,
            lon,
            None if accuracy is None else float(accuracy),
            device if type(device) is str else _text(e, "device") or "",
            role,
            network if network is None or type(network) is str else _text(e, "network"),
        )
        if not sig:
            return self.engine.scan(scan, StampState.UNKNOWN_SERIAL, None)
        kid: str | None = None if e.get("kid") is None else _text(e, "kid")
        state, route, category = self.registry.lookup(gtin, serial, kid)
        issuer = self.registry.issuer(gtin, serial) if state is StampState.NOT_ACTIVATED else None
        return self.engine.scan(scan, state, route, category, issuer)

    def _pin(self, e: dict[str, Any], ts: float, line: int) -> ScanResult:
        gtin, serial = _gtin(e), _serial(e)
        ok = e.get("ok")
        if not isinstance(ok, bool):
            raise _Invalid("'ok' must be true or false")
        event = PinEvent(_text(e, "id") or f"L{line}", ts, gtin, serial, ok, _text(e, "device") or "")
        state, route, _category = self.registry.lookup(gtin, serial, None)
        return self.engine.pin(event, state, route)

    def _activate(self, e: dict[str, Any], ts: float) -> None:
        gtin = _gtin(e)
        first, last = _range(e)
        lot = _text(e, "lot")
        if not lot:
            raise _Invalid("'lot' is required")
        origin = e.get("origin")
        if not isinstance(origin, dict):
            raise _Invalid("'origin' must be an object with lat, lon and country")
        o_lat, o_lon = _coord(origin, "lat", 90.0), _coord(origin, "lon", 180.0)
        o_country = origin.get("country")
        if o_lat is None or o_lon is None or not isinstance(o_country, str):
            raise _Invalid("'origin' needs lat, lon and country")
        shelf = _number(e, "shelf_life_days", 0.0)
        if shelf is None or shelf <= 0:
            raise _Invalid("'shelf_life_days' must be a positive number")
        markets: set[str] = set()
        places: list[Waypoint] = []
        raw_markets = e.get("markets")
        if not isinstance(raw_markets, list) or not raw_markets:
            raise _Invalid("'markets' must be a non-empty list")
        for m in raw_markets:
            if isinstance(m, str):
                markets.add(m.upper())
            elif isinstance(m, dict):
                place = _waypoint(m, "markets")
                markets.add(place.country)
                places.append(place)
            else:
                raise _Invalid("each market is a country code or a place object")
        places += [_waypoint(p, "places") for p in _list(e, "places")]
        gates = tuple(_waypoint(g, "gates") for g in _list(e, "gates"))
        transit = frozenset(c.upper() for c in _list(e, "transit") if isinstance(c, str))
        route = LotRoute(
            lot=lot,
            gtin=gtin,
            origin_lat=o_lat,
            origin_lon=o_lon,
            origin_country=o_country.upper(),
            activated_at=ts,
            markets=frozenset(markets),
            shelf_life_days=shelf,
            packing_house=_text(e, "packing_house"),
            province=_text(e, "province"),
            gates=gates,
            places=tuple(places),
            transit_countries=transit,
        )
        if not self.registry.activated.setdefault(gtin, _Spans()).add(first, last, route):
            raise _Invalid(f"range {first}–{last} overlaps a range already activated for {gtin}")

    def _revoke(self, e: dict[str, Any]) -> None:
        kid = _text(e, "kid")
        if kid is not None and "first" not in e:
            self.registry.revoked_kids.add(kid)
            return
        gtin = _gtin(e)
        first, last = _range(e)
        self.registry.revoked.setdefault(gtin, []).append((first, last, _category(e)))

    def _issue(self, e: dict[str, Any]) -> None:
        gtin = _gtin(e)
        first, last = _range(e)
        house = _text(e, "packing_house")
        if not house:
            raise _Invalid("'packing_house' is required")
        if not self.registry.issued.setdefault(gtin, _Spans()).add(first, last, house):
            raise _Invalid(f"range {first}–{last} overlaps a range already issued for {gtin}")


def alert_line(ts_text: str, alert: Alert) -> str:
    line: dict[str, Any] = {
        "ts": ts_text,
        "type": alert.type.value,
        "gtin": alert.gtin,
        "serial": alert.serial,
        "severity": alert.severity.label,
        "evidence": list(alert.evidence),
    }
    # The evidence is scan ids (line numbers): what a person acts on is the lot.
    if alert.scope is Scope.LOT:
        line["lot"] = alert.lots[0] if alert.lots else None
    elif alert.scope is Scope.PACKING_HOUSE:
        line["packing_house"] = alert.subject
        line["lots"] = list(alert.lots)
    return orjson.dumps(line).decode()


def replay(
    lines: Iterable[bytes],
    out: IO[str],
    config: EngineConfig,
    skip_bad: bool = False,
    on_skip: Any = None,
) -> Stats:
    """Stream `lines` through the engine, writing alert lines to `out`. A bad line raises `BadLine` unless
    `skip_bad`, when it is counted and reported to `on_skip(BadLine)`."""
    replayer = Replayer(config)
    stats = replayer.stats
    loads = orjson.loads  # a quarter of the run with the standard library's parser
    handle = replayer.handle
    write = out.write
    try:
        for number, raw in enumerate(lines, start=1):
            stats.lines = number
            if not number % _FREEZE_EVERY:
                # The stamps' memories live to the end of the run and hold no cycles: freezing them keeps the
                # cyclic collector from re-scanning an ever larger heap, a third of the run time otherwise.
                gc.freeze()
            if not raw.strip():
                continue
            try:
                try:
                    event = loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise BadLine(number, f"not JSON: {exc}") from None
                ts_text, result = handle(event, number)
            except BadLine as bad:
                if not skip_bad:
                    raise
                stats.skipped += 1
                if on_skip is not None:
                    on_skip(bad)
                continue
            if result is not None and result.alerts:
                for alert in result.alerts:
                    write(alert_line(ts_text, alert))
                    write("\n")
                stats.alerts += len(result.alerts)
    finally:
        gc.unfreeze()
    return stats


# Field parsing


def _time(text: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(f"'ts' is not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise _Invalid(f"'ts' needs a time zone (e.g. a trailing Z): {text!r}")
    return moment.timestamp()


def _text(e: dict[str, Any], key: str) -> str | None:
    value = e.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(f"{key!r} must be a string")


def _category(e: dict[str, Any]) -> RevocationCategory:
    """A range revocation's category: `other` when absent (logs written before categories existed)."""
    value = e.get("category")
    if value is None:
        return RevocationCategory.OTHER
    if value not in RANGE_CATEGORIES:
        raise _Invalid(f"'category' must be one of {', '.join(RANGE_CATEGORIES)}, not {value!r}")
    return RevocationCategory(value)


def _gtin(e: dict[str, Any]) -> str:
    gtin = e.get("gtin")
    if not isinstance(gtin, str) or not gtin.isdigit() or not 8 <= len(gtin) <= 14:
        raise _Invalid("'gtin' must be a string of 8 to 14 digits")
    return gtin


def _serial(e: dict[str, Any]) -> str:
    serial = e.get("serial")
    if isinstance(serial, int) and not isinstance(serial, bool) and serial >= 0:
        return str(serial)
    if not isinstance(serial, str) or not serial or len(serial) > 20:
        raise _Invalid("'serial' must be a non-empty string of at most 20 characters")
    return serial


def _range(e: dict[str, Any]) -> tuple[int, int]:
    bounds = []
    for key in ("first", "last"):
        value = e.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _Invalid(f"{key!r} must be a serial number")
        bounds.append(value)
    if bounds[0] > bounds[1]:
        raise _Invalid("'first' is after 'last'")
    return bounds[0], bounds[1]


def _number(e: dict[str, Any], key: str, low: float) -> float | None:
    value = e.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
        raise _Invalid(f"{key!r} must be a number ≥ {low:g}")
    return float(value)


def _coord(e: dict[str, Any], key: str, limit: float) -> float | None:
    value = e.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
        raise _Invalid(f"{key!r} must be a number within ±{limit:g}")
    return float(value)


def _list(e: dict[str, Any], key: str) -> list[Any]:
    value = e.get(key, [])
    if not isinstance(value, list):
        raise _Invalid(f"{key!r} must be a list")
    return value


def _waypoint(p: Any, where: str) -> Waypoint:
    if not isinstance(p, dict):
        raise _Invalid(f"each of {where!r} must be an object with name, lat, lon and country")
    lat, lon = _coord(p, "lat", 90.0), _coord(p, "lon", 180.0)
    country = p.get("country")
    if lat is None or lon is None or not isinstance(country, str):
        raise _Invalid(f"each of {where!r} needs lat, lon and country")
    return Waypoint(_text(p, "name") or f"{lat:.2f},{lon:.2f}", lat, lon, country.upper(), _number(p, "radius_km", 0))
