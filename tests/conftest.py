"""Test fixtures. Every test gets its own fresh, migrated database: a copied SQLite file by default,
or a PostgreSQL database cloned from a migrated template when TEM_DATABASE_URL is set."""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tem import compiled
from tem.core.settings import Settings
from tem.migrate import upgrade

PG_URL = os.environ.get("TEM_DATABASE_URL")
REDIS_URL = os.environ.get("TEM_REDIS_URL")
TEST_KEK = base64.b64encode(bytes(range(32))).decode()
BASE_URL = "http://127.0.0.1:8000"

needs_postgres = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEM_DATABASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    stale = compiled.stale()
    if stale:  # Python would load the old compiled code, and the tests would not test the source
        pytest.exit(f"{', '.join(stale)} changed since compiled: run `make setup` (or scripts/compile-detection)", 2)


class _Databases:
    """Hands out one fresh database URL per test."""

    def __init__(self, root: Path) -> None:
        self._counter = itertools.count()
        self._tag = uuid.uuid4().hex[:8]
        self._created: list[str] = []
        if PG_URL:
            self._admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            self._template = f"tem_tpl_{self._tag}"
            with self._admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self._template}"'))
            upgrade(self._url_for(self._template))
        else:
            self._template_file = root / "template.sqlite3"
            upgrade(f"sqlite:///{self._template_file}")

    def _url_for(self, name: str) -> str:
        assert PG_URL
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def new(self, tmp_path: Path) -> str:
        if PG_URL:
            name = f"tem_t_{self._tag}_{next(self._counter)}"
            with self._admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
            self._created.append(name)
            return self._url_for(name)
        target = tmp_path / "tem.sqlite3"
        shutil.copyfile(self._template_file, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        if PG_URL:
            name = make_url(url).database
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if PG_URL:
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)'))
            self._admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Databases]:
    dbs = _Databases(tmp_path_factory.mktemp("template"))
    yield dbs
    dbs.close()


@pytest.fixture
def database_url(databases: _Databases, tmp_path: Path) -> Iterator[str]:
    url = databases.new(tmp_path)
    yield url
    databases.drop(url)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """Each test's Redis keys live under their own prefix and are deleted afterwards."""
    prefix = f"tem-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    if REDIS_URL:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_prefix: str) -> Settings:
    return Settings(
        redis_prefix=redis_prefix,
        home=tmp_path / "home",
        database_url=database_url,
        redis_url=REDIS_URL,
        kek=TEST_KEK,
        kek_file=None,
        public_base_url=BASE_URL,
        run_worker_in_process=False,  # tests flush the scan log themselves, deterministically
        forged_burst_limit=1000,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from tem.app import create_app

    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """Environment for running the `tem` CLI against this test's database."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEM_")}
    return {
        **clean,
        "TEM_HOME": str(settings.home),
        "TEM_DATABASE_URL": settings.effective_database_url,
        "TEM_KEK": TEST_KEK,
        "TEM_PUBLIC_BASE_URL": BASE_URL,
        # This test's own key prefix: registry rows shared in Redis are keyed by version, and another test's
        # database reaches the same version numbers.
        **({"TEM_REDIS_URL": REDIS_URL, "TEM_REDIS_PREFIX": settings.redis_prefix} if REDIS_URL else {}),
    }


@dataclass
class World:
    """Two packing houses, the ministry and an inspection agency, each with a token, and a signing key."""

    client: TestClient
    packer: dict[str, str]
    other_packer: dict[str, str]
    ministry: dict[str, str]
    inspector: dict[str, str]

    def post(self, path: str, who: dict[str, str], **json: object) -> object:
        return self.client.post(path, json=json, headers=who)


@pytest.fixture
def world(client: TestClient, settings: Settings) -> World:
    from identity.principal import operator
    from issuer import keys, schemas, service
    from tem.core.db import Database

    db = Database(settings.effective_database_url)
    admin = operator("test")
    orgs = [
        ("packing_house", "Cơ sở đóng gói A", "VN-TGPH-0001", "Tiền Giang"),
        ("packing_house", "Cơ sở đóng gói B", "VN-DLPH-0002", "Đắk Lắk"),
        ("ministry", "Bộ Nông nghiệp và Môi trường", "BNNMT", "Hà Nội"),
        ("inspection_agency", "Quản lý thị trường", "QLTT-HN", "Hà Nội"),
    ]
    roles = ["packer", "packer", "ministry", "inspector"]
    headers = []
    with db.session() as session:
        keys.generate(session, keys.load_kek(settings), admin)
        for (kind, name, code, province), role in zip(orgs, roles, strict=True):
            service.create_organisation(
                session,
                settings,
                admin,
                schemas.OrganisationCreate(kind=kind, name=name, code=code, province=province),  # type: ignore[arg-type]
            )
            _row, token = service.create_token(
                session,
                admin,
                schemas.TokenCreate(organisation=code, role=role, name=f"{role} {code}"),  # type: ignore[arg-type]
            )
            headers.append({"Authorization": f"Bearer {token}"})
    db.dispose()
    return World(client, *headers)
