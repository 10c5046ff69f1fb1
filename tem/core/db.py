"""Database engine and sessions. Built by whoever owns the process (app lifespan, CLI), never at import."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Dialect, MetaData, Row, Table, TypeDecorator, create_engine, event, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Stored as UTC. SQLite keeps no zone, so values are converted to UTC before writing and marked
    UTC on reading; PostgreSQL gets timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Tem stores only timezone-aware times")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _private_sqlite_file(url: str) -> None:
    """The SQLite database holds tokens' hashes, sealed keys and the audit log: it is made 0600 before SQLite
    opens it (SQLite makes its -wal and -shm files with the database's mode), and an existing one, made by
    an older version with the umask's 0644, is tightened."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Never open and close an existing database here: closing any descriptor of a file drops every POSIX
        # lock this process holds on it, SQLite's included (another engine's connections then fail).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers locks; take the write lock at BEGIN so
        # read-then-write allocations cannot interleave.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def insert_new(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], returning: Sequence[str]
) -> list[Row[Any]]:
    """Insert many rows, skipping those whose key is taken, and return `returning` of the rows inserted.

    On PostgreSQL the rows travel as one JSON document (`json_populate_recordset`), serialised in C by orjson:
    an `INSERT ... VALUES` of hundreds of rows has thousands of placeholders, which psycopg parses afresh for
    every batch, and binding one array per column made psycopg dump every value in Python; either was most of
    `tem worker`'s time. Datetimes must carry their zone (as `UtcDateTime` requires of every Tem time).
    """
    if not rows:
        return []
    columns = list(rows[0])
    if conn.dialect.name != "postgresql":
        statement = sqlite_insert(table).on_conflict_do_nothing().returning(*(table.c[name] for name in returning))
        return list(conn.execute(statement, rows))
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[name].name) for name in columns)  # unknown names: KeyError
    returned = ", ".join(quote(table.c[name].name) for name in returning)
    # Every name is a column of `table`, quoted; the rows are one bound parameter.
    sql = (
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{quote(table.name)}, CAST(:rows AS json)) "
        f"ON CONFLICT DO NOTHING RETURNING {returned}"
    )
    return list(conn.execute(text(sql), {"rows": orjson.dumps(rows).decode()}))
