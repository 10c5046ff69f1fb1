"""The one dependency factory every route uses: the app's state, the unit of work, and who is calling.

A caller is an API token (`Authorization: Bearer …`) or a browser session cookie started from one (the
inspector app, the ministry's pages). A request made with the cookie that changes something must also send
`X-Tem-Inspect: 1`: a cross-site form cannot set it, so together with SameSite=Strict it shuts out request
forgery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from detection.engine.model import AlertLevelChange, Role
from identity import service
from identity.principal import Principal
from tem.core.db import Database
from tem.core.errors import Forbidden, Unauthorized
from tem.core.settings import Settings

SESSION_COOKIE = "tem_inspect"
CSRF_HEADER = "x-tem-inspect"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Set in a unit of work's `session.info` by routes that change the registry (lots, ranges, keys…): once it
#: commits, the resolver reloads its snapshot before its next scan.
REGISTRY_CHANGED = "tem.registry_changed"
#: A list of `AlertLevelChange` in a unit of work's `session.info`, added by whatever closes a stamp alert or opens
#: one outside the engine: once it commits, the stamps' memories follow (see `AppState.stamp_alerts_changed`).
STAMP_ALERTS_CHANGED = "tem.stamp_alerts_changed"


class AppState(Protocol):
    """What every route may use. The composition root (`tem.app`) builds the concrete state; each domain
    that needs more (the issuer's signers, the resolver's runtime) declares its own protocol on top."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    def registry_changed(self) -> None: ...

    def stamp_alerts_changed(self, changes: Sequence[AlertLevelChange]) -> None:
        """Called from a worker thread once the changes are committed; returns when the memories follow."""
        ...


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.tem
    return state


State = Annotated[AppState, Depends(get_state)]


def _unit_of_work(state: State) -> Iterator[Session]:
    with state.db.session() as session:
        yield session
    if session.info.get(REGISTRY_CHANGED):
        state.registry_changed()
    if changes := session.info.get(STAMP_ALERTS_CHANGED):
        state.stamp_alerts_changed(changes)


def stamp_alerts_changed(session: Session, change: AlertLevelChange) -> None:
    """Notes a stamp alert change for when the unit of work commits (see STAMP_ALERTS_CHANGED)."""
    session.info.setdefault(STAMP_ALERTS_CHANGED, []).append(change)


# "function" scope: committed before the response is sent, so a 2xx means the data is stored. The session
# begins its transaction at its first statement, so an async route holds no lock while it awaits.
DbSession = Annotated[Session, Depends(_unit_of_work, scope="function")]


def changes_registry(request: Request, session: DbSession) -> None:
    """A router dependency for routes whose writes the resolver must see (see REGISTRY_CHANGED)."""
    if request.method not in SAFE_METHODS:
        session.info[REGISTRY_CHANGED] = True


_bearer = HTTPBearer(auto_error=False, description="An API token from `tem users create`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def identify(
    request: Request, state: AppState, credentials: HTTPAuthorizationCredentials | None, *, csrf_header: bool = True
) -> Principal | None:
    """The caller, or None when the request carries neither a token nor a session cookie. A bad token or an
    expired session is refused, never taken for no caller at all. `csrf_header=False` is only for pages
    whose forms carry their own token, checked by the route (the ministry's).

    Its own short transaction: on SQLite every transaction holds the write lock, and async routes must not
    hold one while they wait (on the registry cache, which reads on another connection)."""
    if credentials is not None:
        if credentials.scheme.lower() != "bearer":
            raise Unauthorized("send 'Authorization: Bearer <token>'")
        with state.db.session() as session:
            principal = service.authenticate(session, credentials.credentials)
        if principal is None:
            raise Unauthorized("the API token is unknown or has been revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with state.db.session() as session:
        principal = service.session_principal(session, cookie, dt.datetime.now(dt.UTC))
    if principal is None:
        raise Unauthorized("the session has expired or ended; log in again")
    if csrf_header and request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"a request made with the session cookie must send the header {CSRF_HEADER}: 1")
    return principal


def _caller_or_none(request: Request, state: State, credentials: Credentials) -> Principal | None:
    return identify(request, state, credentials)


def _caller(principal: Annotated[Principal | None, Depends(_caller_or_none)]) -> Principal:
    if principal is None:
        raise Unauthorized("this route needs an API token ('Authorization: Bearer <token>') or a login session")
    return principal


def requires(*roles: Role) -> Any:
    """`Annotated[Principal, requires(Role.PACKER)]`: 401 without a caller, 403 for a caller of another role."""
    allowed = ", ".join(role.value for role in roles)

    def dependency(principal: Annotated[Principal, Depends(_caller)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this route is for the role(s): {allowed}")
        return principal

    return Depends(dependency)


Packer = Annotated[Principal, requires(Role.PACKER)]
PackerOrMinistry = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY)]
Ministry = Annotated[Principal, requires(Role.MINISTRY)]
# A province officer does the ministry's alert work for its own province's packing houses (`alerts.service`).
MinistryOrProvince = Annotated[Principal, requires(Role.MINISTRY, Role.PROVINCE)]
AlertReader = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY, Role.PROVINCE)]
InspectorOrMinistry = Annotated[Principal, requires(Role.INSPECTOR, Role.MINISTRY)]
# Distributors check stamps along the chain too; their checks weigh less in detection.
Verifier = Annotated[Principal, requires(Role.INSPECTOR, Role.DISTRIBUTOR, Role.MINISTRY)]
