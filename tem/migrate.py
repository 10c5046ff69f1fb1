"""Run Alembic from code, so `tem db upgrade` works from any directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


#: Tables whose rows the application may only add and read: the audit chain (`issuer.audit`).
APPEND_ONLY = ("audit_log",)


def grant_app_role(owner_url: str, role: str, months_ahead: int = 13) -> None:
    """PostgreSQL, run as the tables' owner after `upgrade`: the application's role gets what it needs on every
    table and sequence, but only SELECT and INSERT on the append-only tables. The owner also creates the scan
    partitions for the months ahead, since only a table's owner may add partitions to it."""
    quoted = '"' + role.replace('"', '""') + '"'
    engine = create_engine(owner_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"))
            conn.execute(text(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
            for table in APPEND_ONLY:
                conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {quoted}"))
            start = dt.date.today().replace(day=1)
            for _ in range(months_ahead):
                end = (start + dt.timedelta(days=32)).replace(day=1)
                conn.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS scans_{start:%Y_%m} PARTITION OF scans "
                        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                    )
                )
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON scans_{start:%Y_%m} TO {quoted}"))
                start = end
    finally:
        engine.dispose()
