"""What the fault drills run on: their own throwaway `redis-server` (AOF on, `appendfsync everysec`) and
PostgreSQL cluster (`initdb` + `pg_ctl`, as the `postgres` user when the tests run as root), on loopback
ports of their own; `tem serve` and `tem worker` as real processes; and a load generator that keeps the
scan id of every scan `tem serve` acknowledged (the `tem_scan` cookie of its 307), to be counted against
the `scans` table afterwards.

Each drill's figures go to the test's output and, with `TEM_DRILL_REPORT=path`, are appended to that file
as JSON lines (docs/reliability.md is written from such a run).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TEST_KEK
from tests.processes import ROOT, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = shutil.which("redis-server")
# As docs/deploy.md requires: AOF fsync'd every second, no RDB snapshots, and no eviction.
REDIS_OPTIONS: tuple[str, ...] = ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
REDIS_OPTIONS += ("--daemonize", "no", "--maxmemory-policy", "noeviction")


def _pg_bin() -> Path | None:
    if (PG_BIN / "initdb").exists():
        return PG_BIN
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def wait_for(check: Any, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110  # not up yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(every)


class RedisProcess:
    """A throwaway redis-server: AOF on (`appendfsync everysec`, as docs/deploy.md requires), no RDB."""

    def __init__(self, directory: Path) -> None:
        assert REDIS_SERVER is not None
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115  # the process keeps it
        self.process = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                *REDIS_OPTIONS,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(self.ping, 10, "redis-server start")

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: a crash. With `everysec`, up to a second of writes may be lost."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def wipe(self) -> None:
        """Its data gone: the next start is an empty Redis (as a host replaced, or no persistence)."""
        for child in self.directory.iterdir():
            if child.name != "redis.log":
                shutil.rmtree(child) if child.is_dir() else child.unlink()

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class PostgresCluster:
    """A throwaway PostgreSQL cluster (`initdb` + `pg_ctl`) on its own port; as `postgres` when run as root
    (initdb refuses root)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="tem-drill-pg-"))
        self.data = self.directory / "data"
        self.as_user: str | None = None
        if os.geteuid() == 0:
            self.as_user = "postgres"
            user = pwd.getpwnam(self.as_user)
            os.chown(self.directory, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "pg.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Seeded:
    """The drills' template database: migrated, with the demo's data, and stamps not yet activated."""

    template: str
    gtin: str
    lot: str
    stamps: list[str]  # activated: path?query
    waiting: list[str]  # issued, not activated
    waiting_first: int
    waiting_last: int
    packer_token: str


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("the fault drills need PostgreSQL's initdb and pg_ctl")
    cluster = PostgresCluster(bin_dir)
    cluster.init()
    yield cluster
    cluster.close()


def _path(uri: str) -> str:
    _scheme, _, rest = uri.partition("//")
    return "/" + rest.partition("/")[2]


@pytest.fixture(scope="session")
def seeded(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    admin = create_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE drill_template"))
    admin.dispose()
    home = tmp_path_factory.mktemp("drill-seed")
    env = drill_env(home, postgres.url("drill_template"), None)
    subprocess.run([sys.executable, "-m", "tem", "db", "upgrade"], env=env, check=True, timeout=180, cwd=ROOT)
    demo = subprocess.run(
        [sys.executable, "-m", "tem", "demo", "--no-serve", "--json"],
        env=env, capture_output=True, text=True, timeout=180, check=True, cwd=ROOT,
    )  # fmt: skip
    data = json.loads(demo.stdout)
    waiting = _issue_more(env, data["gtin"])
    return Seeded(
        template="drill_template",
        gtin=data["gtin"],
        lot=data["lot"],
        stamps=[_path(uri) for uri in data["stamps"]],
        waiting=[_path(uri) for uri in waiting["stamps"]],
        waiting_first=waiting["first"],
        waiting_last=waiting["last"],
        packer_token=data["tokens"]["packer"],
    )


_ISSUE_MORE = """
import json, sys
from identity.principal import operator
from issuer import schemas, service
from issuer.keys import SignerCache
from tem.core.db import Database
from tem.core.settings import Settings
from tem.demo import _packer
from issuer.models import SerialRange
from sqlalchemy import select

settings = Settings()
db = Database(settings.effective_database_url)
with db.session() as session:
    org_id = session.scalars(select(SerialRange.organisation_id)).first()
    packer = _packer(org_id)
    keys = service.Keys(settings, SignerCache())
    order = service.create_order(session, keys, packer, schemas.OrderCreate(gtin=sys.argv[1], quantity=20))
    if order.first_serial is None:
        order = service.approve_order(session, keys, operator("drill"), order.id)
    stamps = service.order_stamps(session, keys, packer, order.id)
    uris = list(stamps.uris(settings.public_base_url))
print(json.dumps({"stamps": uris, "first": stamps.first_serial, "last": stamps.last_serial}))
"""


def _issue_more(env: dict[str, str], gtin: str) -> dict[str, Any]:
    """A second order of the demo's GTIN, issued and not activated: the registry drill activates it."""
    out = subprocess.run(
        [sys.executable, "-c", _ISSUE_MORE, gtin],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    if out.returncode:
        raise RuntimeError(out.stderr)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def drill_env(home: Path, database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEM_")}
    env = {
        **clean,
        "TEM_HOME": str(home),
        "TEM_DATABASE_URL": database_url,
        "TEM_KEK": TEST_KEK,
        "TEM_PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "TEM_FORGED_BURST_LIMIT": "100000",
        "TEM_REGISTRY_POLL_SECONDS": "1",
        "TEM_WORKER_NICE": "0",
        **extra,
    }
    if redis_url:
        env["TEM_REDIS_URL"] = redis_url
    return env


class TemProcess:
    """`tem serve` or `tem worker`, started, killed and started again by the drill."""

    def __init__(self, env: dict[str, str], args: Sequence[str], log_name: str, port: int | None = None) -> None:
        self.env = env
        self.args = list(args)
        self.port = port
        self.log_path = Path(env["TEM_HOME"]) / log_name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115  # the process keeps it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tem", *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        if self.port is not None:
            wait_for(self._healthy, 60, f"tem {self.args[0]} start")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(self.log_path.read_text()[-4000:])
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        finally:
            connection.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Answer:
    at: float  # time.monotonic() when the request was sent
    path: str
    status: int  # 0: no answer (connection refused or reset)
    scan_id: str | None


@dataclass
class Load:
    """Scans sent by a few threads at a steady pace; every answer kept."""

    port: int
    paths: list[str]
    rate: float = 40.0  # scans a second, in all
    threads: int = 3
    fresh_connections: bool = False  # a new connection per scan: spread over every server process
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.started = time.monotonic()
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self) -> float:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)
        return time.monotonic() - self.started

    def _run(self, n: int) -> None:
        interval = self.threads / self.rate
        connection: http.client.HTTPConnection | None = None
        i = n
        next_at = time.monotonic()
        while not self._stop.is_set():
            path = self.paths[i % len(self.paths)]
            i += self.threads
            sent = time.monotonic()
            status, scan_id = 0, None
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                headers = {
                    "User-Agent": f"drill/{n}",
                    "Connection": "close" if self.fresh_connections else "keep-alive",
                }
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                for name, value in response.getheaders():
                    if name.lower() == "set-cookie" and value.startswith("tem_scan="):
                        scan_id = value.split("=", 1)[1].split(".", 1)[0]
                if self.fresh_connections or response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
            with self._lock:
                self.answers.append(Answer(sent, path, status, scan_id))
            next_at = max(next_at + interval, time.monotonic() - 1)
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        if connection is not None:
            connection.close()

    def acknowledged(self, since: float = 0.0, until: float = float("inf")) -> list[str]:
        return [a.scan_id for a in self.answers if a.status == 307 and a.scan_id and since <= a.at < until]


def written(database_url: str, ids: Sequence[str]) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id FROM scans WHERE id = ANY(:ids)"), {"ids": list(ids)})
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def settle(database_url: str, ids: Sequence[str], timeout: float = 25.0) -> set[str]:
    """The acknowledged scans found in the database, once every one is there or `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = written(database_url, ids)
        if len(found) == len(set(ids)) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def report(name: str, figures: dict[str, Any]) -> None:
    line = json.dumps({"drill": name, **figures})
    print(f"\nDRILL {line}")
    target = os.environ.get("TEM_DRILL_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(line + "\n")


@dataclass
class Rig:
    """One drill's world: its database (a clone of the seeded template), Redis, `tem serve` and `tem worker`."""

    home: Path
    database_url: str
    redis: RedisProcess
    serve: TemProcess
    worker: TemProcess
    seeded: Seeded
    port: int


@pytest.fixture
def make_rig(postgres: PostgresCluster, seeded: Seeded, tmp_path: Path) -> Iterator[Any]:
    made: list[Rig] = []
    counter = iter(range(1000))

    def make(serve_args: Sequence[str] = (), **extra: str) -> Rig:
        name = f"drill_{os.getpid()}_{next(counter)}_{int(time.time() * 1000) % 100000}"
        admin = create_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seeded.template}"'))
        admin.dispose()
        redis_process = RedisProcess(tmp_path / "redis")
        redis_process.start()
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        env = drill_env(home, postgres.url(name), redis_process.url, **extra)
        port = free_port()
        serve = TemProcess(env, ["serve", "--port", str(port), *serve_args], "serve.log", port)
        worker = TemProcess(env, ["worker", "--name", "drill-1"], "worker.log")
        rig = Rig(home, postgres.url(name), redis_process, serve, worker, seeded, port)
        made.append(rig)
        worker.start()
        serve.start()
        return rig

    yield make
    for rig in made:
        rig.serve.stop()
        rig.worker.stop()
        rig.redis.stop()


@pytest.fixture(autouse=True)
def _needs_redis_server() -> None:
    if REDIS_SERVER is None:
        pytest.skip("the fault drills need redis-server")
