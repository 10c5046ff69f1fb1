"""The detection engine's rules: each fires on its attack pattern, and the genuine patterns that look like it
(a border crossing with 200 km IP error, a household's phones, a gift flown across the country, a VPN) never
make a consumer's verdict "counterfeit"."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import itertools
import struct
from pathlib import Path

import pytest

from detection.engine import (
    Engine,
    EngineConfig,
    FindingType,
    LotRoute,
    PinEvent,
    Role,
    Scan,
    Scope,
    Severity,
    Sighting,
    StampMemory,
    Waypoint,
    default_config,
    dismiss,
    open_alert_types,
    raise_level,
    stamp_verdict,
)
from detection.engine.engine import ScanResult
from detection.engine.model import StampState, Verdict

GTIN = "08935000000014"
T0 = dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0
DAY = 86400.0

# Places (lat, lon, country)
TIEN_GIANG = (10.36, 106.36, "VN")
LANG_SON = (21.85, 106.76, "VN")
PINGXIANG = (22.10, 106.75, "CN")
NANNING = (22.82, 108.32, "CN")
GUANGZHOU = (23.13, 113.26, "CN")
BEIJING = (39.90, 116.40, "CN")
SHANGHAI = (31.23, 121.47, "CN")
HANOI = (21.03, 105.85, "VN")
LOS_ANGELES = (34.05, -118.24, "US")
TOKYO = (35.68, 139.69, "JP")

_ids = itertools.count(1)


def route(**changes: object) -> LotRoute:
    base = LotRoute(
        lot="TG2606A",
        gtin=GTIN,
        origin_lat=TIEN_GIANG[0],
        origin_lon=TIEN_GIANG[1],
        origin_country="VN",
        activated_at=T0,
        markets=frozenset({"CN"}),
        shelf_life_days=21,
        packing_house="PH-TG-001",
        gates=(Waypoint("Hữu Nghị", 21.90, 106.68, "VN"), Waypoint("Pingxiang", 22.10, 106.75, "CN")),
        places=(Waypoint("Nanning", *NANNING), Waypoint("Guangzhou", *GUANGZHOU)),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def scan(
    at: float,
    place: tuple[float, float, str] | None,
    device: str,
    serial: str = "1234",
    accuracy: float | None = 200.0,
    role: Role = Role.CONSUMER,
    network: str | None = None,
    country: str | None = None,
    sig_valid: bool = True,
) -> Scan:
    lat, lon, where = place if place is not None else (None, None, country or "CN")
    return Scan(
        f"s{next(_ids)}",
        at,
        GTIN,
        serial,
        sig_valid,
        country or where,
        lat,
        lon,
        accuracy if place is not None else None,
        device,
        role,
        network,
    )


def worst(result: ScanResult, kind: FindingType) -> Severity | None:
    levels = [f.severity for f in result.findings if f.type is kind]
    return max(levels) if levels else None


@pytest.fixture
def config() -> EngineConfig:
    return default_config()


@pytest.fixture
def engine(config: EngineConfig) -> Engine:
    return Engine(config)


def feed(engine: Engine, scans: list[Scan], lot: LotRoute | None = None) -> list[ScanResult]:
    lot = lot or route()
    return [engine.scan(s, StampState.ACTIVATED, lot) for s in scans]


# Duplicate


def test_more_households_than_one_fruit_has_are_a_duplicate(engine: Engine) -> None:
    """Within a fruit's days a second household is a guest or a relative (half weight each); five are not."""
    day = T0 + 5 * DAY
    results = feed(engine, [scan(day + i * 15 * HOUR, NANNING, f"d{i}", network=f"n{i}") for i in range(5)])
    assert worst(results[0], FindingType.DUPLICATE) is None
    assert [worst(r, FindingType.DUPLICATE) for r in results[1:4]] == [Severity.INFO] * 3
    assert [r.verdict for r in results[:4]] == [Verdict.GENUINE] * 4
    assert worst(results[-1], FindingType.DUPLICATE) is Severity.WARNING
    assert results[-1].verdict is Verdict.SUSPECT
    finding = next(f for f in results[-1].findings if f.type is FindingType.DUPLICATE)
    assert len(finding.evidence) >= 4
    assert "independent" in finding.explanation_en
    assert "thiết bị" in finding.explanation_vi


