"""Builds the resolver's parts for one process: the registry cache, the scan store, the in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis, RedisCluster

from resolver.alerts.webhooks import run_webhooks
from resolver.detection import Detector, LearnedPlaces
from resolver.engine import load_config
from resolver.hotpath import MAX_HEADER_BYTES, MAX_TARGET, Request, Resolver, ResolverConfig, Scope
from resolver.location import EdgeHeaders, Locator
from resolver.lots import LotCache
from resolver.registry import RegistryCache
from resolver.store import ClusterClient, MemoryScanStore, RedisScanStore, ScanStore
from resolver.worker import ScanWriter, drain
from tem.db import Database
from tem.instance import DerivedKeys, instance_secret
from tem.settings import Settings

log = logging.getLogger("tem.resolver")

PLACES_POLL_SECONDS = 30.0


@dataclass
class ResolverRuntime:
    config: ResolverConfig
    registry: RegistryCache
    store: ScanStore
    lots: LotCache
    resolver: Resolver
    writer: ScanWriter
    worker: asyncio.Task[int] | None = None
    webhooks: asyncio.Task[None] | None = None
    places_poll: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def flush(self) -> int:
        """Write whatever the log holds now (tests, shutdown)."""
        return await drain(self.store, self.writer, "flush", once=True)

    async def close(self) -> None:
        self.stop.set()
        for task in (self.worker, self.webhooks, self.places_poll):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            await self.flush()
        await self.registry.close()
        await self.store.close()


def make_store(settings: Settings) -> tuple[ScanStore, Any]:
    if not settings.redis_url:
        return MemoryScanStore(settings.scan_places_kept), None
    client: Redis | RedisCluster
    if settings.redis_cluster:
        client = ClusterClient.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    else:
        client = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    return RedisScanStore(client, settings.redis_prefix, settings.scan_places_kept), client


async def build_runtime(settings: Settings, db: Database) -> ResolverRuntime:
    keys = DerivedKeys.from_secret(instance_secret(settings))
    config = ResolverConfig(
        base=settings.public_base_url.rstrip("/"),
        link_key=keys.scan_link,
        ip_salt=keys.ip_salt,
        forged_burst_limit=settings.forged_burst_limit,
        forged_window_seconds=settings.forged_window_seconds,
        verify_cache_size=settings.verify_cache_size,
        secure_cookies=settings.public_base_url.startswith("https"),
        client_ip_header=settings.edge_client_ip_header if settings.trust_edge_headers else None,
    )
    store, redis = make_store(settings)
    registry = RegistryCache(db, redis, settings.redis_prefix, settings.registry_poll_seconds)
    await registry.refresh()
    locator = Locator(
        trust_edge_headers=settings.trust_edge_headers,
        edge=EdgeHeaders(
            country=settings.edge_country_header,
            latitude=settings.edge_latitude_header,
            longitude=settings.edge_longitude_header,
            region=settings.edge_region_header,
            city=settings.edge_city_header,
        ),
        ip_database=settings.geoip_database,
    )
    engine_config = load_config(settings.detection_config)
    places = LearnedPlaces()
    detector = Detector(engine_config, places, online=settings.online_detection)
    resolver = Resolver(config, registry, store, locator, detector)
    writer = ScanWriter(db, engine_config, places, settings.webhook_urls)
    runtime = ResolverRuntime(config, registry, store, LotCache(db), resolver, writer)
    in_process = settings.run_worker_in_process
    if in_process is None:
        in_process = redis is None
    places.update(await asyncio.to_thread(writer.learned_places))
    if in_process:
        runtime.worker = asyncio.create_task(drain(store, writer, "in-process", stop=runtime.stop))
        if settings.webhook_urls:
            runtime.webhooks = asyncio.create_task(run_webhooks(db, settings, runtime.stop))
    else:
        runtime.places_poll = asyncio.create_task(_poll_places(writer, places, runtime.stop))
    return runtime


async def _poll_places(writer: ScanWriter, places: LearnedPlaces, stop: asyncio.Event) -> None:
    """The resale places `tem worker` learns per lot, fetched now and then (they change over days)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PLACES_POLL_SECONDS)
        try:
            places.update(await asyncio.to_thread(writer.learned_places))
        except Exception:  # the database is away: keep the places known so far
            log.warning("learned_places_poll_failed", exc_info=True)


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def is_scan_path(path: str) -> bool:
    """`/01/{gtin}/.../21/{serial}`: a stamp scan, for the resolver's hot path."""
    return path.startswith("/01/") and "/21/" in path


class ScanRouting:
    """ASGI middleware: stamp scans go straight to the resolver, everything else to the web app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and not is_scan_path(path):
            # Every other route is refused early when oversized, as the scan route refuses its own.
            if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > MAX_TARGET:
                await _plain(send, 414, b"request URI too long")
                return
            if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > MAX_HEADER_BYTES:
                await _plain(send, 431, b"request headers too large")
                return
        if scope["type"] == "http" and is_scan_path(path):
            runtime: ResolverRuntime = scope["app"].state.tem.resolver
            await runtime.resolver.handle(Request(scope), send)
            return
        await self.app(scope, receive, send)
