"""Tem on a real Redis Cluster (TEM_REDIS_CLUSTER_URL, one node of it; `scripts/ensure-redis-cluster` starts
three masters on 127.0.0.1:7001-7003, and CI does so). Stamps are picked so their keys live on different
nodes from each other and from the scan log's stream."""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import redis
from click.testing import CliRunner
from redis.asyncio import RedisCluster

from detection.engine.model import LocationSource, Place, Role, Verdict
from detection.scans import ScanEvent, new_scan_id
from resolver.store import ClusterClient, RedisScanStore, make_store
from tem.cli import main
from tem.core.settings import Settings
from tests.conftest import World
from tests.helpers import GTIN_A
from tests.processes import tem_serve
from tests.resolver_helpers import flush, issue_and_activate, runtime, scans, stamp_alerts

CLUSTER_URL = os.environ.get("TEM_REDIS_CLUSTER_URL")
pytestmark = pytest.mark.skipif(not CLUSTER_URL, reason="needs Redis Cluster: set TEM_REDIS_CLUSTER_URL")

GTIN = "08935000000014"
SHANGHAI = {"cf-ipcountry": "CN", "cf-iplatitude": "31.23", "cf-iplongitude": "121.47", "cf-ipcity": "Shanghai"}
HARBIN = {"cf-ipcountry": "CN", "cf-iplatitude": "45.80", "cf-iplongitude": "126.53", "cf-ipcity": "Harbin"}


@pytest.fixture
def cluster() -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster.from_url(CLUSTER_URL or "")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_prefix: str, cluster: redis.RedisCluster) -> Iterator[str]:
    """The test's own key prefix; afterwards its keys are deleted from every master."""
    yield redis_prefix
    for node in cluster.get_primaries():
        node_client = cluster.get_redis_connection(node)
        keys = list(node_client.scan_iter(match=f"{redis_prefix}:*", count=1000))
        for key in keys:  # one by one: a node refuses a multi-key DEL across slots
            node_client.delete(key)


def node_of(cluster: redis.RedisCluster, key: str) -> str:
    node = cluster.get_node_from_key(key)
    assert node is not None
    return str(node.name)


def stamp_key(prefix: str, serial: int, gtin: str = GTIN) -> str:
    return f"{prefix}:{{{gtin}:{serial}}}:s"


def serials_on_every_node(cluster: redis.RedisCluster, prefix: str) -> list[int]:
    """One serial per master, the first whose keys that master serves."""
    by_node: dict[str, int] = {}
    for serial in range(1, 1000):
        by_node.setdefault(node_of(cluster, stamp_key(prefix, serial)), serial)
        if len(by_node) == len(cluster.get_primaries()):
            break
    return sorted(by_node.values())


def event(serial: int, at: float, device: str, place: Place | None) -> ScanEvent:
    return ScanEvent(
        new_scan_id(at), at, GTIN, serial, "k1", "activated", Verdict.UNKNOWN, Role.CONSUMER, device, None, place, 1
    )


def test_the_cluster_has_three_masters_and_the_setting_picks_the_cluster_client(prefix: str) -> None:
    settings = Settings(redis_url=CLUSTER_URL, redis_cluster=True, redis_prefix=prefix)

    async def run() -> None:
        store, client = make_store(settings)
        assert isinstance(client, ClusterClient)
        assert isinstance(store, RedisScanStore)
        assert store._shared.supported is False  # the one-connection fast path is for a single node
        await client.initialize()
        assert len(client.get_primaries()) >= 3
        await store.close()

    asyncio.run(run())


