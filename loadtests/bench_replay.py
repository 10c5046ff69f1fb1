"""Benchmark: `tem replay` throughput against the raw cost of `json.loads` over the same lines, and its memory.

Requirement (issue 5): at least 50,000 events/s on one core, streamed, with memory growing with the number of
scanned stamps and not with the number of events.

Machines here are noisy, so the throughput is stated as a ratio against a baseline measured in the same run:
a child process that only runs `json.loads` over every line of the same file (the floor any replay pays). The
absolute events/s is reported too, because the requirement names one. Both are computed from CPU time (less
sensitive to other tenants than wall time), with the fixed cost of each command (interpreter start, imports;
measured on an empty file) subtracted.

Event files come from the seeded simulator (`loadtests/simulator.py`). For the memory check one file is also
replayed with three more rounds of the same stamps' scans appended (four times the events, the same stamps):
its peak RSS must stay within 15% of the original's.

    python -m loadtests.bench_replay [--lots 50,100,200,400] [--write-doc]

Exit status: 0 targets met, 1 a target missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nacl

from loadtests.common import (
    DOC_PATH,
    BenchError,
    doc_section,
    machine_facts,
    rerun_command,
    run_context,
    say,
    tem_command,
    write_doc,
)
from loadtests.simulator import SimConfig, iter_lines, simulate
from tem import compiled

SECTION_ID = "replay"
MIN_EVENTS_PER_S = 50_000
MAX_RSS_GROWTH = 1.15
REPEAT_ROUNDS = 3
JSON_ONLY = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"


@dataclass(frozen=True, slots=True)
class Run:
    wall: float
    cpu: float
    max_rss_kib: int


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    events: int
    stamps: int
    replay: Run
    baseline: Run
    alerts: int

    def rate(self, fixed: Run) -> float:
        return self.events / max(1e-9, self.replay.cpu - fixed.cpu)

    def baseline_rate(self, fixed: Run) -> float:
        return self.events / max(1e-9, self.baseline.cpu - fixed.cpu)


def _child(command: list[str], stdout: Path) -> Run:
    with stdout.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so tell Popen
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise BenchError(f"{shlex.join(command)} failed ({proc.returncode}):\n{stderr}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def replay_run(path: Path, out: Path) -> Run:
    return _child([*tem_command(), "replay", str(path)], out)


def baseline_run(path: Path, out: Path) -> Run:
    return _child([sys.executable, "-c", JSON_ONLY, str(path)], out)


def write_events(lots: int, path: Path, repeat_rounds: int = 0) -> tuple[int, int]:
    """Made in a child process: a forked child's peak RSS starts from its parent's, so the benchmark process
    must never hold a simulation in memory while it measures."""
    command = [sys.executable, "-m", "loadtests.bench_replay", "--make-events", str(lots), "--out", str(path)]
    result = subprocess.run([*command, "--rounds", str(repeat_rounds)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"making events failed:\n{result.stderr}")
    counts = json.loads(result.stdout)
    return int(counts["events"]), int(counts["stamps"])


def make_events(lots: int, path: Path, repeat_rounds: int) -> dict[str, int]:
    """A simulated season; with `repeat_rounds`, the same stamps' scans again, later, from new devices."""
    sim = simulate(SimConfig(seed=11, lots=lots))
    stamps = {(e["gtin"], e["serial"]) for e in sim.events if e["type"] == "scan"}
    events = 0
    with path.open("wb") as out:
        for line in iter_lines(sim):
            out.write(line + b"\n")
            events += 1
        for round_ in range(1, repeat_rounds + 1):
            shift = dt.timedelta(days=120 * round_)
            for event in sim.events:
                if event["type"] not in ("scan", "pin"):
                    continue
                ts = dt.datetime.fromisoformat(event["ts"]) + shift
                again = {
                    **event,
                    "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "id": f"{event['id']}r{round_}",
                    "device": f"{event.get('device', '')}r{round_}",
                }
                out.write(json.dumps(again, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                events += 1
    return {"events": events, "stamps": len(stamps)}


@dataclass(frozen=True, slots=True)
class Report:
    rows: list[Row]
    repeat: Row
    fixed_replay: Run
    fixed_json: Run

    @property
    def largest(self) -> Row:
        return max(self.rows, key=lambda r: r.events)

    @property
    def rate(self) -> float:
        return self.largest.rate(self.fixed_replay)

    @property
    def ratio(self) -> float:
        return self.rate / self.largest.baseline_rate(self.fixed_json)

    @property
    def base_of_repeat(self) -> Row:
        return next(r for r in self.rows if r.stamps == self.repeat.stamps)

    @property
    def rss_growth(self) -> float:
        return self.repeat.replay.max_rss_kib / self.base_of_repeat.replay.max_rss_kib

    @property
    def rate_ok(self) -> bool:
        return self.rate >= MIN_EVENTS_PER_S

    @property
    def memory_ok(self) -> bool:
        return self.rss_growth <= MAX_RSS_GROWTH


def run(lots: Sequence[int], repeat_lots: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="tem-bench-replay-") as tmp:
        root = Path(tmp)
        empty = root / "empty.jsonl"
        empty.write_bytes(b"")
        out = root / "alerts.jsonl"
        fixed_replay = replay_run(empty, out)
        fixed_json = baseline_run(empty, out)
        rows: list[Row] = []
        files: dict[int, tuple[Path, int, int]] = {}
        for n in sorted({*lots, repeat_lots}):
            path = root / f"events-{n}.jsonl"
            events, stamps = write_events(n, path)
            files[n] = (path, events, stamps)
        for n in sorted(files):
            path, events, stamps = files[n]
            rows.append(_measure(f"{n} lots", path, events, stamps, out))
        path = root / f"events-{repeat_lots}-x{REPEAT_ROUNDS + 1}.jsonl"
        events, stamps = write_events(repeat_lots, path, REPEAT_ROUNDS)
        repeat = _measure(f"{repeat_lots} lots, scans ×{REPEAT_ROUNDS + 1}", path, events, stamps, out)
    return Report(rows, repeat, fixed_replay, fixed_json)


def _measure(name: str, path: Path, events: int, stamps: int, out: Path) -> Row:
    baseline = baseline_run(path, out)
    replay = replay_run(path, out)
    alerts = sum(1 for _ in out.open("rb"))
    baseline_after = baseline_run(path, out)  # bracket the replay: the machine drifts
    mean = Run(
        (baseline.wall + baseline_after.wall) / 2,
        (baseline.cpu + baseline_after.cpu) / 2,
        max(baseline.max_rss_kib, baseline_after.max_rss_kib),
    )
    row = Row(name, events, stamps, replay, mean, alerts)
    say(
        f"{name}: {events:,} events, {replay.cpu:.2f} CPU s, json.loads {mean.cpu:.2f} CPU s, "
        f"peak RSS {replay.max_rss_kib / 1024:.0f} MiB"
    )
    return row


def _table(report: Report) -> list[str]:
    lines = [
        "| events file | events | scanned stamps | alert lines | replay CPU s | events/s | json.loads CPU s "
        "| json.loads events/s | ratio | peak RSS MiB | RSS above start-up, bytes per scanned stamp |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    fr, fj = report.fixed_replay, report.fixed_json
    lines.append(
        f"| empty (fixed cost) | 0 | 0 | 0 | {fr.cpu:.2f} | – | {fj.cpu:.2f} | – | – "
        f"| {fr.max_rss_kib / 1024:.1f} | – |"
    )
    for row in [*report.rows, report.repeat]:
        rate, base = row.rate(fr), row.baseline_rate(fj)
        per_stamp = (row.replay.max_rss_kib - fr.max_rss_kib) * 1024 / max(1, row.stamps)
        lines.append(
            f"| {row.name} | {row.events:,} | {row.stamps:,} | {row.alerts:,} | {row.replay.cpu:.2f} | {rate:,.0f} "
            f"| {row.baseline.cpu:.2f} | {base:,.0f} | {rate / base:.2f} | {row.replay.max_rss_kib / 1024:.1f} "
            f"| {per_stamp:,.0f} |"
        )
    return lines


def _verdicts(report: Report) -> list[str]:
    largest = report.largest
    return [
        f"- Throughput at {largest.events:,} events: **{report.rate:,.0f} events/s** of CPU time "
        f"(target ≥ {MIN_EVENTS_PER_S:,}): **{'PASS' if report.rate_ok else 'FAIL'}**; that is "
        f"**{report.ratio:.2f}×** the rate of the standard library's `json.loads` alone over the same lines, "
        "the same-run baseline (replay itself parses with orjson, so this is not its parsing share).",
        f"- Peak RSS with the same stamps scanned {REPEAT_ROUNDS + 1}× as often ({report.repeat.events:,} events "
        f"instead of {report.base_of_repeat.events:,}): **{report.rss_growth:.2f}×** the original "
        f"(limit {MAX_RSS_GROWTH:.2f}×): **{'PASS' if report.memory_ok else 'FAIL'}**.",
    ]


def render_section(report: Report, command: str, when: dt.datetime) -> str:
    lines = [
        "## `tem replay`: detection throughput and memory",
        "",
        "**Requirement.** `tem replay` processes ≥ 50,000 events/s on one core, streamed, and its memory grows",
        "with the number of scanned stamps, not the number of events.",
        "",
        "**What is measured.** Event files from the seeded simulator (`loadtests/simulator.py`, seed 11). For each",
        "file, *replay* is `tem replay FILE` as a child process, end to end, and *baseline* is a child process that",
        "runs only `json.loads` over every line of the same file (run before and after the replay; the mean is",
        "used). Rates use each child's CPU time from `os.wait4`, minus the same command's CPU time on an empty",
        "file (interpreter start and imports). *Ratio* is replay events/s over baseline events/s. The last row",
        f"appends {REPEAT_ROUNDS} more rounds of the same stamps' scans (new devices, later dates) to one file.",
        "",
        # The same facts as bench_issue's section, PyNaCl included, as this section has always listed them.
        *run_context(command, when, machine_facts(f"PyNaCl {nacl.__version__}; engine {compiled.describe()}")),
        "",
        "**Raw figures.**",
        "",
        *_table(report),
        "",
        "**Against the same-run baseline.**",
        "",
        *_verdicts(report),
    ]
    return doc_section(SECTION_ID, "loadtests/bench_replay.py", lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", default="50,100,200,400", help="simulated lots per events file")
    parser.add_argument("--repeat-lots", type=int, default=100, help="the file replayed with repeated scans")
    parser.add_argument("--write-doc", action="store_true", help="rewrite this benchmark's section")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    parser.add_argument("--make-events", type=int, help=argparse.SUPPRESS)  # internal: the child making a file
    parser.add_argument("--rounds", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make_events is not None:
        print(json.dumps(make_events(args.make_events, args.out, args.rounds)))
        return 0
    lots = [int(x) for x in args.lots.split(",") if x.strip()]
    when = dt.datetime.now(dt.UTC)
    try:
        report = run(lots, args.repeat_lots)
    except BenchError as exc:
        print(f"bench_replay: {exc}", file=sys.stderr)
        return 2
    print("\n".join(_table(report)))
    print()
    print("\n".join(line.replace("**", "") for line in _verdicts(report)))
    if args.write_doc:
        command = rerun_command("loadtests.bench_replay", argv)
        write_doc(args.doc, SECTION_ID, render_section(report, command, when))
        print(f"\nwrote {args.doc}")
    return 0 if report.rate_ok and report.memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