def test_one_device_repeating_counts_once(engine: Engine) -> None:
    results = feed(engine, [scan(T0 + 5 * DAY + i * 5 * HOUR, NANNING, "same-phone") for i in range(20)])
    assert all(r.findings == [] for r in results)
    assert engine.stamps[(GTIN, "1234")].independent == 1.0


def test_a_household_with_two_phones_is_one_sighting(engine: Engine) -> None:
    day = T0 + 5 * DAY
    on_wifi = feed(
        engine,
        [
            scan(day, NANNING, "mum", accuracy=10, network="home"),
            scan(day + 8 * HOUR, NANNING, "dad", accuracy=10, network="home"),
        ],
    )
    assert all(r.verdict is Verdict.GENUINE for r in on_wifi)
    # On mobile data: different networks, ~200 km IP error, twenty minutes apart.
    mobile = feed(
        engine,
        [scan(day, NANNING, "a", serial="77"), scan(day + 1200, (23.9, 109.1, "CN"), "b", serial="77")],
    )
    assert all(r.findings == [] for r in mobile)


def test_inspectors_do_not_count_and_distributors_count_little(engine: Engine) -> None:
    day = T0 + 5 * DAY
    trade = [scan(day + i * DAY, NANNING, f"inspector{i}", role=Role.INSPECTOR, accuracy=0.05) for i in range(5)]
    trade += [scan(day + 0.5 * DAY, NANNING, "wholesaler", role=Role.DISTRIBUTOR, accuracy=10)]
    results = feed(engine, [*trade, scan(day + 6 * DAY, NANNING, "buyer")])
    assert engine.stamps[(GTIN, "1234")].independent == pytest.approx(1.25)
    assert all(worst(r, FindingType.DUPLICATE) is None for r in results)


# Impossible travel


def test_impossible_travel_between_two_precise_places_is_critical(engine: Engine) -> None:
    day = T0 + 6 * DAY
    results = feed(engine, [scan(day, NANNING, "a", accuracy=0.05), scan(day + 0.5 * HOUR, BEIJING, "b", accuracy=10)])
    assert worst(results[1], FindingType.IMPOSSIBLE_TRAVEL) is Severity.CRITICAL
    assert results[1].verdict is Verdict.COUNTERFEIT
    finding = next(f for f in results[1].findings if f.type is FindingType.IMPOSSIBLE_TRAVEL)
    assert len(finding.evidence) == 2
    assert "km/h" in finding.explanation_en


def test_crossing_the_border_with_mobile_ip_error_is_not_travel(engine: Engine) -> None:
    day = T0 + 3 * DAY
    # A distributor in Lạng Sơn, then a consumer's phone seen from a Chinese gateway 200 km off, an hour later.
    results = feed(
        engine,
        [
            scan(day, LANG_SON, "trucker", role=Role.DISTRIBUTOR),
            scan(day + HOUR, (23.9, 107.2, "CN"), "buyer"),
            scan(day + 2 * HOUR, PINGXIANG, "other", accuracy=200),
        ],
    )
    assert all(worst(r, FindingType.IMPOSSIBLE_TRAVEL) is None for r in results)
    assert all(r.verdict is not Verdict.COUNTERFEIT for r in results)


def test_two_mobile_ip_locations_400_km_apart_are_not_critical(engine: Engine) -> None:
    day = T0 + 6 * DAY
    results = feed(engine, [scan(day, (22.0, 107.5, "CN"), "a"), scan(day + 600, (24.5, 110.5, "CN"), "b")])
    assert results[1].verdict is not Verdict.COUNTERFEIT


