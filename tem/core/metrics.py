"""Every metric Tem exports, defined once; docs/operations.md lists them with what to watch.

Counters and histograms are prometheus-client's, counted where the thing happens. Figures that live in the scan
store or the database (the scan log's length and lag, the outbox depths, `tem worker`'s own figures) are read
when /metrics is scraped (`tem.observability`) and shaped here by `scrape_families`.

The scan path's own figures (its consumer scans by verdict, its duration) are counted in plain Python objects
(`BufferedCounter`, `BufferedHistogram`) and added to prometheus-client's in one go by `flush_buffered`: before
/metrics reads them, about once a second (`flush_every`, run by the resolver's runtime) and when the runtime
closes. prometheus-client's own `inc` and `observe` take a lock, and in multiprocess mode write to a file, on
every call.

Under `tem serve --workers N` each process writes its figures to files in PROMETHEUS_MULTIPROC_DIR (prometheus-
client's multiprocess mode, set up by `tem serve`), and `exposition` sums them; another process's buffered scan
figures reach its files within `FLUSH_SECONDS`. The kernel imports no other Tem package: labels are plain strings
here, and the callers pre-bind their children once (a scan pays for an `inc`, not for a label lookup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger("tem.metrics")

# A `_created` sample per counter doubles the output and no dashboard here reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client leaves it untyped

# Scans

SCANS = Counter(
    "tem_scans",
    "Scans answered, by verdict, by who scanned (role) and kind: a stamp scan, a scratch-off PIN entry, or a "
    "scan with a forged signature",
    ["verdict", "role", "kind"],
)
#: For `Resolver.forged` (resolver/hotpath.py): a forged signature never reaches the scan service.
FORGED_SCANS = SCANS.labels(verdict="counterfeit", role="consumer", kind="forged")

SCAN_SECONDS = Histogram(
    "tem_scan_duration_seconds",
    "Time the hot path took to answer a scan (every request to a stamp URI), measured around its handler",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class BufferedCounter:
    """A counter child's count kept in a plain number until `flush_buffered` adds it to the child: the scan
    path's `inc` takes no lock and writes no file. Counted and flushed on one thread, the event loop's."""

    __slots__ = ("child", "value")

    def __init__(self, child: Counter) -> None:
        self.child = child
        self.value: float = 0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def flush(self) -> None:
        if self.value:
            self.child.inc(self.value)
            self.value = 0


class BufferedHistogram:
    """A histogram's observations kept as plain bucket counts and a sum until `flush_buffered` adds them to it.
    A value goes in the first bucket whose bound is not below it, as prometheus-client's `observe` puts it, so the
    buckets and the count on /metrics are the same as if each value had been observed there (the sum is added up
    in another order, which can change its last bits). Observed and flushed on one thread, the event loop's."""

    __slots__ = ("bounds", "counts", "histogram", "sum")

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        # prometheus-client's own bounds, +Inf last: the same buckets by construction.
        self.bounds = tuple(histogram._upper_bounds)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount

    def flush(self) -> None:
        counts = self.counts
        if not any(counts):
            return
        total = self.sum
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        # prometheus-client has no public call that adds to a bucket: its `observe` does what is done here, once
        # per value (its buckets are kept per bound, not cumulative, and summed when collected).
        self.histogram._sum.inc(total)
        for bucket, count in zip(self.histogram._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


#: The scan path's duration (tem/asgi.py, `ScanRouting`), flushed into SCAN_SECONDS.
SCAN_TIMES = BufferedHistogram(SCAN_SECONDS)

#: Seconds between flushes of the scan path's figures: in multiprocess mode a scrape answered by another process
#: sees this one's scans at most this late.
FLUSH_SECONDS = 1.0

_BUFFERED_COUNTERS: dict[Counter, BufferedCounter] = {}


def buffered(child: Counter) -> BufferedCounter:
    """The buffered counter of `child`, one per child in a process, so that each count is flushed once."""
    counter = _BUFFERED_COUNTERS.get(child)
    if counter is None:
        counter = _BUFFERED_COUNTERS[child] = BufferedCounter(child)
    return counter


def flush_buffered() -> None:
    """Adds what the scan path counted since the last flush to prometheus-client's figures. On the scan path's
    thread (the event loop's), where nothing counts meanwhile."""
    for counter in tuple(_BUFFERED_COUNTERS.values()):  # a copy: a runtime being built may bind one meanwhile
        counter.flush()
    SCAN_TIMES.flush()


async def flush_every(seconds: float, stop: asyncio.Event) -> None:
    """Flushes every `seconds` until `stop` is set: in multiprocess mode other processes answer scrapes from this
    one's files, and only a flush writes them."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        try:
            flush_buffered()
        except Exception:  # e.g. a full disk under the multiprocess files: the next scans are still flushed
            log.warning("metrics_flush_failed", exc_info=True)


# The scan store

REDIS_ERRORS = Counter(
    "tem_redis_errors",
    "Failed round trips to Redis: connect (the shared connection could not open), lost (a request failed "
    "with its connection: lost, closed or timed out), error_reply (Redis answered an error), client (redis-py "
    "failed a command)",
    ["reason"],
)
REDIS_CONNECT_ERRORS = REDIS_ERRORS.labels(reason="connect")
REDIS_LOST = REDIS_ERRORS.labels(reason="lost")
REDIS_ERROR_REPLIES = REDIS_ERRORS.labels(reason="error_reply")
REDIS_CLIENT_ERRORS = REDIS_ERRORS.labels(reason="client")

# The worker (the scan log into the database)

WORKER_BATCHES = Counter("tem_worker_batches", "Batches of scan log entries written to the database", ["worker"])
WORKER_ENTRIES = Counter("tem_worker_entries", "Scan log entries read and written (scans, PINs, places)", ["worker"])
WORKER_ROWS = Counter("tem_worker_rows_written", "New scan rows inserted into the database", ["worker"])
WORKER_FAILURES = Counter(
    "tem_worker_batch_failures", "Batches whose database write failed (they are read again)", ["worker"]
)
# Timestamps: the newest is the truth when several processes wrote one (multiprocess mode).
WORKER_LAST_BATCH = Gauge(
    "tem_worker_last_batch_timestamp_seconds",
    "When the worker last wrote a batch (Unix time)",
    ["worker"],
    multiprocess_mode="max",
)
WORKER_HEARTBEAT = Gauge(
    "tem_worker_heartbeat_timestamp_seconds",
    "When the worker last went round its loop, idle or not (Unix time)",
    ["worker"],
    multiprocess_mode="max",
)

# Alerts

ALERTS_OPENED = Counter(
    "tem_alerts_opened", "Alerts newly opened (not bumps), by type and severity", ["type", "severity"]
)


@dataclass(frozen=True, slots=True)
class WorkerCounters:
    """One worker's children, bound once when its loop starts."""

    batches: Counter
    entries: Counter
    rows: Counter
    failures: Counter
    last_batch: Gauge
    heartbeat: Gauge


def worker_counters(worker: str) -> WorkerCounters:
    return WorkerCounters(
        WORKER_BATCHES.labels(worker=worker),
        WORKER_ENTRIES.labels(worker=worker),
        WORKER_ROWS.labels(worker=worker),
        WORKER_FAILURES.labels(worker=worker),
        WORKER_LAST_BATCH.labels(worker=worker),
        WORKER_HEARTBEAT.labels(worker=worker),
    )


# Read at scrape time


@dataclass(frozen=True, slots=True)
class LogFigures:
    """The scan log as a store sees it now."""

    length: int  # entries held: not yet delivered to a worker, plus delivered but not acknowledged
    undelivered: int  # not yet read by any worker (the consumer group's lag)
    pending: int  # read by a worker, not yet acknowledged (written, or being written)
    oldest_at: float | None  # Unix time of the oldest entry still held; None when the log is empty


@dataclass(frozen=True, slots=True)
class PortalFigures:
    """The national portal's outbox now (epcis.outbox.figures)."""

    pending: int
    delivered: int
    dead: int
    oldest_pending_age_seconds: float  # 0 when nothing is pending


@dataclass(slots=True)
class ScrapeFigures:
    """What /metrics reads from the scan store and the database at scrape time."""

    log: LogFigures | None = None  # None: the store did not answer
    # Outboxes by name: deliveries waiting to be made (alert webhooks, the national portal).
    outboxes: dict[str, int] = field(default_factory=dict)
    # Figures other processes published (`tem worker`): worker name -> (Unix time published, exposition text).
    workers: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    portal: PortalFigures | None = None  # None: the database did not answer
    now: float = field(default_factory=time.time)


def scrape_families(figures: ScrapeFigures) -> list[Metric]:
    up = GaugeMetricFamily("tem_scan_store_up", "1 when the scan store answered this scrape, else 0")
    up.add_metric([], 0.0 if figures.log is None else 1.0)
    families: list[Metric] = [up]
    if figures.log is not None:
        log = figures.log
        for name, help_text, value in (
            ("tem_scan_log_length", "Entries held in the scan log (undelivered plus pending)", log.length),
            ("tem_scan_log_undelivered", "Scan log entries no worker has read yet (the group's lag)", log.undelivered),
            ("tem_scan_log_pending", "Scan log entries read by a worker but not yet acknowledged", log.pending),
        ):
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], float(value))
            families.append(family)
        age = GaugeMetricFamily(
            "tem_scan_log_oldest_age_seconds",
            "Age of the oldest entry still in the scan log (0 when empty): how far behind the worker is",
        )
        age.add_metric([], max(0.0, figures.now - log.oldest_at) if log.oldest_at is not None else 0.0)
        families.append(age)
    outbox = GaugeMetricFamily("tem_outbox_depth", "Deliveries waiting in an outbox", labels=["outbox"])
    for name, depth in sorted(figures.outboxes.items()):
        outbox.add_metric([name], float(depth))
    families.append(outbox)
    if figures.portal is not None:
        items = GaugeMetricFamily(
            "tem_portal_outbox_events", "Events in the national portal's outbox, by state", labels=["status"]
        )
        for state, count in (
            ("pending", figures.portal.pending),
            ("delivered", figures.portal.delivered),
            ("dead", figures.portal.dead),
        ):
            items.add_metric([state], float(count))
        families.append(items)
        oldest = GaugeMetricFamily(
            "tem_portal_outbox_oldest_pending_age_seconds",
            "Age of the oldest event not yet accepted by the national portal (0 when none is pending)",
        )
        oldest.add_metric([], figures.portal.oldest_pending_age_seconds)
        families.append(oldest)
    reports = GaugeMetricFamily(
        "tem_worker_report_age_seconds",
        "Seconds since a worker process (tem worker) last published its figures",
        labels=["worker"],
    )
    for worker, (at, _text) in sorted(figures.workers.items()):
        reports.add_metric([worker], max(0.0, figures.now - at))
    families.append(reports)
    return families


