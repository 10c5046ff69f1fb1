"""Backup and restore on PostgreSQL: `pg_dump -Fc` of a seeded database restored with `pg_restore` into an empty
one holds the same rows, and its audit chain still verifies (the runbook in docs/deploy.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEM_DATABASE_URL", "").startswith("postgresql"), reason="needs PostgreSQL"
)


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}  # noqa: S608
    finally:
        engine.dispose()


def test_a_dump_restored_into_an_empty_database_has_the_same_rows_and_a_good_audit_chain(
    database_url: str, env: dict[str, str], tmp_path: Path
) -> None:
    seeded = subprocess.run(
        [sys.executable, "-m", "tem", "demo", "--no-serve", "--json"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    dump = tmp_path / "tem.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), _libpq(database_url)], check=True, timeout=120)

    restored_name = f"tem_restored_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{restored_name}"'))
    restored = make_url(database_url).set(database=restored_name).render_as_string(hide_password=False)
    try:
        done = subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", _libpq(restored), str(dump)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        before, after = _counts(database_url), _counts(restored)
        assert after == before
        assert before["audit_log"] > 10
        assert before["epcis_events"] > 0
        verified = subprocess.run(
            [sys.executable, "-m", "tem", "audit", "verify"],
            env={**env, "TEM_DATABASE_URL": restored}, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        assert f"{before['audit_log']} rows" in verified.stdout
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        admin.dispose()
