"""Detection quality: the simulator's events through the same replay code as `tem replay`, scored against the
simulator's ground truth.

    python -m loadtests.detection_metrics                 # the tables, at the target point and the curves
    python -m loadtests.detection_metrics --write-doc     # the same, then rewrites its part of docs/detection.md

Definitions (also in docs/detection.md):

- An *attacked serial* is one serial used by one attack (a copied, reused, stolen, banned or guessed stamp).
  It is *detectable* when the scans leave evidence no single genuine fruit leaves: a fake scanned in Vietnam
  off the lot's route (export fruit is not sold there), or two of its physical instances (the genuine fruit and
  fakes) first scanned more than `ONE_FRUIT_DAYS` apart (one fruit's household, guests and gift receivers all
  scan within that); for stolen rolls, revoked lots and guessed serials the registry alone tells, so one
  scanned fake is enough. A fake seen once in a Chinese city off the route is not: online orders and gifts put
  genuine fruit there too.
- It is *detected* when a scan at or after its first fake scan gets a stamp-level warning or critical finding.
  Time to detection counts the fake scans up to then and the hours since the first fake scan.
- A *false counterfeit* is a scan of genuine fruit whose verdict is "counterfeit" (a critical finding), and a
  *false suspect* one whose verdict is "suspect". Genuine fruit whose stamp was copied is counted too
  (collateral): once copies circulate, its own scans cannot always be told apart.
- Per-rule precision: of the stamp alerts a rule opened at warning or above, the share on attacked serials at
  or after their first fake scan.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detection.engine import EngineConfig, FindingType, ScanResult, Scope, Severity, default_config
from detection.engine.model import Verdict
from detection.replay import Replayer
from loadtests.market_world import ONE_FRUIT_DAYS
from loadtests.simulator import ATTACK_KINDS, SimConfig, Simulation, simulate

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = REPO_ROOT / "docs" / "detection.md"
LIFECYCLE_KINDS = {"stolen_roll", "revoked_lot", "guessed_serials"}
COPY_KINDS = {"photocopy_same_city", "photocopy_other_city", "photocopy_vietnam", "cautious", "reuse_discarded"}
TARGET_RECALL = 0.90
TARGET_FALSE_COUNTERFEIT_PER_M = 100.0


@dataclass(slots=True)
class _Unit:
    """One attacked serial."""

    kind: str
    instances: dict[int, float] = field(default_factory=dict)  # instance → its first scan
    off_route_fake: bool = False  # in Vietnam, off the lot's route
    first_fake_ts: float | None = None
    fake_scans: int = 0
    detected_at: float | None = None
    detected_after: int = 0  # fake scans up to detection
    critical: bool = False
    rules: set[str] = field(default_factory=set)

    @property
    def detectable(self) -> bool:
        if self.first_fake_ts is None:
            return False
        if self.kind in LIFECYCLE_KINDS:
            return True
        firsts = sorted(self.instances.values())
        return self.off_route_fake or (len(firsts) >= 2 and firsts[-1] - firsts[0] > ONE_FRUIT_DAYS * 86400)


@dataclass
class Metrics:
    sim: SimConfig
    genuine_scans: int
    false_counterfeit: int
    false_counterfeit_clean: int
    false_suspect: int
    genuine_pins: int
    false_pin_counterfeit: int
    false_pin_counterfeit_clean: int
    units: dict[tuple[str, str], _Unit]
    rule_alerts: Counter[str]
    rule_true: Counter[str]
    lot_alerts: int
    lot_alerts_attacked: int
    events: int
    seconds: float
    false_by_rule: Counter[str]

    def per_million(self, count: int) -> float:
        return count / self.genuine_scans * 1e6 if self.genuine_scans else 0.0

    @property
    def false_counterfeit_per_m(self) -> float:
        return self.per_million(self.false_counterfeit)

    @property
    def false_suspect_share(self) -> float:
        return self.false_suspect / self.genuine_scans if self.genuine_scans else 0.0

    def detectable(self, kinds: set[str] | None = None) -> list[_Unit]:
        return [u for u in self.units.values() if u.detectable and (kinds is None or u.kind in kinds)]

    def recall(self, kinds: set[str] | None = None) -> float:
        units = self.detectable(kinds)
        return sum(1 for u in units if u.detected_at is not None) / len(units) if units else float("nan")


class _Scorer:
    """Scores each replayed scan against its label."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.units: dict[tuple[str, str], _Unit] = {}
        self.genuine = self.false_cf = self.false_cf_clean = self.false_suspect = 0
        self.pins = self.false_pin = self.false_pin_clean = 0
        self.rule_alerts: Counter[str] = Counter()
        self.rule_true: Counter[str] = Counter()
        self.false_by_rule: Counter[str] = Counter()
        self.lot_alerts = self.lot_alerts_attacked = 0
        self.attacked_gtins = {lab["key"].split("/")[0] for lab in sim.labels.values() if lab["attack"]}

    def score(self, event: dict[str, Any], result: ScanResult) -> None:
        label = self.sim.labels[event["id"]]
        unit = None
        if label["attack"] is not None:
            key = (label["attack"], label["key"])
            unit = self.units.get(key)
            if unit is None:
                unit = self.units[key] = _Unit(label["kind"])
        is_scan = event["type"] == "scan"
        if label["truth"] == "genuine":
            self._genuine(result, is_scan, unit is None)
        if unit is not None:
            self._attacked(unit, label, _epoch(event["ts"]), is_scan, result, event.get("country"))
        self._alerts(result, unit)

    def _genuine(self, result: ScanResult, is_scan: bool, clean: bool) -> None:
        verdict = result.verdict
        if not is_scan:
            self.pins += 1
            self.false_pin += verdict is Verdict.COUNTERFEIT
            self.false_pin_clean += verdict is Verdict.COUNTERFEIT and clean
            return
        self.genuine += 1
        if verdict is Verdict.COUNTERFEIT:
            self.false_cf += 1
            self.false_cf_clean += clean
            for f in result.findings:
                if f.severity is Severity.CRITICAL:
                    self.false_by_rule[f.type.value] += 1
        elif verdict is Verdict.SUSPECT:
            self.false_suspect += 1

    @staticmethod
    def _attacked(
        unit: _Unit, label: dict[str, Any], ts: float, is_scan: bool, result: ScanResult, country: str | None
    ) -> None:
        if is_scan:
            unit.instances.setdefault(label["instance"], ts)
        if label["truth"] != "genuine":
            unit.fake_scans += 1
            unit.off_route_fake = unit.off_route_fake or (label["off_route"] and country == "VN")
            if unit.first_fake_ts is None:
                unit.first_fake_ts = ts
        if unit.first_fake_ts is None:
            return
        flagged = [f for f in result.findings if f.scope is Scope.STAMP and f.severity >= Severity.WARNING]
        unit.rules.update(f.type.value for f in flagged)
        if flagged and unit.detected_at is None:
            unit.detected_at = ts
            unit.detected_after = unit.fake_scans
        unit.critical = unit.critical or any(f.severity is Severity.CRITICAL for f in flagged)

    def _alerts(self, result: ScanResult, unit: _Unit | None) -> None:
        for alert in result.alerts:
            if alert.scope is Scope.LOT and alert.severity >= Severity.WARNING:
                self.lot_alerts += 1
                self.lot_alerts_attacked += alert.gtin in self.attacked_gtins
            elif alert.scope is Scope.STAMP and alert.severity >= Severity.WARNING:
                self.rule_alerts[alert.type.value] += 1
                if unit is not None and unit.first_fake_ts is not None:
                    self.rule_true[alert.type.value] += 1


