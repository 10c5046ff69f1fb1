"""What the `bench_*` scripts share: running `tem`, a throwaway installation, machine facts, the doc section.

Only helpers that are the same in every script live here; each benchmark's measurements, tables and
verdicts stay in its own script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crypto import PublicKey, keyset_document, parse_keyset_document
from issuer.keys import public_keys
from tem.core.db import Database
from tem.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = REPO_ROOT / "docs" / "performance.md"
DOC_INTRO = """\
# Performance

Benchmarks live in [`loadtests/`](../loadtests/README.md); each one rewrites its own section
below when run with `--write-doc`.

Machines here are shared and noisy: the same code can run 30% faster or slower from one
minute to the next. So no absolute figure is a target. Every benchmark measures a baseline
in the same run (for signing, PyNaCl's raw rate on the same core) and states its result
as a ratio against that baseline; the raw figures are recorded only to show the scale.
"""


class BenchError(Exception):
    """The benchmark could not run, or the system under test answered wrongly."""


def say(text: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(text, file=sys.stderr, flush=True)


# Running `tem`


def tem_command() -> list[str]:
    """The `tem` console script of this interpreter's environment, as an operator runs it."""
    script = Path(sys.executable).with_name("tem")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tem.cli import main; main()"]


def environ_without_tem() -> dict[str, str]:
    """This process's environment minus every TEM_* variable, so no figure depends on the caller's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TEM_")}


def seed_demo(home: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Seed a throwaway SQLite installation in ``home`` with `tem demo --no-serve --json`.

    Returns the environment for `tem` children run against it and the demo's JSON (organisation,
    product, base URL).
    """
    env = environ_without_tem()
    env["TEM_HOME"] = str(home)
    result = subprocess.run(
        [*tem_command(), "demo", "--no-serve", "--json"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"`tem demo` failed ({result.returncode}):\n{result.stderr}")
    demo = json.loads(result.stdout)
    env["TEM_KEK_FILE"] = str(home / "dev-kek.b64")  # `tem demo` writes its development KEK here
    return env, demo


def load_keyset(home: Path) -> dict[str, PublicKey]:
    """The installation's public keys, round-tripped through the published keyset document."""
    settings = Settings(home=home, database_url=None)
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            document = keyset_document(public_keys(session))
    finally:
        database.dispose()
    return parse_keyset_document(json.loads(json.dumps(document)))


def parse_sizes(text: str) -> list[int]:
    """``--sizes``: comma-separated positive integers, ``_`` allowed, sorted without repeats."""
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


# Machine facts: each script composes its own **Machine.** lines from these


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if found:
            return found.group(1).strip()
    return "unknown"


def nproc() -> int | None:
    """CPUs this process may run on (its affinity, like `nproc`), not all the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def memory_total() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        if found:
            return f"{int(found.group(1)) / 1024**2:.1f} GiB"
    return "unknown"


def git_revision() -> str:
    """The checked-out commit, and whether the figures came from code that differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" with uncommitted changes" if dirty else "")


def machine_facts(libraries: str) -> list[str]:
    """**Machine.** lines for a benchmark whose measured work is one process: CPU and memory, OS, Python and
    ``libraries`` (the versions that matter to it), and the code's revision."""
    return [
        f"- CPU: {cpu_model()}; nproc {nproc()}; memory {memory_total()}",
        f"- {platform.system()} {platform.release()} {platform.machine()}; "
        f"Python {platform.python_version()}; {libraries}",
        f"- Code: {git_revision()}",
    ]


# The benchmark's section of docs/performance.md


def rerun_command(module: str, argv: Sequence[str] | None) -> str:
    """The command line as given, for the doc, so a reader can run the same benchmark again."""
    given = sys.argv[1:] if argv is None else list(argv)
    return shlex.join([".venv/bin/python", "-m", module, *given])


def run_context(command: str, when: dt.datetime, machine: list[str]) -> list[str]:
    """The **Command.**, **Date.** and **Machine.** paragraphs every section has, in that order."""
    return [
        "**Command.**",
        "",
        "```sh",
        command,
        "```",
        "",
        f"**Date.** {when.strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "**Machine.**",
        "",
        *machine,
    ]


def doc_section(section_id: str, script: str, lines: list[str]) -> str:
    """``lines`` between the begin and end markers that `write_doc` finds the section by."""
    begin = f"<!-- bench:{section_id}:begin (rewritten by {script} --write-doc) -->"
    return "\n".join([begin, *lines, f"<!-- bench:{section_id}:end -->"]) + "\n"


def write_doc(path: Path, section_id: str, section: str) -> None:
    """Replace this benchmark's section of the performance document, or add it at the end; others stay as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_INTRO
    pattern = re.compile(
        rf"^<!-- bench:{section_id}:begin\b.*?^<!-- bench:{section_id}:end -->\n?", re.MULTILINE | re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _match: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
