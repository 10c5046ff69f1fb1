"""Fault drills (docs/reliability.md): `tem serve` and `tem worker` under a steady load of genuine scans while
Redis restarts empty or freezes, PostgreSQL stops, they themselves are killed with SIGKILL, or the registry
changes. Every scan `tem serve` acknowledged (a 307 with its scan id) is counted against the `scans` table
afterwards. Each drill runs in well under a minute."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from tests.faults.conftest import Answer, Load, Rig, report, settle

#: PostgreSQL's outage in its drill. The issue asks for 30 s; CI uses 10 s so that the drill stays under a
#: minute on a shared 2-core machine. Nothing in the design depends on the length: the worker retries its
#: batch every second and Redis holds the scans meanwhile (TEM_DRILL_PG_SECONDS=30 runs the long one).
PG_OUTAGE_SECONDS = float(os.environ.get("TEM_DRILL_PG_SECONDS", "10"))
#: A registry change reaches every `tem serve` process within its poll period (TEM_REGISTRY_POLL_SECONDS, 1 s
#: here) plus the rebuild; the drill allows 3 s.
REGISTRY_BOUND_SECONDS = 3.0


def figures(rig: Rig, load: Load, duration: float, since: float = 0.0) -> tuple[dict[str, Any], list[str]]:
    acknowledged = load.acknowledged()
    found = settle(rig.database_url, acknowledged)
    lost = [scan_id for scan_id in acknowledged if scan_id not in found]
    statuses = [a.status for a in load.answers]
    return {
        "sent": len(statuses),
        "acknowledged": len(acknowledged),
        "written": len(found),
        "lost": len(lost),
        "5xx": sum(1 for s in statuses if s >= 500),
        "no_answer": statuses.count(0),
        "duration_s": round(duration, 1),
    }, lost


def lines(log: str, event: str) -> int:
    return sum(1 for line in log.splitlines() if event in line)


def run_load(rig: Rig, paths: list[str] | None = None, **options: Any) -> Load:
    load = Load(rig.port, paths or rig.seeded.stamps, **options)
    load.start()
    return load


def test_redis_restarted_empty(make_rig: Callable[..., Rig]) -> None:
    """Redis dies (SIGKILL) and comes back empty, its AOF gone. Meanwhile `tem serve` spools and answers; then the
    spool drains into the new stream and `tem worker` makes its group again, without being restarted."""
    rig = make_rig()
    load = run_load(rig)
    time.sleep(4)
    killed = time.monotonic()
    rig.redis.kill()
    rig.redis.wipe()
    time.sleep(4)
    rig.redis.start()
    time.sleep(6)
    duration = load.stop()
    result, lost = figures(rig, load, duration)
    after_kill = set(load.acknowledged(since=killed))
    result["lost_acknowledged_after_the_kill"] = sum(1 for scan_id in lost if scan_id in after_kill)
    result["outage_s"] = 4
    serve_log, worker_log = rig.serve.log(), rig.worker.log()
    result["serve_outage_log_lines"] = lines(serve_log, "scan_spooled_redis_unavailable")
    result["worker_read_failed_log_lines"] = lines(worker_log, "scan_log_read_failed")
    report("redis_restarted_empty", result)
    assert result["5xx"] == 0
    assert result["lost_acknowledged_after_the_kill"] == 0  # spooled, then drained: none lost
    # Before the kill, only entries still unread in the stream when Redis died can go with its data.
    assert result["lost"] <= 40, lost
    assert "scan_log_group_missing" in worker_log
    assert "scan_spool_drained" in serve_log
    assert result["serve_outage_log_lines"] <= 3  # one line per 10 s, not one per scan


def test_redis_frozen(make_rig: Callable[..., Rig]) -> None:
    """SIGSTOP for 7 s, past the 5 s timeout: scans wait, then are spooled and answered; SIGCONT; all written."""
    rig = make_rig()
    load = run_load(rig)
    time.sleep(4)
    rig.redis.signal(signal.SIGSTOP)
    time.sleep(7)
    rig.redis.signal(signal.SIGCONT)
    time.sleep(6)
    duration = load.stop()
    result, lost = figures(rig, load, duration)
    result["frozen_s"] = 7
    report("redis_frozen", result)
    assert result["5xx"] == 0
    assert result["lost"] == 0, lost


def test_postgres_stopped(make_rig: Callable[..., Rig], postgres: Any) -> None:
    """PostgreSQL stops: scans are answered from memory and wait in Redis; the worker retries its batch; when
    PostgreSQL is back, everything is written."""
    rig = make_rig()
    load = run_load(rig)
    time.sleep(3)
    postgres.stop("fast")
    try:
        time.sleep(PG_OUTAGE_SECONDS)
    finally:
        postgres.start()
    time.sleep(4)
    duration = load.stop()
    result, lost = figures(rig, load, duration)
    result["outage_s"] = PG_OUTAGE_SECONDS
    result["worker_write_failed_log_lines"] = lines(rig.worker.log(), "scan_batch_write_failed")
    report("postgres_stopped", result)
    assert result["5xx"] == 0
    assert result["lost"] == 0, lost


def test_worker_and_server_killed(make_rig: Callable[..., Rig]) -> None:
    """SIGKILL of `tem worker` mid-load (started again 2 s later), then of `tem serve` (started again at once).
    A killed worker's unacknowledged batch is read again by its successor under the same name; what `tem serve`
    acknowledged was already in Redis."""
    rig = make_rig()
    load = run_load(rig)
    time.sleep(3)
    rig.worker.kill()
    time.sleep(2)
    rig.worker.start()
    time.sleep(3)
    rig.serve.kill()
    rig.serve.start()
    time.sleep(3)
    duration = load.stop()
    result, lost = figures(rig, load, duration)
    report("worker_and_server_killed", result)
    assert result["5xx"] == 0
    assert result["lost"] == 0, lost


def _serial(path: str) -> int:
    return int(path.split("/21/")[1].split("?", maxsplit=1)[0])


def _post(port: int, path: str, token: str, body: dict[str, Any]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection.request("POST", path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        text = response.read()
        assert response.status == 201, text
        return response.status
    finally:
        connection.close()


def test_registry_change_under_load(make_rig: Callable[..., Rig]) -> None:
    """A revocation and an activation while two `tem serve` processes answer scans (on fresh connections, spread
    over both): every answer sent later than REGISTRY_BOUND_SECONDS after the change reflects it."""
    rig = make_rig(["--workers", "2"], TEM_ONLINE_DETECTION="false")
    seeded = rig.seeded
    revoked = seeded.stamps[:10]
    activated = seeded.waiting[:10]
    load = run_load(rig, revoked + activated, fresh_connections=True, rate=50)
    time.sleep(4)
    gtin = seeded.gtin
    first, last = _serial(revoked[0]), _serial(revoked[-1])
    _post(rig.port, "/api/v1/revocations", seeded.packer_token, {
        "gtin": gtin, "first_serial": first, "last_serial": last, "category": "withdrawn", "reason": "drill",
    })  # fmt: skip
    _post(rig.port, "/api/v1/activations", seeded.packer_token, {
        "gtin": gtin, "first_serial": seeded.waiting_first, "last_serial": seeded.waiting_last, "lot": seeded.lot,
    })  # fmt: skip
    changed = time.monotonic()
    time.sleep(8)
    duration = load.stop()
    revoked_set = set(revoked)

    def stale(answer: Answer) -> bool:
        if answer.status == 0:
            return False
        if answer.path in revoked_set:
            return answer.status == 307  # still genuine
        return answer.status != 307  # still not activated

    late = [a.at - changed for a in load.answers if a.at >= changed and stale(a)]
    before = [a for a in load.answers if a.at < changed - 0.5 and a.status]
    result, lost = figures(rig, load, duration)
    result["seen_by_all_within_s"] = round(max(late, default=0.0), 2)
    result["bound_s"] = REGISTRY_BOUND_SECONDS
    report("registry_change_under_load", result)
    assert before
    assert all(stale(a) for a in before)  # the old registry's answers, before the change
    assert result["seen_by_all_within_s"] <= REGISTRY_BOUND_SECONDS
    assert result["5xx"] == 0
    assert result["lost"] == 0, lost