def test_a_gift_flown_from_hanoi_to_guangzhou_is_not_counterfeit(engine: Engine) -> None:
    day = T0 + 4 * DAY
    results = feed(engine, [scan(day, HANOI, "giver", accuracy=10), scan(day + 6 * HOUR, GUANGZHOU, "receiver")])
    assert worst(results[1], FindingType.IMPOSSIBLE_TRAVEL) is None
    assert all(r.verdict is not Verdict.COUNTERFEIT for r in results)


def test_a_household_member_behind_a_vpn_is_not_travel(engine: Engine) -> None:
    day = T0 + 6 * DAY
    results = feed(
        engine,
        [
            scan(day, SHANGHAI, "a"),
            scan(day + 600, LOS_ANGELES, "b", accuracy=20),
            scan(day + 900, SHANGHAI, "c", accuracy=10),
        ],
    )
    assert all(worst(r, FindingType.IMPOSSIBLE_TRAVEL) is None for r in results)
    assert worst(results[1], FindingType.OFF_ROUTE) is Severity.INFO


def test_a_households_phones_on_its_wifi_count_once(engine: Engine) -> None:
    """The buyer on mobile data, then two phones at home on one Wi-Fi network: two sightings, not three."""
    day = T0 + 5 * DAY
    results = feed(
        engine,
        [
            scan(day, NANNING, "buyer", network="mobile-1", serial="30"),
            scan(day + 8 * HOUR, NANNING, "wife", network="home", serial="30", accuracy=20),
            scan(day + 8.2 * HOUR, NANNING, "son", network="home", serial="30", accuracy=20),
            scan(day + 9 * HOUR, NANNING, "son", network="home", serial="30", accuracy=20),
        ],
    )
    assert engine.stamps[(GTIN, "30")].independent == pytest.approx(1.5)
    assert all(r.verdict is Verdict.GENUINE for r in results)
    # The son's phone again days later, on mobile data: a known device is never new evidence.
    again = feed(engine, [scan(day + 5 * DAY, NANNING, "son", network="mobile-9", serial="30")])[0]
    assert engine.stamps[(GTIN, "30")].independent == pytest.approx(1.5)
    assert again.verdict is Verdict.GENUINE


def test_a_new_phone_days_after_the_fruit_would_be_eaten_is_another_fruit(engine: Engine) -> None:
    day = T0 + 5 * DAY
    soon = feed(engine, [scan(day, NANNING, "a", serial="31"), scan(day + 4 * DAY, NANNING, "b", serial="31")])
    assert all(worst(r, FindingType.REUSE_AFTER_CONSUMPTION) is None for r in soon)
    assert soon[-1].verdict is Verdict.GENUINE
    # The first phone again a week later is the same household keeping its stamp: nothing new.
    kept = feed(engine, [scan(day + 7 * DAY, NANNING, "a", serial="31")])[0]
    assert worst(kept, FindingType.REUSE_AFTER_CONSUMPTION) is None
    late = feed(engine, [scan(day + 7.5 * DAY, NANNING, "c", serial="31", network="c-home")])[0]
    assert worst(late, FindingType.REUSE_AFTER_CONSUMPTION) is Severity.WARNING
    assert late.verdict is Verdict.SUSPECT
    (told,) = [f for f in late.findings if f.type is FindingType.REUSE_AFTER_CONSUMPTION]
    assert "7.5 days after the first consumer check" in told.explanation_en


# Off route


def test_a_consumer_far_from_every_declared_place_gets_a_note(engine: Engine) -> None:
    """Online orders and gifts take genuine fruit anywhere in the country: a note, never a warning on its own."""
    results = feed(engine, [scan(T0 + 6 * DAY, BEIJING, "a", accuracy=10)])
    assert [(f.severity, f.rule) for f in results[0].findings] == [(Severity.INFO, "region")]
    assert results[0].verdict is Verdict.GENUINE


def test_a_lot_resold_elsewhere_is_learned_from_its_clean_stamps(engine: Engine, config: EngineConfig) -> None:
    day = T0 + 6 * DAY
    needed = config.off_route.learn_serials
    results = feed(
        engine, [scan(day + i * HOUR, SHANGHAI, f"d{i}", serial=str(2000 + i), accuracy=10) for i in range(needed + 1)]
    )
    assert all([f.rule for f in r.findings] == ["region"] for r in results[:needed])
    assert [f.rule for f in results[needed].findings] == ["region_learned"]
    assert results[needed].verdict is Verdict.GENUINE