def evaluate(sim: Simulation, config: EngineConfig) -> Metrics:
    replayer = Replayer(config)
    scorer = _Scorer(sim)
    start = time.perf_counter()
    for number, event in enumerate(sim.events, start=1):
        _ts, result = replayer.handle(event, number)
        if result is not None:
            scorer.score(event, result)
    return Metrics(
        sim.config,
        scorer.genuine,
        scorer.false_cf,
        scorer.false_cf_clean,
        scorer.false_suspect,
        scorer.pins,
        scorer.false_pin,
        scorer.false_pin_clean,
        scorer.units,
        scorer.rule_alerts,
        scorer.rule_true,
        scorer.lot_alerts,
        scorer.lot_alerts_attacked,
        len(sim.events),
        time.perf_counter() - start,
        scorer.false_by_rule,
    )


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


# Tables


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f}%"  # NaN: nothing to measure


def attack_table(m: Metrics) -> list[str]:
    lines = [
        "| attack | attacked serials | detectable | detected | recall | as counterfeit | "
        "fake scans to detection (median / p90) | hours to detection (median / p90) | beyond detectable |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for kind in ATTACK_KINDS:
        units = [u for u in m.units.values() if u.kind == kind and u.first_fake_ts is not None]
        det = [u for u in units if u.detectable]
        hit = [u for u in det if u.detected_at is not None]
        extra = [u for u in units if not u.detectable and u.detected_at is not None]
        scans = sorted(u.detected_after for u in hit)
        hours = sorted((u.detected_at - u.first_fake_ts) / 3600 for u in hit if u.detected_at and u.first_fake_ts)
        crit = sum(1 for u in hit if u.critical)
        lines.append(
            f"| {kind} | {len(units)} | {len(det)} | {len(hit)} | {_pct(len(hit) / len(det) if det else float('nan'))} "
            f"| {_pct(crit / len(hit) if hit else float('nan'))} | {_q(scans)} | {_q(hours, 1)} | "
            f"{len(extra)} of {len(units) - len(det)} |"
        )
    det = m.detectable()
    hit = [u for u in det if u.detected_at is not None]
    lines.append(
        f"| **all** | {sum(1 for u in m.units.values() if u.first_fake_ts)} | {len(det)} | {len(hit)} | "
        f"**{_pct(m.recall())}** | | | | |"
    )
    return lines


def _q(values: Sequence[float], digits: int = 0) -> str:
    if not values:
        return "–"
    median = statistics.median(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"{median:.{digits}f} / {p90:.{digits}f}"


def rule_table(m: Metrics) -> list[str]:
    lines = [
        "| rule | stamp alerts ≥ warning | on attacked serials | precision | recall (detectable serials it flagged) "
        "| false counterfeit per 1M genuine scans |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    det = m.detectable()
    for kind in FindingType:
        if kind in (FindingType.LOT_ESCALATION, FindingType.PACKING_HOUSE_ESCALATION, FindingType.FORGED_BURST):
            continue
        alerts, true = m.rule_alerts[kind.value], m.rule_true[kind.value]
        flagged = sum(1 for u in det if kind.value in u.rules)
        lines.append(
            f"| {kind.value} | {alerts} | {true} | {_pct(true / alerts if alerts else float('nan'))} "
            f"| {_pct(flagged / len(det) if det else float('nan'))} "
            f"| {m.per_million(m.false_by_rule[kind.value]):.0f} |"
        )
    total, true = sum(m.rule_alerts.values()), sum(m.rule_true.values())
    lines.append(
        f"| **all rules** | {total} | {true} | {_pct(true / total if total else float('nan'))} | "
        f"{_pct(m.recall())} | {m.false_counterfeit_per_m:.0f} |"
    )
    return lines


def summary(m: Metrics) -> list[str]:
    return [
        f"- Events: {m.events:,} ({m.genuine_scans:,} genuine scans), replayed in {m.seconds:.1f} s.",
        f"- Recall over detectable attacked serials: **{_pct(m.recall())}** (target ≥ {TARGET_RECALL:.0%}): "
        f"**{'PASS' if m.recall() >= TARGET_RECALL else 'FAIL'}**; over the copy attacks alone (photocopies, "
        f"cautious, reuse), where the registry cannot help: **{_pct(m.recall(COPY_KINDS))}**: "
        f"**{'PASS' if m.recall(COPY_KINDS) >= TARGET_RECALL else 'FAIL'}**.",
        f"- False counterfeit verdicts: {m.false_counterfeit} in {m.genuine_scans:,} genuine scans = "
        f"**{m.false_counterfeit_per_m:.0f} per 1,000,000** (target ≤ {TARGET_FALSE_COUNTERFEIT_PER_M:.0f}): "
        f"**{'PASS' if m.false_counterfeit_per_m <= TARGET_FALSE_COUNTERFEIT_PER_M else 'FAIL'}**; "
        f"{m.false_counterfeit_clean} of them on stamps no attack touched "
        f"({m.per_million(m.false_counterfeit_clean):.0f} per 1M), the rest on genuine fruit whose stamp was copied.",
        f"- False suspect verdicts: {m.false_suspect:,} = {_pct(m.false_suspect_share)} of genuine scans.",
        f"- PIN confirmations of genuine fruit: {m.genuine_pins:,}, told counterfeit: {m.false_pin_counterfeit} "
        f"({m.false_pin_counterfeit_clean} on stamps no attack touched; a copy's buyer had confirmed the PIN first).",
        f"- Lot escalations at warning: {m.lot_alerts} ({m.lot_alerts_attacked} on GTINs with an attacked lot).",
    ]


# Runs


def run_point(sim_config: SimConfig, engine: EngineConfig) -> Metrics:
    return evaluate(simulate(sim_config), engine)


def curve(base: SimConfig, engine: EngineConfig, rates: Sequence[float], lots: int) -> list[tuple[float, Metrics]]:
    out = []
    for rate in rates:
        m = run_point(dataclasses.replace(base, consumer_scan_rate=rate, lots=lots), engine)
        _say(f"scan rate {rate:.0%}: recall {_pct(m.recall())}, false counterfeit {m.false_counterfeit_per_m:.0f}/M")
        out.append((rate, m))
    return out


def curve_table(points: list[tuple[float, Metrics]]) -> list[str]:
    lines = [
        "| consumer scan rate | genuine scans | detectable serials | recall | copy attacks | recall: same city "
        "| other city | Vietnam | cautious | reuse | false counterfeit per 1M | false suspect |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for rate, m in points:
        lines.append(
            f"| {rate:.0%} | {m.genuine_scans:,} | {len(m.detectable())} | {_pct(m.recall())} "
            f"| {_pct(m.recall(COPY_KINDS))} "
            f"| {_pct(m.recall({'photocopy_same_city'}))} | {_pct(m.recall({'photocopy_other_city'}))} "
            f"| {_pct(m.recall({'photocopy_vietnam'}))} | {_pct(m.recall({'cautious'}))} "
            f"| {_pct(m.recall({'reuse_discarded'}))} | {m.false_counterfeit_per_m:.0f} "
            f"| {_pct(m.false_suspect_share)} |"
        )
    return lines


Variant = tuple[str, Callable[[EngineConfig], EngineConfig]]


def _set(section: str, **values: Any) -> Callable[[EngineConfig], EngineConfig]:
    def apply(config: EngineConfig) -> EngineConfig:
        return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **values)})

    return apply


TRADE_OFFS: list[Variant] = [
    ("defaults", lambda c: c),
    ("duplicate.warning_devices = 1.5", _set("duplicate", warning_devices=1.5, info_devices=1.5)),
    ("duplicate.warning_devices = 3", _set("duplicate", warning_devices=3.0)),
    ("duplicate.same_fruit_weight = 1.0", _set("duplicate", same_fruit_weight=1.0)),
    ("duplicate.same_fruit_weight = 0", _set("duplicate", same_fruit_weight=0.0)),
    ("duplicate.session_minutes = 30", _set("duplicate", session_minutes=30.0)),
    ("travel.critical_radius_factor = 1.0", _set("travel", critical_radius_factor=1.0)),
    ("travel.critical_radius_factor = 3.0", _set("travel", critical_radius_factor=3.0)),
    ("travel.critical_kmh = 600", _set("travel", critical_kmh=600.0)),
    ("travel.warning_radius_factor = 1.0", _set("travel", warning_radius_factor=1.0)),
    ("off_route.radius_factor = 1.0", _set("off_route", radius_factor=1.0)),
    ("off_route.radius_factor = 2.5", _set("off_route", radius_factor=2.5)),
    ("off_route.learn_serials = 4", _set("off_route", learn_serials=4)),
    ("off_route.learn_serials = 40", _set("off_route", learn_serials=40)),
    ("lifecycle.reuse_gap_days = 5", _set("lifecycle", reuse_gap_days=5.0)),
]


def trade_off(sim: Simulation, engine: EngineConfig) -> list[str]:
    lines = [
        "| thresholds (one change from the defaults) | recall | copy attacks | false counterfeit per 1M "
        "| false suspect |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, change in TRADE_OFFS:
        m = evaluate(sim, change(engine))
        _say(f"{name}: recall {_pct(m.recall())}, false counterfeit {m.false_counterfeit_per_m:.0f}/M")
        lines.append(
            f"| {name} | {_pct(m.recall())} | {_pct(m.recall(COPY_KINDS))} | {m.false_counterfeit_per_m:.0f} "
            f"| {_pct(m.false_suspect_share)} |"
        )
    return lines


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


BEGIN = "<!-- metrics:begin (rewritten by loadtests/detection_metrics.py --write-doc) -->"
END = "<!-- metrics:end -->"


def write_doc(section: str) -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{DOC_PATH}: markers {BEGIN!r} … {END!r} not found")
    DOC_PATH.write_text(pattern.sub(lambda _m: section, text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lots", type=int, default=400, help="lots at the target point")
    parser.add_argument("--curve-lots", type=int, default=150, help="lots per point of the scan-rate curve")
    parser.add_argument("--rates", default="0.01,0.02,0.05,0.1,0.2")
    parser.add_argument("--no-curves", action="store_true")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args(argv)
    engine = default_config()
    base = SimConfig(seed=args.seed, lots=args.lots, consumer_scan_rate=0.05, vpn_share=0.05, resale_share=0.10)
    started = time.perf_counter()
    sim = simulate(base)
    _say(f"simulated {len(sim.events):,} events")
    target = evaluate(sim, engine)
    out = [
        BEGIN,
        "## Results",
        "",
        f"Simulator seed {args.seed}; at the target point {args.lots} lots, consumer scan rate 5%, 5% of users "
        "behind a VPN, 10% of lots resold outside their declared city. Command:",
        "",
        "```sh",
        f".venv/bin/python -m loadtests.detection_metrics --seed {args.seed} --lots {args.lots} "
        f"--curve-lots {args.curve_lots} --write-doc",
        "```",
        "",
        "### At the target point",
        "",
        *summary(target),
        "",
        "### Per attack",
        "",
        *attack_table(target),
        "",
        "### Per rule",
        "",
        *rule_table(target),
    ]
    if not args.no_curves:
        rates = [float(r) for r in args.rates.split(",")]
        points = curve(base, engine, rates, args.curve_lots)
        out += [
            "",
            f"### Against the consumer scan rate ({args.curve_lots} lots per point)",
            "",
            *curve_table(points),
            "",
            "### Trade-off: one threshold moved at a time (target point, same events)",
            "",
            *trade_off(sim, engine),
        ]
    out += ["", f"Run time: {time.perf_counter() - started:.0f} s.", END]
    section = "\n".join(out)
    print(section.replace("**", ""))
    if args.write_doc:
        write_doc(section)
    ok = (
        min(target.recall(), target.recall(COPY_KINDS)) >= TARGET_RECALL
        and target.false_counterfeit_per_m <= TARGET_FALSE_COUNTERFEIT_PER_M
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
