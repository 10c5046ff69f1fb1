"""The resolver's parts in one process (built by `tem.runtime`), how routes reach them, and the ASGI middleware
that sends scans to the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Annotated, Any

from fastapi import Depends
from fastapi import Request as HttpRequest

from detection.engine.model import AlertLevelChange
from detection.online import change_alert_level
from resolver.hotpath import MAX_HEADER_BYTES, MAX_TARGET, Request, Resolver, Scope
from resolver.lot_view import LotCache
from resolver.registry import RegistryCache
from resolver.scanning import ResolverConfig, ScanService
from resolver.store import ScanStore
from resolver.worker import ScanWriter, drain
from tem.core import metrics

log = logging.getLogger("tem.resolver")


@dataclass
class ResolverRuntime:
    config: ResolverConfig
    registry: RegistryCache
    store: ScanStore
    lots: LotCache
    resolver: Resolver
    scans: ScanService
    writer: ScanWriter
    # Background work of this process, stopped on close: the in-process worker (the embedded default), or
    # else the poll of the resale places that `tem worker` learns; and with metrics on, the flush of the scan
    # path's figures into prometheus-client's.
    worker: asyncio.Task[int] | None = None
    places_poll: asyncio.Task[None] | None = None
    metrics_flush: asyncio.Task[None] | None = None
    spool_drain: asyncio.Task[None] | None = None  # scans spooled while Redis was away, pushed back
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # `tem_scan_duration_seconds`, observed around each hot-path call (here and in tem/asgi.py) into memory and
    # flushed into the histogram; None with metrics off.
    scan_seconds: metrics.BufferedHistogram | None = None

    async def change_alert_levels(self, changes: Sequence[AlertLevelChange]) -> None:
        """Stamp alerts closed or opened outside the engine: each stamp's memory follows (see
        `detection.online.change_alert_level`). A store that fails is logged: the verdict then lags the
        alerts until the next change (it never makes a genuine stamp worse)."""
        for change in changes:
            try:
                await change_alert_level(
                    self.store, self.scans.detector, change.gtin, change.serial, change.type, change.severity
                )
            except Exception:
                log.exception("stamp_alert_level_not_changed gtin=%s serial=%s", change.gtin, change.serial)

    async def flush(self) -> int:
        """Write whatever the log holds now (tests, shutdown)."""
        return await drain(self.store, self.writer, "flush", once=True)

    async def close(self) -> None:
        self.stop.set()
        for task in (self.worker, self.places_poll, self.metrics_flush, self.spool_drain):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # The scans counted since the last flush (in multiprocess mode, other processes' scrapes read them later).
        metrics.flush_buffered()
        with contextlib.suppress(Exception):
            await self.flush()
        await self.registry.close()
        await self.store.close()


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def drain_spool_every(store: ScanStore, seconds: float, stop: asyncio.Event) -> None:
    """Pushes the scans spooled while Redis was away back into the stream, once it takes them again."""
    drain_spool = getattr(store, "drain_spool", None)
    if drain_spool is None:
        return
    while not stop.is_set():
        await drain_spool()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def get_runtime(request: HttpRequest) -> ResolverRuntime:
    runtime: ResolverRuntime = request.app.state.tem.resolver
    return runtime


Runtime = Annotated[ResolverRuntime, Depends(get_runtime)]


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
            timer = runtime.scan_seconds
            if timer is None:
                await runtime.resolver.handle(Request(scope), send)
                return
            start = perf_counter()
            try:
                await runtime.resolver.handle(Request(scope), send)
            finally:
                timer.observe(perf_counter() - start)
            return
        await self.app(scope, receive, send)
