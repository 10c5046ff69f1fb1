"""Who is calling: API tokens are random, shown once, and stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from detection.engine.model import Role

#: The roles an account (an API token) can hold; a consumer has none.
ACCOUNT_ROLES = frozenset({Role.PACKER, Role.INSPECTOR, Role.DISTRIBUTOR, Role.MINISTRY, Role.PROVINCE})

TOKEN_PREFIX = "tem_"  # noqa: S105  # a visible prefix, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int | None
    organisation_id: int | None
    organisation_code: str | None
    role: Role | None
    name: str
    #: The caller's organisation's province; what a `province` officer's reading is limited to.
    province: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller; never the token itself."""
        if self.token_id is None:
            return self.name
        return f"token:{self.token_id}:{self.name}"


def operator(name: str = "cli") -> Principal:
    """Someone at the server's console: trusted like the ministry, named in the audit log."""
    return Principal(None, None, None, Role.MINISTRY, name)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; no salt or KDF is needed.
    return hashlib.sha256(token.encode()).hexdigest()
