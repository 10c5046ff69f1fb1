"""Who is calling the alert and inspector routes: an API token, or the inspector app's session cookie.

These routes never change the registry, so their unit of work does not mark the resolver's registry
cache dirty (tem.web's does, which would make every inspection upload force a full registry reload).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from issuer import service as issuer_service
from issuer.auth import Principal
from issuer.models import Role
from resolver.inspector import repository
from tem.errors import Forbidden, Unauthorized
from tem.web import State

SESSION_COOKIE = "tem_inspect"
#: Cookie-authenticated requests that change something must carry this header. A cross-site form can't
#: set it, so together with SameSite=Strict it shuts out request forgery.
CSRF_HEADER = "x-tem-inspect"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _unit_of_work(state: State) -> Iterator[Session]:
    with state.db.session() as session:
        yield session


# Committed before the response is sent, so a 2xx means the data is stored. The session begins its
# transaction at its first statement, so an async route holds no lock while it awaits.
Uow = Annotated[Session, Depends(_unit_of_work, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API token from `tem users create`")


def session_principal(session: Session, session_id: str, now: dt.datetime) -> Principal | None:
    if not 20 <= len(session_id) <= 100:
        return None
    found = repository.session_principal_row(session, session_hash(session_id), now)
    if found is None:
        return None
    _row, token, org = found
    return Principal(token.id, org.id, org.code, Role(token.role), token.name)


def _caller(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # Its own short transaction: on SQLite every transaction holds the write lock, and async routes
    # must not hold one while they wait on the registry cache (which reads on another connection).
    if credentials is not None:
        if credentials.scheme.lower() != "bearer":
            raise Unauthorized("send 'Authorization: Bearer <token>'")
        with state.db.session() as session:
            principal = issuer_service.authenticate(session, credentials.credentials)
        if principal is None:
            raise Unauthorized("the API token is unknown or has been revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with state.db.session() as session:
            principal = session_principal(session, cookie, dt.datetime.now(dt.UTC))
        if principal is None:
            raise Unauthorized("the session has expired or ended; log in again")
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(f"a request made with the session cookie must send the header {CSRF_HEADER}: 1")
        return principal
    raise Unauthorized("this route needs an API token ('Authorization: Bearer <token>') or an inspector session")


def allow(*roles: Role) -> Any:
    allowed = ", ".join(role.value for role in roles)

    def dependency(principal: Annotated[Principal, Depends(_caller)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this route is for the role(s): {allowed}")
        return principal

    return Depends(dependency)


InspectorOrMinistry = Annotated[Principal, allow(Role.INSPECTOR, Role.MINISTRY)]
# Distributors check stamps along the chain too; their checks weigh less in detection.
Verifier = Annotated[Principal, allow(Role.INSPECTOR, Role.DISTRIBUTOR, Role.MINISTRY)]
PackerOrMinistry = Annotated[Principal, allow(Role.PACKER, Role.MINISTRY)]
Ministry = Annotated[Principal, allow(Role.MINISTRY)]