def test_abroad_is_info_alone_and_at_most_a_warning(engine: Engine) -> None:
    day = T0 + 6 * DAY
    vpn = feed(engine, [scan(day, TOKYO, "a", serial="1", accuracy=20)])
    assert worst(vpn[0], FindingType.OFF_ROUTE) is Severity.INFO
    gps = feed(engine, [scan(day, TOKYO, "b", serial="2", accuracy=0.05)])
    assert worst(gps[0], FindingType.OFF_ROUTE) is Severity.WARNING
    # GPS abroad and a second device: a gift carried abroad looks the same, so still not proof.
    both = feed(engine, [scan(day + 2 * DAY, TOKYO, "c", serial="2", accuracy=0.05, network="x")])
    assert worst(both[0], FindingType.OFF_ROUTE) is Severity.WARNING
    assert both[0].verdict is Verdict.SUSPECT


def test_too_early_is_at_most_a_warning_in_words_that_say_what_was_seen(engine: Engine) -> None:
    early = feed(engine, [scan(T0 + 5 * HOUR, SHANGHAI, "a", accuracy=0.05)])
    assert worst(early[0], FindingType.OFF_ROUTE) is Severity.WARNING
    assert early[0].verdict is Verdict.SUSPECT
    (told,) = [f for f in early[0].findings if f.rule == "early"]
    assert told.severity is Severity.WARNING
    assert "5 h after the lot was activated" in told.explanation_en
    assert "by road" in told.explanation_en
    in_time = feed(engine, [scan(T0 + 4 * DAY, NANNING, "c", serial="10", accuracy=10)])
    assert in_time[0].findings == []


def test_a_first_scan_at_a_declared_destination_is_genuine_with_a_note(engine: Engine) -> None:
    """Activation recorded as the lot left, or late: a first look in Nanning an hour later is no evidence."""
    first = feed(engine, [scan(T0 + HOUR, NANNING, "buyer", serial="20", accuracy=10)])[0]
    assert first.verdict is Verdict.GENUINE
    assert [(f.severity, f.rule) for f in first.findings] == [(Severity.INFO, "early_note")]
    # The same phone scanning its fruit twice more stays genuine: repeat scans are never new evidence.
    again = feed(engine, [scan(T0 + 2 * HOUR, NANNING, "buyer", serial="20", accuracy=10)] * 2)
    assert [r.verdict for r in again] == [Verdict.GENUINE, Verdict.GENUINE]
    # Off the declared places it is still too early: suspect (not counterfeit).
    elsewhere = feed(engine, [scan(T0 + HOUR, SHANGHAI, "other", serial="21", accuracy=10)])[0]
    assert elsewhere.verdict is Verdict.SUSPECT


def test_time_on_the_road_counts_from_the_lots_recorded_stages() -> None:
    """A consumer's check in Shanghai, off the declared places (a note), judged for timing."""
    trader = Role.CONSUMER
    too_soon = Engine(default_config()).scan(
        scan(T0 + HOUR, SHANGHAI, "t", accuracy=10, role=trader), StampState.ACTIVATED, route()
    )
    assert [f.rule for f in too_soon.findings] == ["early", "region"]
    shipped = route(departed_at=T0 - 6 * DAY)  # packed and shipped a week before the stamps were activated
    result = Engine(default_config()).scan(
        scan(T0 + HOUR, SHANGHAI, "t", accuracy=10, role=trader), StampState.ACTIVATED, shipped
    )
    assert [f.rule for f in result.findings] == ["region"]
    assert result.verdict is Verdict.GENUINE
    # The chain's own checks show where the lot is: a trader's early check is never judged for timing.
    trader_check = Engine(default_config()).scan(
        scan(T0 + HOUR, SHANGHAI, "t", accuracy=10, role=Role.DISTRIBUTOR), StampState.ACTIVATED, route()
    )
    assert trader_check.findings == []
    # A stage recorded later than activation does not shorten the journey: activation still counts.
    recorded = route(departed_at=T0 + 3 * DAY)
    result = Engine(default_config()).scan(
        scan(T0 + 60 * HOUR, SHANGHAI, "t", accuracy=10, role=trader), StampState.ACTIVATED, recorded
    )
    assert [f.rule for f in result.findings] == ["region"]


