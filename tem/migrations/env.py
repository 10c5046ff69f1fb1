"""Alembic environment: the URL comes from Tem's settings unless the caller passed a connection."""

from __future__ import annotations

import re

from alembic import context

# Every package's tables, registered on Base.metadata.
import alerts.models  # noqa: F401
import detection.models  # noqa: F401
import epcis.models  # noqa: F401
import identity.models  # noqa: F401
import inspector.models  # noqa: F401
import issuer.models  # noqa: F401
import ministry.models  # noqa: F401
import portal.models  # noqa: F401
import reports.models  # noqa: F401
import resolver.models  # noqa: F401
from tem.core.db import Base, make_engine
from tem.core.settings import get_settings

config = context.config
PARTITION = re.compile(r"^scans_\d{4}_\d{2}$")
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Monthly partitions of the scans table are made by `tem worker`, not by migrations.
    return not (type_ == "table" and reflected and name is not None and PARTITION.match(name))


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # alembic's stub wants a Connection
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs table rebuilds for ALTERs
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
