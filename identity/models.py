"""Who is who: organisations (each holds its own data), API tokens and login sessions.

Tokens and session ids are random and shown once; only their SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tem.core.db import Base, UtcDateTime
from tem.core.time import utcnow


class OrgKind(StrEnum):
    PACKING_HOUSE = "packing_house"
    MINISTRY = "ministry"
    INSPECTION_AGENCY = "inspection_agency"
    DISTRIBUTOR = "distributor"  # importers, wholesalers and retailers along the chain
    PROVINCE_AUTHORITY = "province_authority"  # a province's department (Sở NN&MT): `province` tokens


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    province: Mapped[str] = mapped_column(String(80))
    # Its GS1 Global Location Number, where it has one: EPCIS events name it by this (`epcis.identifiers`).
    gln: Mapped[str | None] = mapped_column(String(13), index=True, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    #: After this time the token, and every browser session started from it, no longer authenticates (None: never).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    #: When the token last authenticated (a request with it, a login with it, or a request of a browser session
    #: started from it), to the minute: `identity.service` writes it at most once a minute per token.
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    organisation: Mapped[Organisation] = relationship(lazy="raise")


class LoginSession(Base):
    """A browser login (the inspector app, the ministry's pages). The cookie holds a random id; only its
    SHA-256 is stored here."""

    __tablename__ = "inspector_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