def test_scanned_back_in_vietnam_after_being_sold_in_china(engine: Engine) -> None:
    day = T0 + 6 * DAY
    results = feed(engine, [scan(day, NANNING, "a"), scan(day + 5 * DAY, HANOI, "b", accuracy=10)])
    assert worst(results[1], FindingType.OFF_ROUTE) is Severity.WARNING


def test_an_export_lot_scanned_at_home_after_it_crossed_is_suspect(engine: Engine) -> None:
    """Export fruit is not sold in Vietnam: a consumer there once the lot can have crossed is a warning (the
    scan says where and when); before that, or where the lot was turned back and sold, a note."""
    before = feed(engine, [scan(T0 + 22 * HOUR, HANOI, "a", serial="40", accuracy=10)])[0]
    assert [(f.severity, f.rule) for f in before.findings] == [(Severity.INFO, "exported_info")]
    after = feed(engine, [scan(T0 + 5 * DAY, HANOI, "b", serial="41", accuracy=10)])[0]
    (told,) = after.findings
    assert (told.severity, told.rule, after.verdict) == (Severity.WARNING, "exported", Verdict.SUSPECT)
    assert "Scanned in VN" in told.explanation_en
    # A market inspector's sweep in Đà Nẵng too; the border gate's own inspectors are where the lot is.
    da_nang = (16.05, 108.22, "VN")
    sweep = feed(engine, [scan(T0 + 5 * DAY, da_nang, "i", serial="42", accuracy=0.05, role=Role.INSPECTOR)])[0]
    assert [f.rule for f in sweep.findings] == ["exported"]
    gate = feed(engine, [scan(T0 + 5 * DAY, LANG_SON, "i", serial="43", accuracy=0.05, role=Role.INSPECTOR)])[0]
    assert gate.findings == []
    # A gate that declared a radius of its own (20 km): a check 40 km away by a 20 km fix is still at the gate.
    tight = route(gates=(Waypoint("Hữu Nghị", 21.90, 106.68, "VN", 20.0), Waypoint("Pingxiang", 22.10, 106.75, "CN")))
    nearby = (21.54, 106.68, "VN")
    at_gate = feed(engine, [scan(T0 + 5 * DAY, nearby, "i2", serial="44", accuracy=20, role=Role.INSPECTOR)], tight)
    assert at_gate[0].findings == []


def test_a_lot_turned_back_and_sold_at_home_is_learned(engine: Engine, config: EngineConfig) -> None:
    day = T0 + 6 * DAY
    needed = config.off_route.learn_serials
    results = feed(
        engine, [scan(day + i * HOUR, HANOI, f"h{i}", serial=str(5000 + i), accuracy=10) for i in range(needed + 1)]
    )
    assert all([f.rule for f in r.findings] == ["exported"] for r in results[:needed])
    assert [f.rule for f in results[needed].findings] == ["exported_info"]
    assert results[needed].verdict is Verdict.GENUINE


# Lifecycle


def test_never_activated_and_revoked_serials(engine: Engine) -> None:
    never = engine.scan(scan(T0, NANNING, "a", serial="99"), StampState.NOT_ACTIVATED, None)
    assert worst(never, FindingType.NOT_ACTIVATED) is Severity.WARNING
    unknown = engine.scan(scan(T0, NANNING, "a", serial="98"), StampState.UNKNOWN_SERIAL, None)
    assert unknown.verdict is Verdict.SUSPECT
    revoked = engine.scan(scan(T0, NANNING, "a", serial="97"), StampState.REVOKED, route(), "recalled")
    assert worst(revoked, FindingType.REVOKED) is Severity.CRITICAL
    assert revoked.findings[0].explanation_en == "This stamp is revoked. Reason: Recalled for safety or quality."
    key = engine.scan(scan(T0, NANNING, "a", serial="96"), StampState.KEY_REVOKED, route(), "key_withdrawn")
    assert key.verdict is Verdict.COUNTERFEIT
    assert "The key that signed it was withdrawn" in key.findings[0].explanation_en


