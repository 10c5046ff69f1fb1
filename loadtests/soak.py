"""Soak test: `tem serve --workers 1` and `tem worker` under steady paced load, for memory and the scan log.

docs/scaling.md ("The soak test still to run"): wrk paced at 70% of the measured one-worker peak (7,484 req/s in
docs/performance.md, so 5,200 req/s) for 10 minutes, on loopback with PostgreSQL and Redis. It must show:

- the RSS of the server and of `tem worker` flat after the first minute: the last minute's largest sample within
  5% of the first minute's largest (every process of each process group, so forked workers count);
- `tem_scan_log_undelivered` on the server's /metrics back to 0 within seconds of the end of the load;
- as many new rows in `scans` as scans acknowledged with a 307 (`tem worker` gets up to 60 s to catch up).

The state is bench_resolver's (loadtests/bench_resolver.py, whose functions this reuses): a throwaway database and
Redis prefix, 1,000,000 activated stamps seeded with `tem issue`, Zipf draws for wrk_paths.lua. Everything it made
is removed at the end, also on a failure, Ctrl-C or SIGTERM, and the whole run is bounded by an alarm.

    python -m loadtests.soak                              # 5,200 req/s for 600 s (about 14 minutes in all)
    python -m loadtests.soak --rate 500 --seconds 40      # a quick smoke run

Exit status: 0 every check held, 1 a check failed, 2 the soak could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from loadtests.bench_resolver import (
    DEFAULT_PG,
    DEFAULT_REDIS,
    DEFAULT_REVOKED,
    DEFAULT_STAMPS,
    SAMPLE_SIZE,
    Children,
    Installation,
    State,
    check_answers,
    cleanup,
    create_state,
    ensure_wrk,
    parse_wrk_output,
    run_wrk,
    seed,
    wrk_invocation,
)
from loadtests.common import BenchError, say

PEAK_1W = 7_484.0  # req/s, one worker, Zipf: docs/performance.md's resolver section
DEFAULT_RATE = 5_200.0  # 70% of that peak
DEFAULT_SECONDS = 600.0
SAMPLE_EVERY = 10.0  # seconds between RSS samples
MAX_RSS_GROWTH = 0.05
DRAIN_SECONDS = 60.0  # `tem worker` catching up with the rows
UNDELIVERED_SECONDS = 10.0  # the scan log's lag back to 0 after the load
SETUP_BUDGET = 900.0  # seeding, start-up and the checks after the load, on top of --seconds


# Memory: VmRSS of every process of a child's process group (each child runs in its own session)


def group_rss_kib(pgid: int) -> tuple[int, int]:
    """(total VmRSS in KiB, processes) of the live processes whose process group is `pgid`."""
    total = processes = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
            if int(fields[2]) != pgid:  # state ppid pgrp
                continue
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        processes += 1
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total, processes


@dataclass(frozen=True, slots=True)
class RssSample:
    at: float  # seconds since the load started
    server_kib: int
    worker_kib: int
    server_procs: int
    worker_procs: int


@dataclass(frozen=True, slots=True)
class RssSummary:
    name: str
    first_max_kib: int  # the largest sample of the first window
    last_max_kib: int  # the largest sample of the last window
    min_kib: int
    max_kib: int
    processes: int

    @property
    def ratio(self) -> float:
        return self.last_max_kib / self.first_max_kib if self.first_max_kib else float("inf")


def summarise_rss(samples: Sequence[RssSample], window: float, end: float, which: str) -> RssSummary:
    """The first window's largest sample against the last window's (windows of `window` seconds)."""

    def kib(sample: RssSample) -> int:
        return sample.server_kib if which == "server" else sample.worker_kib

    first = [kib(s) for s in samples if s.at <= window] or [kib(samples[0])]
    last = [kib(s) for s in samples if s.at >= end - window] or [kib(samples[-1])]
    every = [kib(s) for s in samples]
    procs = max(s.server_procs if which == "server" else s.worker_procs for s in samples)
    return RssSummary(which, max(first), max(last), min(every), max(every), procs)


# The server's /metrics


def scrape(base: str) -> dict[str, float]:
    """Samples of /metrics summed by sample name (labels dropped)."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:  # noqa: S310  # our loopback server
        body = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


def wait_undelivered_zero(base: str, timeout: float) -> tuple[float, float]:
    """(tem_scan_log_undelivered at the end, seconds after the load it was last read): polls until it is 0."""
    started = time.monotonic()
    while True:
        value = scrape(base).get("tem_scan_log_undelivered", float("nan"))
        waited = time.monotonic() - started
        if value == 0 or waited >= timeout:
            return value, waited
        time.sleep(0.5)


# The run


