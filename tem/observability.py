"""`/metrics`: the Prometheus text format, for the monitoring network only (`TEM_METRICS_ALLOW`).

The metrics are defined in `tem.core.metrics`; this reads what is only known at scrape time (the scan log in the
store, the outboxes in the database, `tem worker`'s published figures) and answers. Who may read is decided by
the socket peer's address, never by a forwarded header: a proxy in front simply does not pass /metrics on, and
no header lets anyone in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from alerts import repository as alert_repository
from epcis import outbox as portal_outbox
from tem.core import metrics
from tem.core.db import Database
from tem.core.settings import Network

log = logging.getLogger("tem.metrics")

router = APIRouter()

#: Seconds a scrape waits for the scan store or the database before answering without their figures.
SCRAPE_TIMEOUT = 2.0

#: The outboxes whose depth /metrics shows, by name: a function counting the deliveries still to make.
OUTBOXES: dict[str, Callable[[Session], int]] = {
    "alert_webhooks": alert_repository.pending_deliveries,
    "national_portal": portal_outbox.pending_count,
}


def allowed(client: Sequence[Any] | None, networks: Sequence[Network]) -> bool:
    """Whether the socket peer's address is in one of `networks` (an IPv4-mapped IPv6 peer counts as IPv4)."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(str(client[0]))
    except ValueError:  # not an IP address (a Unix socket, a test client's name)
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _outbox_depths(db: Database) -> tuple[dict[str, int], metrics.PortalFigures]:
    with db.session() as session:
        depths = {name: count(session) for name, count in OUTBOXES.items()}
        portal = portal_outbox.figures(session)
    return depths, metrics.PortalFigures(
        portal.pending, portal.delivered, portal.dead, portal.oldest_pending_age_seconds
    )


async def gather(state: Any) -> metrics.ScrapeFigures:
    """The scrape-time figures; a part that fails or is slow is left out (`tem_scan_store_up` says so)."""
    figures = metrics.ScrapeFigures()
    store = state.resolver.store
    try:
        figures.log = await asyncio.wait_for(store.log_figures(), SCRAPE_TIMEOUT)
        figures.workers = await asyncio.wait_for(store.worker_reports(), SCRAPE_TIMEOUT)
    except Exception as exc:  # the store is away: the scrape still answers with what this process knows
        log.warning("metrics_store_unavailable error=%s", type(exc).__name__)
    try:
        figures.outboxes, figures.portal = await asyncio.wait_for(
            asyncio.to_thread(_outbox_depths, state.db), SCRAPE_TIMEOUT
        )
    except Exception as exc:
        log.warning("metrics_database_unavailable error=%s", type(exc).__name__)
    return figures


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    state = request.app.state.tem
    settings = state.settings
    if not settings.metrics:
        return PlainTextResponse("metrics are switched off (TEM_METRICS=false)\n", status_code=404)
    if not allowed(request.scope.get("client"), settings.metrics_allow):
        return PlainTextResponse("metrics are served to the monitoring network only\n", status_code=403)
    figures = await gather(state)
    # The scan path's figures so far, flushed here on its thread (the exposition is built on another).
    metrics.flush_buffered()
    body = await asyncio.to_thread(metrics.exposition, settings.prometheus_multiproc_dir, figures)
    return Response(body, media_type=metrics.CONTENT_TYPE)