# Exposition

#: Of another process's published figures, the families shown on /metrics (not its Python runtime's).
PUBLISHED_PREFIXES = ("tem_", "process_")


def snapshot() -> bytes:
    """This process's figures in the text format, for a worker process to publish in the scan store."""
    return generate_latest(REGISTRY)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def local_families(multiproc_dir: Path | None) -> list[Metric]:
    """This process's figures; with a multiprocess directory, every process's, summed."""
    if multiproc_dir is None:
        return list(REGISTRY.collect())
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    return list(registry.collect())


def _merge_published(families: dict[str, Metric], worker: str, text: bytes) -> None:
    """Adds a worker process's published families, each sample labelled with the worker's name (unless it has
    one), to `families`. A sample this process already shows under the same labels is left out."""
    try:
        published = list(text_string_to_metric_families(text.decode()))
    except ValueError:  # a report cut short or from another version: skip it, the report age shows it
        return
    for family in published:
        if not family.name.startswith(PUBLISHED_PREFIXES):
            continue
        mine = families.get(family.name)
        if mine is None:
            mine = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
        elif mine.type != family.type:
            continue
        seen = {(s.name, tuple(sorted(s.labels.items()))) for s in mine.samples}
        for sample in family.samples:
            labels = sample.labels if "worker" in sample.labels else {**sample.labels, "worker": worker}
            if (sample.name, tuple(sorted(labels.items()))) in seen or math.isnan(sample.value):
                continue
            mine.samples.append(Sample(sample.name, labels, sample.value))


def exposition(multiproc_dir: Path | None, figures: ScrapeFigures) -> bytes:
    """The /metrics body: this process's (or every serving process's) figures, the scrape-time figures, and the
    figures worker processes published."""
    families: dict[str, Metric] = {}
    for family in local_families(multiproc_dir) + scrape_families(figures):
        families[family.name] = family
    for worker, (_at, text) in sorted(figures.workers.items()):
        _merge_published(families, worker, text)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)