@dataclass
class SoakReport:
    rate: float
    seconds: float
    connections: int
    window: float
    wrk: dict[str, Any] = field(default_factory=dict)
    samples: list[RssSample] = field(default_factory=list)
    undelivered: float = float("nan")
    undelivered_after: float = 0.0
    rows: int = 0  # new rows in `scans` during the load
    logged: int = 0  # new entries in the scan log (Redis Stream) during the load
    server_scans: float = 0.0  # tem_scans_total's increase: scans the server answered, abandoned ones too
    drained: bool = False
    warmup_requests: int = 0
    drain_note: str = ""

    @property
    def requests(self) -> int:
        return int(self.wrk["requests"])

    @property
    def answered_307(self) -> int:
        return int(self.wrk["answered_307"])

    @property
    def failures(self) -> int:
        """Answers other than a 307, plus socket errors and timeouts."""
        w = self.wrk
        return int(w["answered_other"] + w["connect"] + w["read"] + w["write"] + w["timeout"])

    @property
    def achieved(self) -> float:
        return self.requests / (float(self.wrk["duration_us"]) / 1e6)

    def rss(self, which: str) -> RssSummary:
        return summarise_rss(self.samples, self.window, self.samples[-1].at, which)

    def checks(self) -> list[tuple[str, bool]]:
        server, worker = self.rss("server"), self.rss("worker")
        # wrk drops the requests in flight when its time is up: the server answered (and logged) them, wrk never
        # read the 307. So the rows must equal the scans the server answered, and wrk's 307s plus at most one
        # request per connection.
        rows_ok = (
            self.drained
            and self.rows == self.logged == round(self.server_scans)
            and self.answered_307 <= self.rows <= self.answered_307 + self.connections
        )
        return [
            (
                f"server RSS, last {self.window:g} s max over first {self.window:g} s max: {server.ratio:.3f}×",
                server.ratio <= 1 + MAX_RSS_GROWTH,
            ),
            (
                f"worker RSS, last {self.window:g} s max over first {self.window:g} s max: {worker.ratio:.3f}×",
                worker.ratio <= 1 + MAX_RSS_GROWTH,
            ),
            (
                f"tem_scan_log_undelivered {self.undelivered:g}, {self.undelivered_after:.1f} s after the load",
                self.undelivered == 0,
            ),
            (
                f"rows in scans {self.rows:,} = scans the server answered {self.server_scans:,.0f} = scan log entries "
                f"{self.logged:,}; wrk read {self.answered_307:,} of those 307s "
                f"({self.rows - self.answered_307} in flight at the end, max {self.connections}){self.drain_note}",
                rows_ok,
            ),
            (f"no errors or non-307 answers ({self.failures:,})", self.failures == 0),
        ]

    def lines(self) -> list[str]:
        w = self.wrk
        out = [
            f"warm-up: {self.warmup_requests:,} closed-loop requests over the {SAMPLE_SIZE:,} Zipf draws "
            f"({min(1.0, self.warmup_requests / SAMPLE_SIZE):.0%} of the file) before the soak",
            f"soak: {self.rate:,.0f} req/s asked ({self.rate / PEAK_1W:.0%} of the {PEAK_1W:,.0f} req/s peak), "
            f"{self.seconds:g} s, wrk 1 thread, {self.connections} connections, paced (wrk_paths.lua delay())",
            f"wrk: {self.requests:,} requests ({self.achieved:,.0f} req/s achieved, {self.achieved / self.rate:.1%}); "
            f"307: {self.answered_307:,}; non-307 answers: {w['answered_other']:,} (>= 400: {w['status']:,}); "
            f"socket errors: connect {w['connect']}, read {w['read']}, write {w['write']}, timeout {w['timeout']}",
            f"latency: p50 {w['p50_us'] / 1000:.2f} ms, p99 {w['p99_us'] / 1000:.2f} ms, "
            f"max {w['max_us'] / 1000:.1f} ms; schedule lag <= {w['lag_max_ms']:.1f} ms "
            f"({w['late'] / max(1, w['slots']):.1%} of requests sent > 1 ms late)",
            f"RSS every {SAMPLE_EVERY:g} s (MiB, server / worker): "
            + ", ".join(f"{s.at:.0f}s {s.server_kib / 1024:.1f}/{s.worker_kib / 1024:.1f}" for s in self.samples),
        ]
        for which in ("server", "worker"):
            r = self.rss(which)
            out.append(
                f"RSS {which} ({r.processes} process{'es' if r.processes != 1 else ''}): first {self.window:g} s max "
                f"{r.first_max_kib / 1024:.1f} MiB, last {self.window:g} s max {r.last_max_kib / 1024:.1f} MiB, "
                f"ratio {r.ratio:.3f} (range {r.min_kib / 1024:.1f}–{r.max_kib / 1024:.1f} MiB)"
            )
        out.append(
            f"scan log: {self.logged:,} entries appended, tem_scans_total +{self.server_scans:,.0f} on the server, "
            f"{self.rows:,} new rows in scans, {self.answered_307:,} 307 answers seen by wrk"
        )
        out += [f"{'PASS' if ok else 'FAIL'}: {what}" for what, ok in self.checks()]
        return out

    @property
    def ok(self) -> bool:
        return all(ok for _, ok in self.checks())