def test_well_past_shelf_life_is_a_warning(engine: Engine) -> None:
    on_time = feed(engine, [scan(T0 + 20 * DAY, NANNING, "a", serial="1")])
    assert worst(on_time[0], FindingType.PAST_SHELF_LIFE) is None
    late = feed(engine, [scan(T0 + 45 * DAY, NANNING, "b", serial="2")])
    assert worst(late[0], FindingType.PAST_SHELF_LIFE) is Severity.WARNING


def test_reuse_weeks_after_consumption(engine: Engine) -> None:
    results = feed(engine, [scan(T0 + 5 * DAY, NANNING, "eater"), scan(T0 + 25 * DAY, NANNING, "second-buyer")])
    assert worst(results[1], FindingType.REUSE_AFTER_CONSUMPTION) is Severity.WARNING


# PIN


def pin(engine: Engine, device: str, ok: bool, serial: str = "1234") -> ScanResult:
    event = PinEvent(f"p{next(_ids)}", T0 + 5 * DAY, GTIN, serial, ok, device)
    return engine.pin(event, StampState.ACTIVATED, route())


def test_a_pin_confirmed_twice_on_different_devices_is_a_warning(engine: Engine) -> None:
    assert pin(engine, "a", True).findings == []
    assert pin(engine, "a", True).findings == []  # the same phone again is harmless
    again = pin(engine, "b", True)
    assert worst(again, FindingType.PIN_REUSED) is Severity.WARNING  # the household's second phone could
    assert again.verdict is Verdict.SUSPECT
    assert len(again.findings[0].evidence) == 2


def test_repeated_wrong_pins(engine: Engine, config: EngineConfig) -> None:
    results = [pin(engine, "guesser", False, serial="5") for _ in range(config.pin.max_wrong)]
    assert all(r.findings == [] for r in results[:-1])
    assert worst(results[-1], FindingType.PIN_GUESSING) is Severity.WARNING


# Forged


def test_an_invalid_signature_is_critical_and_a_burst_opens_a_network_alert(
    engine: Engine, config: EngineConfig
) -> None:
    results = [
        engine.scan(
            scan(T0 + i, NANNING, "forger", serial=str(i), network="net-1", sig_valid=False),
            StampState.UNKNOWN_SERIAL,
            None,
        )
        for i in range(config.forged.burst_count)
    ]
    assert all(r.verdict is Verdict.COUNTERFEIT for r in results)
    bursts = [a for r in results for a in r.alerts if a.type is FindingType.FORGED_BURST]
    assert len(bursts) == 1
    assert bursts[0].serial is None
    assert bursts[0].scope is Scope.NETWORK
    assert results[-1].alerts[-1] is bursts[0]


# Escalation and alerts


def test_a_lot_escalates_when_enough_of_its_stamps_have_findings(config: EngineConfig) -> None:
    tuned = dataclasses.replace(
        config, escalation=dataclasses.replace(config.escalation, lot_min_scanned=5, lot_min_flagged=2)
    )
    engine = Engine(tuned)
    day = T0 + 6 * DAY
    clean = feed(engine, [scan(day, NANNING, f"c{i}", serial=str(3000 + i)) for i in range(6)])
    assert not any(a.scope is Scope.LOT for r in clean for a in r.alerts)
    flagged = feed(engine, [scan(day + HOUR, HANOI, f"f{i}", serial=str(4000 + i), accuracy=10) for i in range(2)])
    lot_alerts = [a for r in flagged for a in r.alerts if a.scope is Scope.LOT]
    assert [a.severity for a in lot_alerts] == [Severity.WARNING]
    assert lot_alerts[0].serial is None
    assert lot_alerts[0].gtin == GTIN


