"""Who is calling: an API token, or a browser session started from one. Services flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy.orm import Session

from detection.engine.model import Role
from identity import repository
from identity.models import ApiToken, LoginSession, Organisation
from identity.principal import Principal, hash_token
from tem.core.time import utcnow

#: How old `ApiToken.last_used_at` may grow before a use writes it again: a token used on every request of a busy
#: day costs one UPDATE a minute, not one per request.
LAST_USED_EVERY = dt.timedelta(minutes=1)


def _principal(token: ApiToken, org: Organisation) -> Principal:
    return Principal(token.id, org.id, org.code, Role(token.role), token.name, org.province)


def _note_use(session: Session, token: ApiToken, now: dt.datetime) -> None:
    """Records that the token was used, when the stored time is a minute old or more (or unset). The time read with
    the token decides, so most requests write nothing; the UPDATE checks it again, for two requests at once."""
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        repository.mark_used(session, token.id, now, now - LAST_USED_EVERY)


def authenticate(session: Session, token: str, now: dt.datetime | None = None) -> Principal | None:
    """The principal of a live API token; None when it is unknown, revoked or expired. Notes the token's use
    (`_note_use`)."""
    now = now or utcnow()
    found = repository.token_by_hash(session, hash_token(token), now)
    if found is None:
        return None
    _note_use(session, found[0], now)
    return _principal(*found)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def session_principal(session: Session, session_id: str, now: dt.datetime) -> Principal | None:
    """The principal of a live browser session; None when it expired, ended, or its token was revoked. A session's
    request is a use of the token it was started from (`_note_use`)."""
    if not 20 <= len(session_id) <= 100:
        return None
    found = repository.live_session(session, session_hash(session_id), now)
    if found is None:
        return None
    _note_use(session, found[0], now)
    return _principal(*found)


def start_session(session: Session, principal: Principal, hours: float) -> tuple[str, dt.datetime]:
    """A new browser session for a token's principal: its id (returned once, for the cookie; only its hash is
    kept) and when it expires."""
    if principal.token_id is None:
        raise ValueError("only an API token's principal can log in")
    now = utcnow()
    repository.purge_sessions(session, now - dt.timedelta(days=1))
    session_id = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=hours)
    session.add(LoginSession(session_hash=session_hash(session_id), token_id=principal.token_id, expires_at=expires))
    session.flush()
    return session_id, expires


def end_session(session: Session, session_id: str | None) -> None:
    if not session_id:
        return
    row = repository.session_by_hash(session, session_hash(session_id))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        session.flush()


def session_expiry(session: Session, session_id: str | None) -> dt.datetime | None:
    row = repository.session_by_hash(session, session_hash(session_id)) if session_id else None
    return row.expires_at if row else None