def run_load(inst: Installation, state: State, args: argparse.Namespace, report: SoakReport) -> None:
    """Paced wrk for --seconds, sampling both process groups' RSS every SAMPLE_EVERY seconds meanwhile."""
    assert inst.server is not None
    assert inst.worker is not None
    server, worker = inst.server.proc.pid, inst.worker.proc.pid
    offset = random.Random(args.seed).randrange(SAMPLE_SIZE)
    command, env = wrk_invocation(
        inst.base, state.zipf_sample, args.seconds, args.connections, 1, offset, rate=args.rate
    )
    env["TEM_WRK_COUNT_STATUS"] = "1"
    out_path, err_path = Path(state.workdir) / "wrk.out", Path(state.workdir) / "wrk.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        wrk = subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            started = time.monotonic()
            deadline = started + args.seconds + 60
            next_sample = started
            while wrk.poll() is None:
                now = time.monotonic()
                if now >= next_sample:
                    s_kib, s_n = group_rss_kib(server)
                    w_kib, w_n = group_rss_kib(worker)
                    report.samples.append(RssSample(now - started, s_kib, w_kib, s_n, w_n))
                    next_sample += SAMPLE_EVERY
                for child in (inst.server, inst.worker):
                    if not child.alive():
                        raise BenchError(f"{child.name} exited during the load:\n{child.tail()}")
                if now > deadline:
                    raise BenchError("wrk ran 60 s past its duration")
                time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
            ended = time.monotonic() - started
            s_kib, s_n = group_rss_kib(server)
            w_kib, w_n = group_rss_kib(worker)
            report.samples.append(RssSample(ended, s_kib, w_kib, s_n, w_n))
        finally:
            if wrk.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(wrk.pid, signal.SIGKILL)
                wrk.wait(5)
    report.wrk = parse_wrk_output(wrk.returncode, out_path.read_text(), err_path.read_text())


def soak(args: argparse.Namespace, state: State, children: Children) -> SoakReport:
    window = min(60.0, args.seconds / 2)
    report = SoakReport(rate=args.rate, seconds=args.seconds, connections=args.connections, window=window)
    inst = Installation(state, children)
    try:
        inst.start_worker()
        inst.start_server(1)
        check_answers(state, inst.base, "tem serve", resolver=True)
        inst.wait_drained(60)
        if args.warmup > 0:  # fill the bounded in-process caches first: every draw of the file seen once
            say(f"warm-up: wrk closed loop for {args.warmup:g} s")
            offset = random.Random(args.seed).randrange(SAMPLE_SIZE)
            warm = run_wrk("warm-up", inst.base, state.zipf_sample, args.warmup, args.connections, 1, offset)
            report.warmup_requests = warm.requests
            inst.wait_drained(120)
        rows0, logged0 = inst.scans_in_database(), inst.stream_length()
        scans0 = scrape(inst.base).get("tem_scans_total", 0.0)
        say(f"load: wrk paced at {args.rate:,.0f} req/s for {args.seconds:g} s against {inst.base}")
        run_load(inst, state, args, report)
        say("load done: waiting for the scan log to drain")
        report.undelivered, report.undelivered_after = wait_undelivered_zero(inst.base, UNDELIVERED_SECONDS)
        report.server_scans = scrape(inst.base).get("tem_scans_total", 0.0) - scans0
        try:
            inst.wait_drained(DRAIN_SECONDS)
            report.drained = True
        except BenchError as exc:
            report.drain_note = f" ({exc})"
        report.rows = inst.scans_in_database() - rows0
        report.logged = inst.stream_length() - logged0
    finally:
        inst.close()
    return report


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.soak", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="paced requests per second")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds of load")
    parser.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="seconds of closed-loop wrk before the soak (one pass over the draws fills the bounded caches)",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--stamps", type=int, default=DEFAULT_STAMPS, help="activated stamps to seed")
    parser.add_argument("--revoked", type=int, default=DEFAULT_REVOKED, help="stamps in the revoked roll")
    parser.add_argument("--seed", type=int, default=20260704, help="random seed of the draws")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL maintenance URL (CREATE/DROP DATABASE)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    return args


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(signum, _on_signal)
    signal.alarm(int(args.seconds + SETUP_BUDGET))  # the whole run is bounded; cleanup runs on the alarm too
    state: State | None = None
    children: Children | None = None
    try:
        ensure_wrk()
        state = create_state(args.pg, args.redis, None)
        seed(state, args.stamps, args.revoked, random.Random(args.seed))
        children = Children(Path(state.workdir))
        report = soak(args, state, children)
    except BenchError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
        if children is not None:
            children.stop_all()
        if state is not None:
            cleanup(state)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