def test_stolen_rolls_show_up_at_their_packing_house(engine: Engine, config: EngineConfig) -> None:
    results = [
        engine.scan(
            scan(T0 + i * HOUR, NANNING, f"d{i}", serial=str(9000 + i)),
            StampState.NOT_ACTIVATED,
            None,
            issuer="PH-TG-001",
        )
        for i in range(config.escalation.house_not_activated)
    ]
    house = [a for r in results for a in r.alerts if a.type is FindingType.PACKING_HOUSE_ESCALATION]
    assert len(house) == 1
    assert house[0].subject == "PH-TG-001"
    assert house[0].serial is None


def test_an_alert_opens_once_and_again_only_when_its_severity_rises(engine: Engine) -> None:
    day = T0 + 5 * DAY
    results = feed(
        engine,
        [
            scan(day, NANNING, "a"),
            scan(day + DAY, NANNING, "b", accuracy=10, network="nb"),  # maybe the same fruit: info
            scan(day + 1.5 * DAY, NANNING, "b", accuracy=10, network="nb"),
            scan(day + 6 * DAY, NANNING, "c", accuracy=10, network="nc"),  # days later: warning
            scan(day + 7 * DAY, NANNING, "d", accuracy=10, network="nd"),
        ],
    )
    opened = [(a.type, a.severity) for r in results for a in r.alerts if a.type is FindingType.DUPLICATE]
    assert opened == [(FindingType.DUPLICATE, Severity.INFO), (FindingType.DUPLICATE, Severity.WARNING)]
    assert worst(results[-1], FindingType.DUPLICATE) is Severity.WARNING  # still a finding, no new alert


# Memory


def test_memory_is_bounded_and_round_trips(engine: Engine, config: EngineConfig) -> None:
    day = T0 + 5 * DAY
    feed(engine, [scan(day, NANNING, "first")])
    one = engine.stamps[(GTIN, "1234")].to_bytes()
    feed(engine, [scan(day + i * 600, NANNING, f"viral-{i}", network=f"n{i}") for i in range(1, 100)])
    mem = engine.stamps[(GTIN, "1234")]
    assert 70 <= mem.device_count() <= 130  # exact up to 8, then a 64-bit linear-counting sketch
    feed(engine, [scan(day + i * 600, NANNING, f"viral-{i}", network=f"n{i}") for i in range(100, 2000)])
    assert len(mem.sightings) <= config.duplicate.max_sightings
    assert len(mem.devices) <= config.duplicate.exact_devices
    assert mem.device_count() >= 200  # the sketch saturates near 270: "hundreds" is all it needs to say
    data = mem.to_bytes()
    assert len(one) < 150
    assert len(data) < 600
    again = StampMemory.from_bytes(data)
    assert again.to_bytes() == data
    assert again.sightings[0].scan_id == mem.sightings[0].scan_id
    assert again.independent == pytest.approx(mem.independent)
    placeless = StampMemory(sightings=[Sighting(T0, T0, None, None, 200.0, "", 1.0, True, [7], [], "s1")])
    (sighting,) = StampMemory.from_bytes(placeless.to_bytes()).sightings
    assert (sighting.lat, sighting.lon, sighting.country, sighting.devices) == (None, None, "", [7])


def test_the_verdict_is_the_stamps_open_alerts_not_one_scans_findings(engine: Engine) -> None:
    clean = feed(engine, [scan(T0 + 5 * DAY, NANNING, "a")])[0]
    assert clean.findings == []
    assert clean.verdict is Verdict.GENUINE
    day = T0 + 5 * DAY
    copies = feed(engine, [scan(day, NANNING, "a", serial="7"), scan(day + 5 * DAY, GUANGZHOU, "b", serial="7")])
    assert copies[-1].verdict is Verdict.SUSPECT
    mem = engine.stamps[(GTIN, "7")]
    assert open_alert_types(mem) == (FindingType.REUSE_AFTER_CONSUMPTION,)
    # The first buyer's phone again: nothing new found, the same stamp, the same word.
    repeat = feed(engine, [scan(day + 5 * DAY + HOUR, NANNING, "a", serial="7")])[0]
    assert not repeat.alerts
    assert repeat.verdict is Verdict.SUSPECT
    assert stamp_verdict(StampState.ACTIVATED, mem) is Verdict.SUSPECT


