"""The audit chain: every row hashed onto the one before, verified by `tem audit verify`, and its head signed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from crypto import parse_keyset_document
from crypto.jws import verify_compact
from identity.principal import operator
from issuer import audit
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import World


def _tem(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tem", *args], env=env, capture_output=True, text=True, check=False)


def test_chain_verifies_and_an_edited_row_is_named(world: World, settings: Settings, env: dict[str, str]) -> None:
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            for n in range(3):
                audit.record(session, operator("test"), "test.event", f"thing:{n}", {"n": n, "ü": "ö"})
        good = _tem(env, "audit", "verify")
        assert good.returncode == 0, good.stderr
        assert "audit chain verified" in good.stdout
        with db.session() as session:
            verdict = audit.verify(session)
            assert verdict.ok
            assert verdict.count >= 8
        with db.session() as session:
            if db.engine.dialect.name == "postgresql":
                session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            session.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3"))
        bad = _tem(env, "audit", "verify")
        assert bad.returncode == 1
        assert "seq 3" in bad.stderr
        assert "edited" in bad.stderr
    finally:
        db.dispose()


def test_a_removed_row_breaks_the_chain(world: World, settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            if db.engine.dialect.name == "postgresql":
                session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
        with db.session() as session:
            verdict = audit.verify(session)
        assert not verdict.ok
        assert verdict.bad_seq == 2
    finally:
        db.dispose()


def test_audit_head_is_a_jws_that_verifies_against_the_keyset(world: World) -> None:
    response = world.client.get("/.well-known/tem-audit-head")
    assert response.status_code == 200
    keyset = parse_keyset_document(world.client.get("/.well-known/tem-keys.json").json())
    header, payload = verify_compact(response.text, keyset)
    assert header["alg"] == "EdDSA"
    assert set(payload) == {"seq", "head", "at"}
    assert payload["seq"] >= 1
    assert len(payload["head"]) == 64


@pytest.mark.skipif(not os.environ.get("TEM_DATABASE_URL", "").startswith("postgresql"), reason="needs PostgreSQL")
def test_the_application_role_can_add_audit_rows_but_never_change_them(database_url: str, env: dict[str, str]) -> None:
    """Migrations run as the owner (TEM_MIGRATION_DATABASE_URL); the application's own role may only add and read
    audit rows: UPDATE, DELETE and TRUNCATE are refused by PostgreSQL's privileges, not only by a trigger."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    role = f"tem_app_{uuid.uuid4().hex[:8]}"
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    app_url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    try:
        upgraded = _tem(
            {**env, "TEM_MIGRATION_DATABASE_URL": database_url, "TEM_DATABASE_URL": app_url}, "db", "upgrade"
        )
        assert upgraded.returncode == 0, upgraded.stderr
        app = Database(app_url)
        try:
            with app.session() as session:
                audit.record(session, operator("test"), "test.event", "thing:1", {"n": 1})
            for statement in (
                "UPDATE audit_log SET actor = 'x'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
            ):
                with pytest.raises(DBAPIError, match="permission denied"), app.session() as session:
                    session.execute(text(statement))
            verified = _tem({**env, "TEM_DATABASE_URL": app_url}, "audit", "verify")
            assert verified.returncode == 0, verified.stderr
        finally:
            app.dispose()
    finally:
        with owner.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        owner.dispose()
