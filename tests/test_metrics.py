"""/metrics: what it counts, who may read it, and that logs never carry an address or a secret."""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import random
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from detection.engine.model import Verdict
from resolver.worker import drain
from tem.core import logs, metrics
from tem.core.db import Database
from tem.core.settings import Settings
from tem.observability import allowed
from tests.alert_support import open_alert
from tests.conftest import BASE_URL, TEST_KEK, World
from tests.helpers import GTIN_A, order
from tests.processes import demo_stamp, tem_serve
from tests.resolver_helpers import flush, issue_and_activate, runtime

LOCAL = ("127.0.0.1", 50000)
PIN_KEY = base64.b64encode(bytes(range(40, 72))).decode()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"pin_key": PIN_KEY})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app as seen from loopback, which the default TEM_METRICS_ALLOW lets read /metrics."""
    from tem.app import create_app

    with TestClient(create_app(settings), base_url=BASE_URL, client=LOCAL) as test_client:
        yield test_client


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name` whose labels include `labels`; 0 when there is none (a child not made yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_a_scan_is_counted_by_verdict_and_timed(world: World) -> None:
    """The hot path counts and times in memory; the scrape right after its scans shows them (one process)."""
    c = world.client
    rt = runtime(c)
    assert rt.scan_seconds is metrics.SCAN_TIMES
    assert rt.resolver.counted is not None
    assert isinstance(rt.resolver.counted[Verdict.GENUINE], metrics.BufferedCounter)
    stamps = issue_and_activate(world)
    before = scrape(c)
    assert c.get(path_of(stamps.uris[0]), follow_redirects=False).status_code == 307  # activated: genuine
    assert c.get(path_of(stamps.uris[14]), follow_redirects=False).status_code == 200  # not activated: suspect
    after = scrape(c)
    genuine = {"verdict": "genuine", "role": "consumer", "kind": "scan"}
    suspect = {"verdict": "suspect", "role": "consumer", "kind": "scan"}
    assert value(after, "tem_scans_total", **genuine) - value(before, "tem_scans_total", **genuine) == 1
    assert value(after, "tem_scans_total", **suspect) - value(before, "tem_scans_total", **suspect) == 1
    timed = value(after, "tem_scan_duration_seconds_count") - value(before, "tem_scan_duration_seconds_count")
    assert timed == 2
    assert value(after, "tem_scan_duration_seconds_bucket", le="+Inf") >= timed


def test_a_forged_scan_is_counted_as_counterfeit(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    forged = path_of(stamps.uris[0]).replace("/21/1?", "/21/2?")  # serial 2 under serial 1's signature
    labels = {"verdict": "counterfeit", "role": "consumer", "kind": "forged"}
    before = value(scrape(c), "tem_scans_total", **labels)
    assert c.get(forged, follow_redirects=False).status_code == 200
    assert value(scrape(c), "tem_scans_total", **labels) - before == 1


def test_the_forged_scan_counter_is_bound_for_the_hot_path() -> None:
    labels = {"verdict": "counterfeit", "role": "consumer", "kind": "forged"}
    before = REGISTRY.get_sample_value("tem_scans_total", labels) or 0.0
    metrics.FORGED_SCANS.inc()
    assert REGISTRY.get_sample_value("tem_scans_total", labels) == before + 1


def test_a_flush_adds_what_was_counted_since_the_last_one() -> None:
    registry = CollectorRegistry()
    child = Counter("flush_test", "A counter", ["kind"], registry=registry).labels(kind="scan")
    histogram = Histogram("flush_test_seconds", "A histogram", buckets=(0.5, 1.0), registry=registry)
    counter, timer = metrics.BufferedCounter(child), metrics.BufferedHistogram(histogram)

    def flushed() -> tuple[float | None, ...]:
        counter.flush()
        timer.flush()
        return tuple(
            registry.get_sample_value(name, labels)
            for name, labels in (
                ("flush_test_total", {"kind": "scan"}),
                ("flush_test_seconds_count", {}),
                ("flush_test_seconds_sum", {}),
                ("flush_test_seconds_bucket", {"le": "0.5"}),
            )
        )

    counter.inc()
    counter.inc()
    timer.observe(0.25)
    assert registry.get_sample_value("flush_test_total", {"kind": "scan"}) == 0  # counted, not flushed yet
    assert flushed() == (2, 1, 0.25, 1)
    assert flushed() == (2, 1, 0.25, 1)  # nothing new: nothing added
    counter.inc()
    timer.observe(2.0)
    assert flushed() == (3, 2, 2.25, 1)


def test_the_buffered_histogram_has_prometheus_clients_buckets() -> None:
    """The same values observed by prometheus-client and buffered then flushed: the same buckets and count, and
    the same sum but for the order it was added up in."""
    bounds = metrics.SCAN_SECONDS._upper_bounds
    draws = random.Random(18)
    values = [0.0, *bounds[:-1], *(b * (1 + 1e-12) for b in bounds[:-1]), 7.0]  # on each bound and just above
    values += [draws.lognormvariate(-6, 1.5) for _ in range(2000)]
    families = []
    for buffered in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("same_seconds", "A histogram", buckets=bounds, registry=registry)
        timer = metrics.BufferedHistogram(histogram)
        for amount in values:
            (timer if buffered else histogram).observe(amount)
        timer.flush()
        families.append({(s.name, s.labels.get("le")): s.value for f in registry.collect() for s in f.samples})
    observed, flushed = families
    assert {k: v for k, v in flushed.items() if k[0] != "same_seconds_sum"} == {
        k: v for k, v in observed.items() if k[0] != "same_seconds_sum"
    }
    assert flushed["same_seconds_sum", None] == pytest.approx(observed["same_seconds_sum", None], rel=1e-12)
    assert observed["same_seconds_count", None] == len(values)


def test_each_child_has_one_buffered_counter() -> None:
    child = metrics.SCANS.labels(verdict="genuine", role="consumer", kind="scan")
    assert metrics.buffered(child) is metrics.buffered(child)  # so two runtimes' counts are flushed once each


def test_an_opened_alert_is_counted_by_type_once(client: TestClient, settings: Settings) -> None:
    before = scrape(client)
    db = Database(settings.effective_database_url)
    try:
        for _ in range(2):  # the second finding bumps the same alert: not a new one
            with db.session() as session:
                finding = {"type": "metrics_test", "severity": "warning", "gtin": GTIN_A, "serial": 7}
                open_alert(session, **finding, explanation_vi="thử", explanation_en="test")
    finally:
        db.dispose()
    after = scrape(client)
    labels = {"type": "metrics_test", "severity": "warning"}
    assert value(after, "tem_alerts_opened_total", **labels) - value(before, "tem_alerts_opened_total", **labels) == 1


def test_the_scan_log_and_the_worker_are_visible(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    flush(c)  # whatever setting up logged
    before = scrape(c)
    assert value(before, "tem_scan_store_up") == 1
    assert value(before, "tem_scan_log_length") == 0
    for serial in (1, 2, 3):
        c.get(path_of(stamps.uris[serial - 1]), follow_redirects=False)
    waiting = scrape(c)
    assert value(waiting, "tem_scan_log_length") == 3
    assert value(waiting, "tem_scan_log_undelivered") == 3
    assert value(waiting, "tem_scan_log_pending") == 0
    assert value(waiting, "tem_scan_log_oldest_age_seconds") >= 0
    assert flush(c) == 3
    after = scrape(c)
    assert value(after, "tem_scan_log_length") == 0
    rows = value(after, "tem_worker_rows_written_total", worker="flush")
    assert rows - value(before, "tem_worker_rows_written_total", worker="flush") == 3
    assert value(after, "tem_worker_batches_total", worker="flush") > value(
        before, "tem_worker_batches_total", worker="flush"
    )
    assert value(after, "tem_worker_last_batch_timestamp_seconds", worker="flush") > 0
    assert value(after, "tem_outbox_depth", outbox="alert_webhooks") == 0


def test_a_worker_process_publishes_its_figures_where_serve_reads_them(client: TestClient) -> None:
    rt = runtime(client)
    portal: Any = client.portal  # type: ignore[attr-defined]
    portal.call(lambda: drain(rt.store, rt.writer, "publisher", once=True, publish_every=0.0))
    published = portal.call(rt.store.worker_reports)
    assert "publisher" in published
    # Another process's figures: shown with its name, next to this process's own.
    remote = (
        b"# HELP tem_alerts_opened_total Alerts\n# TYPE tem_alerts_opened_total counter\n"
        b'tem_alerts_opened_total{severity="critical",type="remote_test"} 4.0\n'
        b"# HELP tem_worker_rows_written_total Rows\n# TYPE tem_worker_rows_written_total counter\n"
        b'tem_worker_rows_written_total{worker="tem-w9"} 12.0\n'
    )
    portal.call(rt.store.publish_worker, "tem-w9", remote)
    text = scrape(client)
    assert value(text, "tem_alerts_opened_total", type="remote_test", worker="tem-w9") == 4
    assert value(text, "tem_worker_rows_written_total", worker="tem-w9") == 12
    assert 0 <= value(text, "tem_worker_report_age_seconds", worker="tem-w9") < 600
    assert 'worker="publisher"' in text


def test_metrics_refuse_other_networks_whatever_the_headers_say(client: TestClient) -> None:
    outsider = TestClient(client.app, base_url=BASE_URL, client=("203.0.113.5", 1234))
    for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"cf-connecting-ip": "127.0.0.1"}):
        response = outsider.get("/metrics", headers=headers)
        assert response.status_code == 403
        assert response.text == "metrics are served to the monitoring network only\n"
        assert "tem_" not in response.text
    assert client.get("/metrics").status_code == 200


def test_metrics_switched_off_answer_404(settings: Settings) -> None:
    from tem.app import create_app

    off = settings.model_copy(update={"metrics": False})
    with TestClient(create_app(off), base_url=BASE_URL, client=LOCAL) as c:
        assert c.get("/metrics").status_code == 404
        assert runtime(c).scan_seconds is None


def test_the_allowed_networks_decide_by_the_peer_address() -> None:
    networks = Settings(metrics_allow="10.0.0.0/8, ::1").metrics_allow
    assert networks == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert allowed(("10.1.2.3", 1), networks)
    assert allowed(("::ffff:10.1.2.3", 1), networks)  # a dual-stack socket's view of an IPv4 peer
    assert allowed(("::1", 1), networks)
    assert not allowed(("11.0.0.1", 1), networks)
    assert not allowed(("testclient", 1), networks)
    assert not allowed(None, networks)
    assert Settings().metrics_allow == [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert Settings(metrics_allow='["192.168.0.0/16"]').metrics_allow == [ipaddress.ip_network("192.168.0.0/16")]


@pytest.mark.parametrize("garbage", ["garbage", "10.0.0.1/8", "10.0.0.0/33", "[1, 2", "127.0.0.0/8,nope"])
def test_the_allowed_networks_setting_rejects_garbage_plainly(garbage: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(metrics_allow=garbage)
    message = str(raised.value)
    assert "TEM_METRICS_ALLOW" in message
    assert "CIDR" in message or "JSON" in message


def test_figures_of_several_processes_are_summed(tmp_path: Path) -> None:
    count = "from tem.core import metrics; metrics.FORGED_SCANS.inc(2); metrics.SCAN_SECONDS.observe(0.003)"
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", count], env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}, check=True, timeout=60
        )
    text = metrics.exposition(tmp_path, metrics.ScrapeFigures()).decode()
    assert value(text, "tem_scans_total", kind="forged") == 4
    assert value(text, "tem_scan_duration_seconds_count") == 2


_COUNT_AND_WAIT = """
import asyncio, sys
from tem.core import metrics
counter = metrics.buffered(metrics.SCANS.labels(verdict="genuine", role="consumer", kind="scan"))
async def main():
    stop = asyncio.Event()
    task = asyncio.create_task(metrics.flush_every(0.05, stop))
    for _ in range(3):
        counter.inc()
        metrics.SCAN_TIMES.observe(0.003)
    print("counted", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    stop.set()
    await task
asyncio.run(main())
"""


def test_a_serving_process_flushes_its_scans_for_the_others_to_read(tmp_path: Path) -> None:
    """Multiprocess mode: a process's buffered scan figures reach its files by themselves, no scrape of its own
    needed, while it runs."""
    child = subprocess.Popen(
        [sys.executable, "-c", _COUNT_AND_WAIT],
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().strip() == "counted"
        deadline = time.monotonic() + 10
        while True:
            text = metrics.exposition(tmp_path, metrics.ScrapeFigures()).decode()
            # Both figures: a flush writes the counters, then the histogram.
            done = value(text, "tem_scans_total", kind="scan") == value(text, "tem_scan_duration_seconds_count") == 3
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert value(text, "tem_scans_total", verdict="genuine", kind="scan") == 3
        assert value(text, "tem_scan_duration_seconds_count") == 3
        assert value(text, "tem_scan_duration_seconds_bucket", le="0.005") == 3
        assert child.poll() is None  # still running: the periodic flush wrote them
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _summed_scans(base: str) -> tuple[float, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:  # noqa: S310  # loopback http
        text = response.read().decode()
    return value(text, "tem_scans_total", verdict="genuine", kind="scan"), value(
        text, "tem_scan_duration_seconds_count"
    )


def test_serve_with_two_workers_sums_their_scans_and_logs_json(env: dict[str, str]) -> None:
    stamp = demo_stamp(env)
    with tem_serve(env, args=("--workers", "2")) as base:
        for _ in range(12):  # a connection each: the two processes share them
            connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=5)
            connection.request("GET", f"{stamp.path}?{stamp.query}")
            assert connection.getresponse().status == 307
            connection.close()
        # The process that answers a scrape flushes its own scans first; the other's reach the files within
        # metrics.FLUSH_SECONDS.
        deadline = time.monotonic() + 5 * metrics.FLUSH_SECONDS
        while _summed_scans(base) != (12, 12) and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(4):  # whichever process answers, it shows every process's scans
            assert _summed_scans(base) == (12, 12)
        for _ in range(3):  # the last scans before the processes stop: flushed on the way out
            connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=5)
            connection.request("GET", f"{stamp.path}?{stamp.query}")
            assert connection.getresponse().status == 307
            connection.close()
    stopped = metrics.exposition(Path(env["TEM_HOME"]) / "metrics", metrics.ScrapeFigures()).decode()
    assert value(stopped, "tem_scans_total", verdict="genuine", kind="scan") == 15
    assert value(stopped, "tem_scan_duration_seconds_count") == 15
    lines = [line for line in (Path(env["TEM_HOME"]) / "serve.log").read_text().splitlines() if line.startswith("{")]
    assert lines, "tem serve wrote no JSON log lines"
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert "127.0.0.1" not in line


# Logs

_IP = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])|(?<![\w:])::1(?![\w:])|203\.0\.113")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.raw: list[str] = []
        self.json = logs.JsonFormatter()
        self.text = logs.TextFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")):  # the test client's own requests, not the server's
            return
        self.raw.append(record.getMessage())
        self.lines += [self.json.format(record), self.text.format(record)]


def test_logs_carry_no_address_token_or_key(world: World, settings: Settings) -> None:
    c = world.client
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        stamps = issue_and_activate(world)  # orders, activations: a token used again and again
        order(c, world.packer, GTIN_A, 5)
        resolver = runtime(c).resolver
        resolver.config = replace(resolver.config, forged_burst_limit=3)
        forged = path_of(stamps.uris[0]).replace("/21/1?", "/21/3?")
        for serial in range(1, 11):  # a burst of scans, and of forged ones from one network (logged)
            c.get(path_of(stamps.uris[serial - 1]), follow_redirects=False, headers={"X-Forwarded-For": "198.51.100.7"})
            c.get(forged, follow_redirects=False)
        token = world.inspector["Authorization"].removeprefix("Bearer ")
        login = {"X-Tem-Inspect": "1"}
        assert c.post("/inspect/login", json={"token": token}, headers=login).status_code == 200
        assert c.post("/inspect/login", json={"token": token[:-2] + "xx"}, headers=login).status_code in (401, 403)
        flush(c)
        logging.getLogger("tem.test").warning("redis at 10.9.8.7:6379 refused, peer ::1")  # what a library may say
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    assert any("forged_scan_burst" in line for line in capture.raw), "the capture saw none of the scan path's logs"
    secrets = [
        *(h["Authorization"].removeprefix("Bearer ") for h in (world.packer, world.inspector, world.ministry)),
        TEST_KEK,
        base64.b64decode(TEST_KEK).hex(),
        PIN_KEY,
        base64.b64decode(PIN_KEY).hex(),
    ]
    # Tem's own messages name no address; and whatever a message holds, no written line does.
    assert [m for m in capture.raw if _IP.search(m) and "10.9.8.7" not in m] == []
    for line in capture.lines:
        assert not _IP.search(line), line
        for secret in secrets:
            assert secret not in line
            assert secret[8:24] not in line  # nor a part of one
