"""What detection, and an inspector's report, hand to alerts: an `AlertFinding`, through the `AlertSink` protocol.

`alerts.AlertService` implements the protocol and `tem` wires it in, so detection never imports alerts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from detection.engine.model import Severity

SYSTEM_ACTOR = "system:detection"


@dataclass(frozen=True, slots=True)
class AlertFinding:
    """One finding to open as an alert, or to add to the active alert on the same subject and of the same type.

    The subject is the most specific of: a stamp (`gtin` + `serial`), a lot (`lot_id`), a packing house
    (`organisation_id`, or its code `house`). The packing house is also who may see the alert. `subject` keys
    a stamp alert whose code could not be parsed (gtin and serial are then None). `country` (where the
    opening scan was made, ISO 3166 alpha-2) is recorded when the alert opens only.
    """

    type: str
    severity: Severity
    explanation_vi: str
    explanation_en: str
    evidence: tuple[str, ...] = ()
    gtin: str | None = None
    serial: int | str | None = None
    lot_id: int | None = None
    organisation_id: int | None = None
    house: str | None = None
    at: dt.datetime | None = None
    parent_id: int | None = None
    actor: str = SYSTEM_ACTOR
    subject: str | None = None
    country: str | None = None


class AlertSink(Protocol):
    """Where findings become alerts, inside the caller's transaction (which commits)."""

    def raise_alert(self, session: Session, finding: AlertFinding) -> int | None:
        """Open or bump the alert; its id. None when its packing house is unknown and it has no other subject."""
        ...

    def escalate(self, session: Session, finding: AlertFinding) -> int | None:
        """A lot or packing-house alert, with the active alerts beneath it linked (a lot's stamp alerts, a
        house's lot alerts)."""
        ...
