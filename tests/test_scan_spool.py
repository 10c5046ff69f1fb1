"""The scan log heals itself: scans Redis refuses are spooled to a private local file and answered, the spool
drains back into the stream, the worker makes a lost consumer group again; and private files are 0600."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import uuid
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from detection.engine.model import Role, Verdict
from detection.scans import ScanEvent, new_scan_id, now_millis
from resolver.store import RedisScanStore
from resolver.store.spool import OutageLog, ScanSpool
from tem.core.db import make_engine
from tests.conftest import REDIS_URL
from tests.processes import free_port

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set TEM_REDIS_URL")


def event(serial: int = 1) -> ScanEvent:
    now = now_millis()
    return ScanEvent(
        scan_id=new_scan_id(now),
        at=now,
        gtin="08930000000017",
        serial=serial,
        kid="k1",
        state="activated",
        verdict=Verdict.GENUINE,
        role=Role.CONSUMER,
        device_id="d",
        ip_hash=None,
        place=None,
        lot_id=None,
        kind="scan",
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_save_redis_refuses_is_spooled_to_a_private_file_answered_and_drained(tmp_path: Path) -> None:
    spool = ScanSpool(tmp_path / "spool")
    # Nothing listens on this port: every save fails, as with Redis down.
    store = RedisScanStore(Redis(port=free_port(), socket_connect_timeout=1), "t", spool=spool)
    events = [event(1), event(1)]

    async def run() -> list[bytes]:
        saved = await store.save_judged(events, 3, b"memory")
        assert saved.ok
        assert saved.version == 4  # answered: the verdict stands, judged from this process's memory
        await store.save_judged([event(2)], None, b"")  # unjudged, straight to the spool (Redis failed a moment ago)
        (path,) = spool.files()
        assert mode(path) == 0o600
        assert mode(spool.directory) == 0o700
        assert spool.spooled == 3
        assert await store.drain_spool() == 0  # Redis still away: the file waits
        pushed: list[bytes] = []

        async def push(entries: list[bytes]) -> None:
            pushed.extend(entries)

        assert await spool.drain(push) == 3
        assert spool.files() == []
        assert not spool.pending()
        return pushed

    pushed = asyncio.run(run())
    assert [ScanEvent.from_json(e).scan_id for e in pushed[:2]] == [e.scan_id for e in events]


def test_a_dead_process_spool_is_drained_its_torn_line_skipped_a_live_one_left(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    live = ScanSpool(directory)
    live.write([event().to_json()])
    dead = directory / "scans-1-dead.spool"
    dead.write_bytes(event().to_json() + b"\n" + b'{"torn')
    other = ScanSpool(directory)  # another process: it must not take the live process's file
    pushed: list[bytes] = []

    async def push(entries: list[bytes]) -> None:
        pushed.extend(entries)

    assert asyncio.run(other.drain(push)) == 1
    assert not dead.exists()
    assert len(live.files()) == 1
    assert asyncio.run(live.drain(push)) == 1
    assert live.files() == []


def test_outage_logs_one_line_per_period_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(logging.getLogger("tem.test"), "thing_failed", every=60)
    with caplog.at_level(logging.WARNING, "tem.test"):
        for _ in range(500):
            outage.note("ConnectionError")
        outage.over()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["thing_failed error=ConnectionError count=1", "thing_failed count=499 (until recovery)"]


@needs_redis
def test_the_worker_makes_the_group_again_when_redis_lost_it() -> None:
    """Redis restarted empty: the group is gone and XREADGROUP answers NOGROUP. The store made it once and
    used to remember that for ever; now it makes it again, and the scans after the restart are read."""
    assert REDIS_URL
    prefix = f"tem-test-{uuid.uuid4().hex[:12]}"
    sync = redis.Redis.from_url(REDIS_URL)

    async def run() -> None:
        store = RedisScanStore(Redis.from_url(REDIS_URL), prefix)
        try:
            assert await store.read_log("w", 10, 0) == []
            sync.delete(f"{prefix}:scans")  # as after a restart without persistence
            fresh = event()
            await store.append_entry(fresh)
            entries = await store.read_log("w", 10, 0)
            assert [e.scan_id for _, e in entries] == [fresh.scan_id]
            await store.ack_log([entry_id for entry_id, _ in entries])
            sync.delete(f"{prefix}:scans")
            assert (await store.log_figures()).length == 0  # /metrics heals too
        finally:
            await store.close()

    try:
        asyncio.run(run())
    finally:
        sync.delete(f"{prefix}:scans")
        sync.close()


def test_the_sqlite_database_is_created_0600_and_an_existing_one_tightened(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        new = tmp_path / "new" / "tem.sqlite3"
        engine = make_engine(f"sqlite:///{new}")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert mode(new) == 0o600
        for extra in (Path(f"{new}-wal"), Path(f"{new}-shm")):
            if extra.exists():
                assert mode(extra) == 0o600
        engine.dispose()
        existing = tmp_path / "old.sqlite3"
        existing.touch(mode=0o644)
        existing.chmod(0o644)
        make_engine(f"sqlite:///{existing}").dispose()
        assert mode(existing) == 0o600
    finally:
        os.umask(old)
