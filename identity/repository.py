"""Every SQL statement of identity lives here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from identity.models import ApiToken, LoginSession, Organisation


def _live(now: dt.datetime) -> ColumnElement[bool]:
    """Neither revoked nor expired."""
    return and_(ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))


def token_by_hash(session: Session, token_hash: str, now: dt.datetime) -> tuple[ApiToken, Organisation] | None:
    row = session.execute(
        select(ApiToken, Organisation)
        .join(Organisation, Organisation.id == ApiToken.organisation_id)
        .where(ApiToken.token_hash == token_hash, _live(now))
    ).first()
    return (row[0], row[1]) if row else None


def mark_used(session: Session, token_id: int, now: dt.datetime, stale_from: dt.datetime) -> None:
    """`last_used_at = now`, unless another request has meanwhile written a time after `stale_from`."""
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale_from),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def live_session(session: Session, session_hash: str, now: dt.datetime) -> tuple[ApiToken, Organisation] | None:
    row = session.execute(
        select(ApiToken, Organisation)
        .join(LoginSession, LoginSession.token_id == ApiToken.id)
        .join(Organisation, Organisation.id == ApiToken.organisation_id)
        .where(
            LoginSession.session_hash == session_hash,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now,
            _live(now),
        )
    ).first()
    return (row[0], row[1]) if row else None


def session_by_hash(session: Session, session_hash: str) -> LoginSession | None:
    return session.scalars(select(LoginSession).where(LoginSession.session_hash == session_hash)).first()


def purge_sessions(session: Session, before: dt.datetime) -> None:
    session.execute(delete(LoginSession).where(LoginSession.expires_at < before))


def organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.code)))


def tokens(session: Session) -> list[tuple[ApiToken, Organisation]]:
    rows = session.execute(
        select(ApiToken, Organisation)
        .join(Organisation, Organisation.id == ApiToken.organisation_id)
        .order_by(ApiToken.id)
    )
    return [(token, org) for token, org in rows]


def token_by_id(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)
