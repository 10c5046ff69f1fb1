"""The seam where detection rules plug in. The base assessment maps a stamp's state to a verdict; the
detection engine (a later piece) refines it from the scan history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from resolver.ranges import Lookup, StampState
from resolver.scans import ScanEvent, StampHistory, Verdict

BASE_VERDICT = {
    StampState.ACTIVATED: Verdict.GENUINE,
    StampState.NOT_ACTIVATED: Verdict.SUSPECT,
    StampState.UNKNOWN_SERIAL: Verdict.SUSPECT,
    StampState.REVOKED: Verdict.COUNTERFEIT,
    StampState.KEY_REVOKED: Verdict.COUNTERFEIT,
}


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    findings: tuple[str, ...] = field(default=())


class Detector(Protocol):
    def assess(self, lookup: Lookup, history: StampHistory, event: ScanEvent) -> Assessment: ...


class StateDetector:
    """No history rules yet: the verdict follows the stamp's registry state."""

    def assess(self, lookup: Lookup, history: StampHistory, event: ScanEvent) -> Assessment:
        return Assessment(BASE_VERDICT[lookup.state])
