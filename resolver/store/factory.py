"""The scan store a process uses, from its settings: in process by default, Redis (or Redis Cluster) when
`TEM_REDIS_URL` is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis, RedisCluster

from resolver.store.base import ScanStore
from resolver.store.cluster import ClusterClient
from resolver.store.memory import MemoryScanStore
from resolver.store.redis_store import RedisScanStore
from resolver.store.spool import ScanSpool

if TYPE_CHECKING:
    from tem.core.settings import Settings


def make_store(settings: Settings) -> tuple[ScanStore, Redis | RedisCluster | None]:
    """The store, and the redis-py client behind it (None: the in-process store), which others share."""
    if not settings.redis_url:
        return MemoryScanStore(settings.scan_places_kept), None
    client: Redis | RedisCluster
    if settings.redis_cluster:
        client = ClusterClient.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    else:
        client = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    # Scans Redis refuses wait in TEM_HOME/spool (TEM_SCAN_SPOOL), answered, until Redis takes them again.
    spool = ScanSpool(settings.home / "spool") if settings.scan_spool else None
    return RedisScanStore(client, settings.redis_prefix, settings.scan_places_kept, spool=spool), client