def test_the_store_on_a_cluster_with_stamps_on_every_node(cluster: redis.RedisCluster, prefix: str) -> None:
    serials = serials_on_every_node(cluster, prefix)
    assert len(serials) == 3
    stamp_nodes = {node_of(cluster, stamp_key(prefix, s)) for s in serials}
    assert len(stamp_nodes) == 3  # every master holds one of the stamps...
    for serial in serials:  # ...with all four of its keys in one slot
        tag = f"{prefix}:{{{GTIN}:{serial}}}"
        assert len({cluster.keyslot(f"{tag}:{k}") for k in "sdhp"}) == 1
    assert node_of(cluster, f"{prefix}:scans") in stamp_nodes  # so some commits cross nodes
    shanghai = Place("CN", None, "Shanghai", 31.23, 121.47, 200.0)
    harbin = Place("CN", None, "Harbin", 45.8, 126.53, 200.0)

    async def run() -> None:
        store = RedisScanStore(RedisCluster.from_url(CLUSTER_URL or ""), prefix)
        start = 1780000000.0
        for serial in serials:
            first = event(serial, start, "d1", shanghai)
            saved = await store.save_judged([first], 0, b"after the first %d" % serial)
            assert (saved.ok, saved.version) == (True, 1)
            history = await store.history(GTIN, serial)
            assert (history.count, history.devices) == (1, 1)
            stale = await store.save_judged([event(serial, start + 1, "d2", harbin)], 0, b"judged from nothing")
            assert (stale.ok, stale.version, stale.memory) == (False, 1, b"after the first %d" % serial)

            second = event(serial, start + 60, "d2", harbin)
            saved = await store.save_judged([second], 1, b"after the second %d" % serial)
            assert saved.ok
            history = await store.history(GTIN, serial)
            assert (history.count, history.devices) == (2, 2)
            assert history.first_place == shanghai

            pin = replace(event(serial, start + 120, "d3", None), kind="pin")
            saved = await store.save_judged([pin], 2, b"after the PIN %d" % serial)
            assert (saved.ok, saved.version) == (True, 3)
            assert (await store.history(GTIN, serial)).count == 2  # a PIN entry is not a scan
            assert await store.confirm_pin(GTIN, serial, True) == (1, 0)
            assert await store.confirm_pin(GTIN, serial, False) == (1, 1)

            gps = Place("CN", None, "Suzhou", 31.3, 120.6, 0.05, LocationSource.DEVICE)
            await store.attach_place(replace(first, place=gps, kind="location"))
            history = await store.history(GTIN, serial)
            assert (history.count, history.devices) == (2, 2)
            assert history.first_place is not None
            assert history.first_place.city == "Suzhou"  # the phone's position replaced the first guess
            assert [p.city for p in history.recent] == ["Suzhou", "Harbin", "Shanghai"]

        # Ten scans of one stamp at once, all judged from version 3: exactly one is saved.
        crowd = [event(serials[0], start + 300 + i, f"c{i}", shanghai) for i in range(10)]
        outcomes = await asyncio.gather(*(store.save_judged([e], 3, b"crowd") for e in crowd))
        assert sum(outcome.ok for outcome in outcomes) == 1

        # The forged-scan counter, per network, on whichever node its key lands.
        assert [await store.count_forged(f"net-{n}", 60) for n in (1, 1, 2, 1)] == [1, 2, 1, 3]

        # The log: 2 scans, a PIN entry and a location per stamp, plus the crowd's one scan.
        expected = 4 * len(serials) + 1
        assert await store.log_length() == expected
        entries = await store.read_log("test", 100, 0)
        assert len(entries) == expected
        assert {e.serial for _, e in entries} == set(serials)
        assert await store.log_length() == expected  # read, not yet acknowledged
        await store.ack_log([entry_id for entry_id, _ in entries])
        assert await store.log_length() == 0
        assert await store.read_log("test", 100, 0) == []
        await store.close()

    asyncio.run(run())
    assert cluster.xlen(f"{prefix}:scans") == 0  # acknowledged entries are deleted
    assert cluster.ttl(f"{prefix}:forged:net-1") > 0


