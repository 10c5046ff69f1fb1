"""API tokens over the API: the ministry creates, lists and revokes them; any caller may revoke its own token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from detection.engine.model import Role
from identity.dependencies import DbSession, Ministry, requires
from identity.models import ApiToken, Organisation
from identity.principal import Principal
from issuer import schemas, service
from tem.core.bounds import DbId

router = APIRouter(prefix="/api/v1", tags=["tokens"])

AnyCaller = Annotated[Principal, requires(*Role)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such token"},
    409: {"description": "Already revoked"},
}


def _read(token: ApiToken, org: Organisation) -> schemas.TokenRead:
    return schemas.TokenRead(
        id=token.id,
        organisation=org.code,
        role=token.role,
        name=token.name,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


@router.post("/tokens", response_model=schemas.TokenCreated, status_code=201)
def create_token(data: schemas.TokenCreate, session: DbSession, actor: Ministry) -> object:
    """A new token, shown once in the answer; `expires_in_days` makes it stop working after that many days."""
    row, token = service.create_token(session, actor, data)
    return schemas.TokenCreated(id=row.id, token=token, expires_at=row.expires_at)


@router.get("/tokens", response_model=list[schemas.TokenRead])
def list_tokens(session: DbSession, actor: Ministry) -> object:
    return [_read(token, org) for token, org in service.list_tokens(session, actor)]


def _revoke(session: DbSession, actor: Principal, token_id: int) -> None:
    service.revoke_token(session, actor, token_id)


@router.delete("/tokens/{token_id}", status_code=204, responses=NOT_FOUND)
def revoke_token(token_id: DbId, session: DbSession, actor: AnyCaller) -> None:
    """Revokes the token at once, with its browser sessions. The ministry may revoke any token, others their own."""
    _revoke(session, actor, token_id)


@router.post("/tokens/{token_id}/revoke", status_code=204, responses=NOT_FOUND)
def revoke_token_post(token_id: DbId, session: DbSession, actor: AnyCaller) -> None:
    """The same as DELETE, for clients that cannot send it."""
    _revoke(session, actor, token_id)
