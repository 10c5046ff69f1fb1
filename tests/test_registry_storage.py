"""The registry under load: ranges not rows, no overlaps under concurrency, an append-only audit log."""

from __future__ import annotations

import asyncio
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from detection.engine.model import Role, StampState
from identity.principal import Principal
from issuer import repository, schemas, service
from issuer.keys import SignerCache
from issuer.models import Activation, AuditEvent, SerialRange
from resolver.registry import RegistryCache
from tem.core.db import Database
from tem.core.errors import Conflict
from tem.core.settings import Settings
from tests.conftest import PG_URL, World
from tests.helpers import GTIN_A, order, setup_packer


def _packer_principal(settings: Settings, code: str = "VN-TGPH-0001") -> Principal:
    db = Database(settings.effective_database_url)
    with db.session() as session:
        org = service.organisation(session, code)
        principal = Principal(None, org.id, org.code, Role.PACKER, "test")
    db.dispose()
    return principal


def test_a_million_stamps_are_a_constant_number_of_rows(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    db = Database(settings.effective_database_url)
    with db.session() as session:
        before = {m.__name__: repository.count_rows(session, m) for m in (SerialRange, Activation, AuditEvent)}
    big = order(c, world.packer, GTIN_A, 1_000_000)
    assert (big["first_serial"], big["last_serial"]) == (1, 1_000_000)
    c.post(
        "/api/v1/activations",
        headers=world.packer,
        json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 1_000_000, "lot": "LOT-1"},
    )
    with db.session() as session:
        after = {m.__name__: repository.count_rows(session, m) for m in (SerialRange, Activation, AuditEvent)}
    db.dispose()
    assert after["SerialRange"] - before["SerialRange"] == 1
    assert after["Activation"] - before["Activation"] == 1
    assert after["AuditEvent"] - before["AuditEvent"] == 3  # order created, issued, activated


def test_parallel_orders_for_one_gtin_never_overlap(world: World, settings: Settings) -> None:
    """20 orders at once, each in its own transaction and connection."""
    setup_packer(world.client, world.packer)
    packer = _packer_principal(settings)
    db = Database(settings.effective_database_url)
    keys = service.Keys(settings, SignerCache())
    start = threading.Barrier(20)

    def place(quantity: int) -> tuple[int, int]:
        start.wait()
        with db.session() as session:
            made = service.create_order(session, keys, packer, schemas.OrderCreate(gtin=GTIN_A, quantity=quantity))
        assert made.first_serial is not None
        assert made.last_serial is not None
        return made.first_serial, made.last_serial

    quantities = [7 + i * 13 for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        ranges = sorted(pool.map(place, quantities))
    db.dispose()
    assert len(ranges) == 20
    assert ranges[0][0] == 1
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first == last + 1, ranges
    assert ranges[-1][1] == sum(quantities)


def test_parallel_overlapping_activations_admit_exactly_one(world: World, settings: Settings) -> None:
    setup_packer(world.client, world.packer)
    order(world.client, world.packer, GTIN_A, 100)
    packer = _packer_principal(settings)
    db = Database(settings.effective_database_url)
    start = threading.Barrier(8)

    def activate(offset: int) -> str:
        start.wait()
        data = schemas.ActivationCreate(gtin=GTIN_A, first_serial=10 + offset, last_serial=60 + offset, lot="LOT-1")
        try:
            with db.session() as session:
                service.activate(session, packer, data)
        except Conflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(activate, range(8)))
    with db.session() as session:
        rows = session.scalars(select(Activation)).all()
    db.dispose()
    assert outcomes.count("ok") == 1
    assert len(rows) == 1


def test_audit_log_records_who_did_what(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    made = order(c, world.packer, GTIN_A, 10)
    c.post(
        "/api/v1/activations",
        headers=world.packer,
        json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 10, "lot": "LOT-1"},
    )
    c.post(
        "/api/v1/revocations",
        headers=world.packer,
        json={"gtin": GTIN_A, "first_serial": 5, "last_serial": 5, "category": "withdrawn", "reason": "tag torn"},
    )
    c.get(f"/api/v1/orders/{made['id']}/stamps.csv", headers=world.packer)
    db = Database(settings.effective_database_url)
    with db.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    db.dispose()
    actions = [e.action for e in events]
    for expected in (
        "key.generated",
        "order.issued",
        "stamps.activated",
        "stamps.revoked",
        "order.stamps_downloaded",
    ):
        assert expected in actions
    issued = next(e for e in events if e.action == "order.issued")
    assert issued.actor.startswith("token:")
    assert "packer VN-TGPH-0001" in issued.actor
    assert issued.details["first_serial"] == 1
    assert all("tem_" not in str(e.details) for e in events)  # no tokens in the log


@pytest.mark.skipif(not PG_URL, reason="the append-only trigger is PostgreSQL's; needs TEM_DATABASE_URL")
def test_audit_log_is_append_only_on_postgres(world: World, settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    with pytest.raises(DBAPIError, match="append-only"), db.session() as session:
        session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with pytest.raises(DBAPIError, match="append-only"), db.session() as session:
        session.execute(text("DELETE FROM audit_log"))
    db.dispose()


class _RedisGoneAway:
    """The Redis that shares registry snapshots between processes, down."""

    async def get(self, _key: str) -> bytes | None:
        raise RedisConnectionError("connection refused")

    async def set(self, *_args: object, **_kwargs: object) -> None:
        raise RedisConnectionError("connection refused")


def test_a_registry_rebuild_falls_back_to_the_database_when_its_shared_copy_is_unreachable(
    world: World, settings: Settings
) -> None:
    c = world.client
    setup_packer(c, world.packer)
    order(c, world.packer, GTIN_A, 10)
    db = Database(settings.effective_database_url)
    try:
        cache = RegistryCache(db, _RedisGoneAway())  # type: ignore[arg-type]
        asyncio.run(cache.refresh())
        assert cache.snapshot.ranges.lookup(GTIN_A, 5, "").state is StampState.NOT_ACTIVATED
    finally:
        db.dispose()


def test_an_account_cannot_have_the_consumer_role() -> None:
    with pytest.raises(ValidationError, match="packer, inspector, distributor or ministry"):
        schemas.TokenCreate(organisation="VN-TGPH-0001", role=Role.CONSUMER, name="someone")
