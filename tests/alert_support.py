"""Opening alerts in tests the way detection and the inspector API do: an `AlertFinding` through `AlertService`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from alerts.service import AlertChange, AlertService
from detection.engine.model import Severity
from detection.findings import AlertFinding
from tem.core.settings import Settings


def open_alert(session: Session, settings: Settings | None = None, **fields: Any) -> AlertChange:
    """`fields` as AlertFinding's, with the severity as its label ("warning") and the evidence as a list."""
    severity = fields.pop("severity")
    # A label that names no severity is passed as it is: the service must refuse it.
    labels = {s.label: s for s in Severity}
    fields["severity"] = labels.get(severity, severity) if isinstance(severity, str) else severity
    fields["evidence"] = tuple(fields.get("evidence", ()))
    return AlertService(settings).open_or_bump(session, AlertFinding(**fields))