def test_a_new_cluster_client_takes_a_burst_of_scans_at_once(prefix: str) -> None:
    """The first scans of a process arrive together, before the client knows the slot map: none may be sent
    to the wrong node (plain redis-py then drops every connection, failing scans in flight)."""
    settings = Settings(redis_url=CLUSTER_URL, redis_cluster=True, redis_prefix=prefix)

    async def scan_and_commit(store: RedisScanStore, serial: int) -> int:
        saved = await store.save_judged([event(serial, 1780000000.0 + serial, "d1", None)], 0, b"m")
        assert saved.ok
        return (await store.history(GTIN, serial)).count

    async def run() -> None:
        store, _client = make_store(settings)
        assert isinstance(store, RedisScanStore)
        counts = await asyncio.gather(*(scan_and_commit(store, serial) for serial in range(1, 301)))
        assert counts == [1] * 300
        assert await store.log_length() == 300
        await store.close()

    asyncio.run(run())


@pytest.fixture
def settings(settings: Settings, prefix: str) -> Settings:
    """The app on the cluster, with locations from edge headers."""
    return settings.model_copy(
        update={"redis_url": CLUSTER_URL, "redis_cluster": True, "redis_prefix": prefix, "trust_edge_headers": True}
    )


def scan(world: World, uri: str, place: dict[str, str], phone: str) -> object:
    world.client.cookies.clear()
    parts = urlsplit(uri)
    return world.client.get(
        f"{parts.path}?{parts.query}", headers={**place, "user-agent": phone}, follow_redirects=False
    )


def serial_away_from_the_log(cluster: redis.RedisCluster, prefix: str, activated: int) -> int:
    stream_node = node_of(cluster, f"{prefix}:scans")
    return next(s for s in range(1, activated + 1) if node_of(cluster, stamp_key(prefix, s, GTIN_A)) != stream_node)


def test_scans_on_a_cluster_end_to_end(world: World, cluster: redis.RedisCluster, prefix: str) -> None:
    c = world.client
    assert isinstance(runtime(c).registry._redis, RedisCluster)  # the registry rows are shared there too
    stamps = issue_and_activate(world)
    serial = serial_away_from_the_log(cluster, prefix, 10)
    first = scan(world, stamps.uris[serial - 1], SHANGHAI, "phone-a")
    assert first.status_code == 307  # type: ignore[attr-defined]
    copy = scan(world, stamps.uris[serial - 1], HARBIN, "phone-b")
    assert copy.status_code == 200  # type: ignore[attr-defined]
    assert 'data-verdict="counterfeit"' in copy.text  # type: ignore[attr-defined]
    assert cluster.hget(stamp_key(prefix, serial, GTIN_A), "n") == b"2"  # the stamp's state is on its node
    assert flush(c) == 2
    assert [(r.serial, r.verdict) for r in scans(c)] == [(serial, "genuine"), (serial, "counterfeit")]
    travel = [a for a in stamp_alerts(c) if a.type == "impossible_travel"]
    assert [(a.severity, a.serial) for a in travel] == [("critical", str(serial))]
    assert cluster.xlen(f"{prefix}:scans") == 0


def test_tem_serve_and_tem_worker_on_a_cluster(
    world: World, env: dict[str, str], cluster: redis.RedisCluster, prefix: str
) -> None:
    """The two processes of production, each on its own, with TEM_REDIS_CLUSTER set."""
    stamps = issue_and_activate(world)
    cluster_env = {
        **env,
        "TEM_REDIS_URL": CLUSTER_URL or "",
        "TEM_REDIS_CLUSTER": "true",
        "TEM_REDIS_PREFIX": prefix,
        "TEM_SECRET_KEY": "cluster-test-secret",
        "TEM_WORKER_NICE": "0",
    }
    with tem_serve(cluster_env) as base:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:  # noqa: S310  # loopback http
            assert b'"ready":true' in response.read()
        parts = urlsplit(stamps.uris[serial_away_from_the_log(cluster, prefix, 10) - 1])
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(f"{base}{parts.path}?{parts.query}", timeout=5)
        assert answer.value.code == 307
        assert cluster.xlen(f"{prefix}:scans") == 1  # `tem serve` leaves the log to `tem worker`
        result = CliRunner().invoke(main, ["worker", "--once"], env=cluster_env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "wrote 1 scans" in result.output
        assert [r.verdict for r in scans(world.client)] == ["genuine"]
        assert cluster.xlen(f"{prefix}:scans") == 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
