"""Wires one process's parts together: the resolver's runtime, detection's escalation with the alert service as
its sink, the ministry's rollups, and the background tasks of the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alerts.service import AlertService
from detection.engine import EngineConfig, load_config
from detection.escalation import Escalation
from detection.online import Detector, LearnedPlaces
from issuer.printing_service import TemplatesUnavailable, available_templates
from ministry.rollup import apply_scan_rollups
from resolver.hotpath import Resolver
from resolver.location import EdgeHeaders, Locator
from resolver.lot_view import LotCache
from resolver.registry import RegistryCache
from resolver.runtime import ResolverRuntime, drain_spool_every
from resolver.scanning import CountingScanService, ResolverConfig, ScanService, consumer_scan_counts
from resolver.store import make_store
from resolver.store.spool import DRAIN_SECONDS
from resolver.worker import ScanWriter, drain
from tem.core import metrics
from tem.core.db import Database
from tem.core.instance import DerivedKeys, instance_secret
from tem.core.settings import Settings

log = logging.getLogger("tem.resolver")

PLACES_POLL_SECONDS = 30.0


def scan_writer(
    db: Database, config: EngineConfig, alerts: AlertService, places: LearnedPlaces | None = None
) -> ScanWriter:
    """What the worker writes with each batch of scans: the ministry's rollups, and detection's alerts and
    aggregates."""
    return ScanWriter(db, Escalation(config, alerts), [apply_scan_rollups], places)


def _pin_templates(settings: Settings) -> frozenset[str]:
    """The label templates with a scratch-off PIN panel: the trace page asks for a PIN only on their stamps."""
    try:
        return frozenset(template.name for template in available_templates(settings) if template.pin is not None)
    except TemplatesUnavailable:  # printing says so itself; the resolver serves without PIN forms
        return frozenset()


async def build_runtime(settings: Settings, db: Database, alerts: AlertService) -> ResolverRuntime:
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
        trusted_proxies=tuple(settings.trusted_proxies),
    )
    store, redis = make_store(settings)
    registry = RegistryCache(
        db, redis, settings.redis_prefix, settings.registry_poll_seconds, pin_templates=_pin_templates(settings)
    )
    await registry.refresh()
    locator = Locator(
        trust_edge_headers=settings.trust_edge_headers,
        trusted_proxies=tuple(settings.trusted_proxies),
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
    # With metrics off the scan path runs without counting or timing (the benchmark compares the two).
    # The hot path counts its own scans (Resolver.counted) and is timed (scan_seconds) in memory, flushed into
    # prometheus-client's figures by a task of the runtime; the other callers (inspectors, PIN entries, rare) go
    # through the counting scan service.
    plain = ScanService(config, store, detector)
    scans = CountingScanService(config, store, detector) if settings.metrics else plain
    resolver = Resolver(config, registry, plain, locator, consumer_scan_counts() if settings.metrics else None)
    writer = scan_writer(db, engine_config, alerts, places)
    runtime = ResolverRuntime(config, registry, store, LotCache(db, settings.pesticide_file), resolver, scans, writer)
    runtime.scan_seconds = metrics.SCAN_TIMES if settings.metrics else None
    in_process = settings.run_worker_in_process
    if in_process is None:
        in_process = redis is None
    places.update(await asyncio.to_thread(writer.learned_places))
    if in_process:
        runtime.worker = asyncio.create_task(drain(store, writer, "in-process", stop=runtime.stop))
    else:
        runtime.places_poll = asyncio.create_task(_poll_places(writer, places, runtime.stop))
    runtime.spool_drain = asyncio.create_task(drain_spool_every(store, DRAIN_SECONDS, runtime.stop))
    if settings.metrics:
        runtime.metrics_flush = asyncio.create_task(metrics.flush_every(metrics.FLUSH_SECONDS, runtime.stop))
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