def test_a_dismissed_alert_clears_the_verdict_until_new_evidence(engine: Engine) -> None:
    day = T0 + 5 * DAY
    feed(engine, [scan(day, NANNING, "a", serial="8"), scan(day + 5 * DAY, GUANGZHOU, "b", serial="8")])
    mem = engine.stamps[(GTIN, "8")]
    assert stamp_verdict(StampState.ACTIVATED, mem) is Verdict.SUSPECT
    assert dismiss(mem, FindingType.REUSE_AFTER_CONSUMPTION)
    assert stamp_verdict(StampState.ACTIVATED, mem) is Verdict.GENUINE
    # The same phones again: the same evidence, already dismissed. No alert, still genuine.
    later = day + 5 * DAY + HOUR
    same = feed(engine, [scan(later, GUANGZHOU, "b", serial="8"), scan(later + HOUR, NANNING, "a", serial="8")])
    assert [(r.verdict, r.alerts) for r in same] == [(Verdict.GENUINE, [])] * 2
    # A new independent phone is new evidence: a fresh alert, and the verdict follows it.
    fresh = feed(engine, [scan(day + 6 * DAY, GUANGZHOU, "d", serial="8", accuracy=10)])[0]
    assert FindingType.REUSE_AFTER_CONSUMPTION in [a.type for a in fresh.alerts]
    assert fresh.verdict is Verdict.SUSPECT
    # Revoked stamps stay counterfeit whatever happened to their alerts: the registry's word is proof.
    assert stamp_verdict(StampState.REVOKED, StampMemory()) is Verdict.COUNTERFEIT


def test_an_inspectors_report_raises_the_stamps_level_and_its_closure_clears_it() -> None:
    mem = StampMemory()
    assert raise_level(mem, FindingType.INSPECTOR_COUNTERFEIT, Severity.CRITICAL)
    assert not raise_level(mem, FindingType.INSPECTOR_COUNTERFEIT, Severity.WARNING)  # never lowered this way
    assert stamp_verdict(StampState.ACTIVATED, mem) is Verdict.COUNTERFEIT
    again = StampMemory.from_bytes(mem.to_bytes())
    assert dismiss(again, FindingType.INSPECTOR_COUNTERFEIT)
    assert stamp_verdict(StampState.ACTIVATED, StampMemory.from_bytes(again.to_bytes())) is Verdict.GENUINE


def test_memory_written_before_dismissals_still_reads() -> None:
    """Version 1 (no `dismissed`, 32-bit levels) is what a store held before this version."""
    old = struct.Struct("<BIdfdddIBIHQBB").pack(1, 3, T0, 1.0, T0, T0, 0.0, 2 << 0, 1, 0, 0, 0, 1, 0)
    mem = StampMemory.from_bytes(old + struct.pack("<I", 77) + b"\0")
    assert (mem.scans, mem.levels, mem.devices, mem.dismissed) == (3, 2, [77], 0)
    assert stamp_verdict(StampState.ACTIVATED, mem) is Verdict.SUSPECT


def test_the_engine_modules_import_nothing_that_does_io() -> None:
    """Pure: the rules see only the standard library's arithmetic and the engine's own data types."""
    root = Path(__file__).resolve().parents[1] / "detection" / "engine"
    # orjson: a Place's compact JSON, a codec (bytes in, bytes out), for the scan store.
    stdlib = {"__future__", "dataclasses", "enum", "math", "struct", "typing", "zlib", "orjson"}
    # config's types only (reading the file is `load_config`'s, which the rules never call).
    ours = {"detection.engine", "detection.engine.config", "detection.engine.geo", "detection.engine.model"}
    ours |= {"detection.engine.rules"}
    for name in ("model.py", "rules.py", "engine.py", "geo.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module in stdlib or module in ours, f"{name} imports {module}"
