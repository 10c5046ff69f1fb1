"""Per-stamp scan state and the scan log: in process for the embedded default, Redis in production.

- `base`: what the resolver needs of a store (`ScanStore`), what a save answers, and `StoreUnavailable`,
  the error of a store that cannot be reached. No redis import: the scan path depends on this alone.
- `memory`: `MemoryScanStore`, the embedded default.
- `resp`: the scan path's own Redis client (RESP2 on one shared connection per process).
- `redis_store`: `RedisScanStore`, on one Redis or on Redis Cluster.
- `cluster`: what Redis Cluster needs of its own (`ClusterClient`).
- `factory`: `make_store`, the store a process's settings ask for.
"""

from __future__ import annotations

from detection.ports import Outcome, Saved
from resolver.store.base import ScanStore, StoreUnavailable, settle_later
from resolver.store.cluster import ClusterClient
from resolver.store.factory import make_store
from resolver.store.memory import MemoryScanStore
from resolver.store.redis_store import RedisScanStore
from resolver.store.resp import _RespProtocol as _RespProtocol  # tests/test_resp_protocol.py
from resolver.store.resp import command

__all__ = [
    "ClusterClient",
    "MemoryScanStore",
    "Outcome",
    "RedisScanStore",
    "Saved",
    "ScanStore",
    "StoreUnavailable",
    "command",
    "make_store",
    "settle_later",
]
