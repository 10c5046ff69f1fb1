"""Request plumbing shared by every router: app state, the unit of work, and who is calling."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from issuer import service
from issuer.auth import Principal
from issuer.keys import SignerCache
from issuer.models import Role
from tem.db import Database
from tem.errors import Forbidden, Unauthorized
from tem.settings import Settings


@dataclass
class AppState:
    settings: Settings
    db: Database
    signers: SignerCache = field(default_factory=SignerCache)
    redis: Any = None
    resolver: Any = None  # resolver.runtime.ResolverRuntime, built in the lifespan

    @property
    def keys(self) -> service.Keys:
        return service.Keys(self.settings, self.signers)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.tem
    return state


State = Annotated[AppState, Depends(get_state)]


def _unit_of_work(state: State, request: Request) -> Iterator[Session]:
    with state.db.session() as session:
        yield session
    if request.method != "GET" and state.resolver is not None:
        # This process changed the registry: the resolver rebuilds before its next scan.
        state.resolver.registry.dirty = True


# "function" scope: commit before the response is sent, so a 2xx means the data is stored.
DbSession = Annotated[Session, Depends(_unit_of_work, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API token from `tem users create`")


def _principal(
    session: DbSession, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("this route needs an API token: send 'Authorization: Bearer <token>'")
    principal = service.authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the API token is unknown or has been revoked")
    return principal


def requires(*roles: Role) -> Any:
    allowed = ", ".join(role.value for role in roles)

    def dependency(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this route is for the role(s): {allowed}")
        return principal

    return Depends(dependency)


Packer = Annotated[Principal, requires(Role.PACKER)]
PackerOrMinistry = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY)]
Ministry = Annotated[Principal, requires(Role.MINISTRY)]
