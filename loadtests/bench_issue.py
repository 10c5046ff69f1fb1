"""Benchmark: `tem issue` throughput against PyNaCl's raw signing rate, and its peak memory.

Requirement: `tem issue` of 1,000,000 stamps reaches at least 50% of PyNaCl's raw signing
rate measured in the same run, and its peak memory stays flat as N grows (the work is
streamed).

Machines here are noisy, so no absolute figure is a target. The baseline (PyNaCl
``SigningKey(seed).sign(msg)`` over realistic ``TEM1|kid|gtin|serial`` messages, one core)
is measured in this process immediately before and after every `tem issue` run, and each
run is judged against the mean of the two samples that bracket it.

Each `tem issue` runs as a child process, end to end: interpreter start, imports, serial
allocation in the database, signing and writing the file. The child is reaped with
``os.wait4``, which returns that one child's own resource usage, so its peak RSS
(``ru_maxrss``) and CPU time are exact and need no ``/usr/bin/time``.
(``getrusage(RUSAGE_CHILDREN)`` would not do: its ``ru_maxrss`` is the largest of all
children so far, so a later, smaller run could never show up.)

The database is a throwaway SQLite one in a temporary directory, seeded by
``tem demo --no-serve --json``; every ``TEM_*`` variable of the calling environment is
dropped so the figures never depend on it.

    python -m loadtests.bench_issue [--count 1000000] [--sizes 100000,300000,1000000] [--write-doc]

Exit status: 0 targets met, 1 a target missed, 2 the benchmark could not run or the
output was wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nacl
from nacl.signing import SigningKey

from crypto import PublicKey, parse_stamp_uri, verify_stamp
from loadtests.common import (
    DOC_PATH,
    BenchError,
    doc_section,
    load_keyset,
    machine_facts,
    parse_sizes,
    rerun_command,
    run_context,
    say,
    seed_demo,
    tem_command,
    write_doc,
)

DEFAULT_COUNT = 1_000_000
DEFAULT_SIZES = (100_000, 300_000, 1_000_000)
DEFAULT_BASELINE_COUNT = 200_000
MIN_RATIO = 0.50
MAX_RSS_GROWTH = 1.5
SPOT_CHECKS = 12

SECTION_ID = "issue"


# Baseline: PyNaCl's raw signing rate, in this process, on one core


@dataclass(frozen=True, slots=True)
class Baseline:
    count: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.count / self.cpu


def measure_baseline(count: int, kid: str, gtin: str) -> Baseline:
    """Sign ``count`` realistic stamp messages with ``nacl.signing.SigningKey.sign``."""
    key = SigningKey(os.urandom(32))
    first = 10_000_000  # seven- and eight-digit serials, like a busy installation
    messages = [f"TEM1|{kid}|{gtin}|{serial}".encode() for serial in range(first, first + count)]
    sign = key.sign
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for message in messages:
        sign(message)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Baseline(count, wall, cpu)


def _mean(*samples: Baseline) -> Baseline:
    return Baseline(
        samples[0].count,
        statistics.fmean(s.wall for s in samples),
        statistics.fmean(s.cpu for s in samples),
    )


# The system under test: `tem issue` as a child process


@dataclass(frozen=True, slots=True)
class Installation:
    home: Path
    env: dict[str, str]
    org: str
    gtin: str


@dataclass(frozen=True, slots=True)
class IssueRun:
    count: int
    wall: float
    cpu: float
    max_rss_kib: int

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.count / self.cpu


def prepare(home: Path) -> Installation:
    """Seed a throwaway installation: organisation, product and an active signing key."""
    env, demo = seed_demo(home)
    return Installation(home, env, str(demo["packing_house"]), str(demo["gtin"]))


def run_issue(inst: Installation, count: int, out: Path) -> IssueRun:
    """Run `tem issue` once and reap it with wait4 for its own peak RSS and CPU time."""
    log_path = inst.home / f"issue-{count}.log"
    command = [*tem_command(), "issue", "--org", inst.org, "--gtin", inst.gtin, "--count", str(count)]
    with log_path.open("wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen([*command, "--out", str(out)], env=inst.env, stdout=log, stderr=log)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so tell Popen
    if proc.returncode != 0:
        raise BenchError(f"`tem issue --count {count}` failed ({proc.returncode}):\n{log_path.read_text()}")
    return IssueRun(count, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def check_output(path: Path, count: int, keyset: dict[str, PublicKey], rng: random.Random) -> None:
    """Exactly ``count`` lines, consecutive serials, and sampled stamps verify under the keyset."""
    wanted = {0, count - 1, *rng.sample(range(count), min(count, SPOT_CHECKS))}
    samples: dict[int, str] = {}
    lines = 0
    with path.open("rb") as fh:
        for index, raw in enumerate(fh):
            lines += 1
            if index in wanted:
                samples[index] = raw.decode("ascii").rstrip("\n")
    if lines != count:
        raise BenchError(f"{path.name}: expected {count} lines, found {lines}")
    first = parse_stamp_uri(samples[0])
    for index, uri in sorted(samples.items()):
        stamp = parse_stamp_uri(uri)
        if stamp.serial != first.serial + index or stamp.gtin != first.gtin:
            raise BenchError(f"{path.name} line {index + 1}: serial {stamp.serial} breaks the sequence")
        verdict = verify_stamp(stamp, keyset)
        if not verdict:
            raise BenchError(f"{path.name} line {index + 1}: {verdict.reason}")
    forged = parse_stamp_uri(samples[0].replace(f"/21/{first.serial}?", f"/21/{first.serial + count}?"))
    if verify_stamp(forged, keyset):
        raise BenchError("a stamp with a changed serial still verifies: the spot check is broken")


# The run


@dataclass(frozen=True, slots=True)
class Row:
    run: IssueRun
    baseline: Baseline  # mean of the samples just before and just after this run

    @property
    def ratio(self) -> float:
        return self.run.rate / self.baseline.rate

    @property
    def cpu_ratio(self) -> float:
        return self.run.cpu_rate / self.baseline.cpu_rate


@dataclass(frozen=True, slots=True)
class Report:
    count: int
    baseline_count: int
    startup: IssueRun
    rows: list[Row]
    baselines: list[Baseline]
    min_ratio: float
    max_rss_growth: float

    @property
    def target(self) -> Row:
        return next(row for row in self.rows if row.run.count == self.count)

    @property
    def rss_growth(self) -> float:
        smallest = min(self.rows, key=lambda row: row.run.count)
        return max(row.run.max_rss_kib for row in self.rows) / smallest.run.max_rss_kib

    @property
    def ratio_ok(self) -> bool:
        return self.target.ratio >= self.min_ratio

    @property
    def memory_ok(self) -> bool:
        return self.rss_growth <= self.max_rss_growth


def run(sizes: Sequence[int], count: int, baseline_count: int, min_ratio: float, max_growth: float) -> Report:
    rng = random.Random(20260701)
    with tempfile.TemporaryDirectory(prefix="tem-bench-issue-") as tmp:
        inst = prepare(Path(tmp))
        keyset = load_keyset(inst.home)
        kid = next(iter(keyset))
        say(f"installation ready: org {inst.org}, gtin {inst.gtin}, key {kid}")
        # Warm-up and fixed cost: one stamp is start-up, imports and the database round trip.
        startup = run_issue(inst, 1, inst.home / "one.csv")
        baselines = [measure_baseline(baseline_count, kid, inst.gtin)]
        say(f"baseline: {baselines[-1].rate:,.0f} signatures/s")
        rows: list[Row] = []
        for size in sizes:
            out = inst.home / f"issue-{size}.csv"
            issue_run = run_issue(inst, size, out)
            baselines.append(measure_baseline(baseline_count, kid, inst.gtin))
            check_output(out, size, keyset, rng)
            out.unlink()
            row = Row(issue_run, _mean(baselines[-2], baselines[-1]))
            rows.append(row)
            say(
                f"N={size:,}: {issue_run.rate:,.0f} stamps/s, ratio {row.ratio:.2f}, "
                f"peak RSS {issue_run.max_rss_kib / 1024:.0f} MiB; baseline {baselines[-1].rate:,.0f}/s"
            )
    return Report(count, baseline_count, startup, rows, baselines, min_ratio, max_growth)


# Reporting


def _table(report: Report) -> list[str]:
    lines = [
        "| N | wall s | stamps/s | baseline sig/s | ratio | CPU s | CPU ratio | peak RSS MiB |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    s = report.startup
    lines.append(f"| 1 (start-up) | {s.wall:.2f} | – | – | – | {s.cpu:.2f} | – | {s.max_rss_kib / 1024:.1f} |")
    for row in report.rows:
        r = row.run
        lines.append(
            f"| {r.count:,} | {r.wall:.2f} | {r.rate:,.0f} | {row.baseline.rate:,.0f} | {row.ratio:.2f} "
            f"| {r.cpu:.2f} | {row.cpu_ratio:.2f} | {r.max_rss_kib / 1024:.1f} |"
        )
    return lines


def _verdicts(report: Report) -> list[str]:
    target = report.target
    smallest, largest = min(r.run.count for r in report.rows), max(r.run.count for r in report.rows)
    return [
        f"- Throughput at N = {report.count:,}: **{target.ratio:.2f}×** the raw signing rate "
        f"(target ≥ {report.min_ratio:.2f}): **{'PASS' if report.ratio_ok else 'FAIL'}**.",
        f"- Peak RSS, largest over N = {smallest:,} … {largest:,}: **{report.rss_growth:.2f}×** the smallest "
        f"(limit {report.max_rss_growth:.2f}×): **{'PASS' if report.memory_ok else 'FAIL'}**.",
    ]


def print_report(report: Report) -> None:
    rates = ", ".join(f"{b.rate:,.0f}" for b in report.baselines)
    print()
    print(f"baseline samples (SigningKey.sign, {report.baseline_count:,} messages each, signatures/s): {rates}")
    print()
    print("\n".join(_table(report)))
    print()
    print("\n".join(line.replace("**", "") for line in _verdicts(report)))


def render_section(report: Report, command: str, when: dt.datetime) -> str:
    lines = [
        "## `tem issue`: signing throughput and peak memory",
        "",
        "**Requirement.** `tem issue` of 1,000,000 stamps reaches ≥ 50% of PyNaCl's raw signing rate",
        "measured in the same run, and its peak memory stays flat as N grows (the work is streamed).",
        "",
        "**What is measured.** *Baseline*: `nacl.signing.SigningKey(seed).sign(msg)` in a loop over",
        f"{report.baseline_count:,} realistic `TEM1|kid|gtin14|serial` messages, in the benchmark process,",
        "on one core; sampled before the first run and again after every run. *Issue*: `tem issue",
        "--count N` as a child process, end to end (interpreter start, imports, serial allocation in",
        "SQLite, signing, writing one URI per line), wall clock. Each run's *ratio* is its stamps/s",
        "over the mean of the two baseline samples that bracket it; *CPU ratio* is the same with CPU",
        "seconds instead of wall seconds (less sensitive to other tenants). Peak RSS and CPU time are",
        "the child's own, from `os.wait4`. Every output file is checked: exactly N lines, consecutive",
        "serials, and sampled stamps verify against the installation's published keyset. The N = 1",
        "row is the fixed cost (start-up and database) that every run pays.",
        "",
        *run_context(command, when, machine_facts(f"PyNaCl {nacl.__version__}")),
        "",
        "**Raw figures.**",
        "",
        *_table(report),
        "",
        f"Baseline samples (signatures/s): {', '.join(f'{b.rate:,.0f}' for b in report.baselines)}.",
        "",
        "**Against the same-run baseline.**",
        "",
        *_verdicts(report),
    ]
    return doc_section(SECTION_ID, "loadtests/bench_issue.py", lines)


# Command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_issue", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="N the throughput target is judged at")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated N to run, for the memory check (--count is added if missing)",
    )
    parser.add_argument("--baseline-count", type=int, default=DEFAULT_BASELINE_COUNT, help="signatures per sample")
    parser.add_argument("--min-ratio", type=float, default=MIN_RATIO, help="throughput target, issue/raw")
    parser.add_argument("--max-rss-growth", type=float, default=MAX_RSS_GROWTH, help="peak RSS limit, largest/smallest")
    parser.add_argument(
        "--write-doc", action="store_true", help="rewrite this benchmark's section of docs/performance.md"
    )
    parser.add_argument("--doc", type=Path, default=DOC_PATH, help="the file --write-doc rewrites")
    args = parser.parse_args(argv)
    if args.count < 1 or args.baseline_count < 1:
        parser.error("--count and --baseline-count must be positive")
    args.sizes = sorted({*args.sizes, args.count})
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    when = dt.datetime.now(dt.UTC)
    try:
        report = run(args.sizes, args.count, args.baseline_count, args.min_ratio, args.max_rss_growth)
    except BenchError as exc:
        print(f"bench_issue: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    if args.write_doc:
        command = rerun_command("loadtests.bench_issue", argv)
        write_doc(args.doc, SECTION_ID, render_section(report, command, when))
        print(f"\nwrote {args.doc}")
    return 0 if report.ratio_ok and report.memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
