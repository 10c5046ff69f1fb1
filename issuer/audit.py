"""The append-only audit log of issuance, activation, revocation and key events."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from identity.principal import Principal
from issuer.models import AuditEvent


def record(
    session: Session,
    actor: Principal,
    action: str,
    subject: str,
    details: dict[str, Any],
    organisation_id: int | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor=actor.actor,
            organisation_id=organisation_id if organisation_id is not None else actor.organisation_id,
            action=action,
            subject=subject,
            details=details,
        )
    )
