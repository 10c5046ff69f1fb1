"""Every `tem` command given bad input ends with one line on stderr and exit status 2, never a traceback; and the
smaller CLI commands around it (`--version`, `orgs list`, `users list|revoke`, `verify --online`, the demo's port
and keys)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tem.cli import main
from tem.core.settings import Settings
from tests.conftest import World
from tests.helpers import GTIN_A, setup_packer

MISSING = "/nonexistent-tem-folder"

# One bad invocation or more per command: a new command without a line here fails the coverage test below.
CASES: dict[str, list[list[str]]] = {
    "db upgrade": [["--nope"]],
    "keys generate": [["--nope"], []],  # the second without a KEK
    "keys rotate": [["--nope"]],
    "keys revoke": [["NOPE", "--reason", "lost"], ["NOPE"]],
    "keys list": [["--json", "extra"]],
    "keys rekey": [["--from-kek", "not base64!", "--to-kek", "x"], ["--to-kek", f"{MISSING}/kek.b64"]],
    "audit verify": [["--nope"]],
    "orgs create": [
        ["--kind", "packing_house", "--name", "A", "--code", "bad code!", "--province", "X"],
        ["--kind", "farm", "--name", "A", "--code", "VN-X", "--province", "X"],
        ["--kind", "distributor", "--name", "A", "--code", "CN-X", "--province", "Guangxi", "--gln", "123"],
    ],
    "orgs list": [["--nope"]],
    "users create": [
        ["--org", "NOPE", "--role", "packer", "--name", "x"],
        ["--org", "VN-TGPH-0001", "--role", "packer", "--name", "x", "--expires-in-days", "0"],
    ],
    "users list": [["--nope"]],
    "users revoke": [["999"], ["abc"]],
    "issue": [
        ["--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "2", "--out", f"{MISSING}/x.csv"],
        ["--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "2", "--out", "{tmp}/x.csv", "--template", "nope"],
        ["--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "0", "--out", "{tmp}/x.csv"],
        ["--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "many", "--out", "{tmp}/x.csv"],
    ],
    "print": [["1", "--out", f"{MISSING}/x.pdf"], ["999", "--out", "{tmp}/x.pdf"], ["1", "--out", "{tmp}/x.txt"]],
    "verify": [["https://example.com/nothing"], ["{uri}", "--keys", f"{MISSING}/keys.json"], ["{uri}", "--online"]],
    "worker": [["--once"]],  # no TEM_REDIS_URL on the embedded default
    "replay": [[f"{MISSING}/events.jsonl"]],
    "serve": [["--port", "many"]],
    "demo": [["--port", "many"]],
    "outbox drain": [["--timeout", "soon"], []],  # [] = no TEM_PORTAL_URL
    "outbox status": [["--json", "extra"]],
    "outbox replay": [[], ["999"], ["abc"]],
}


def _commands(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} ")
        else:
            yield path


def test_every_command_has_a_bad_input_case() -> None:
    assert set(_commands(main)) == set(CASES)


@pytest.fixture
def issued(world: World, env: dict[str, str], tmp_path: Path) -> str:
    """A product, an order of 1 (order 1) and its one stamp URI."""
    setup_packer(world.client, world.packer)
    out = tmp_path / "one.csv"
    result = CliRunner().invoke(
        main, ["issue", "--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "1", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    return out.read_text().splitlines()[1]


def _unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bad_input_is_one_line_and_exit_status_2(
    world: World, env: dict[str, str], tmp_path: Path, issued: str
) -> None:
    closed = issued.replace("HTTP://127.0.0.1:8000", f"http://127.0.0.1:{_unused_port()}", 1)
    runner = CliRunner()
    for command, cases in CASES.items():
        for args in cases:
            filled = [a.format(tmp=tmp_path, uri=closed if "--online" in args else issued) for a in args]
            # `keys generate` without a KEK; every other command with the test's KEK
            extra = {"TEM_KEK": None} if command == "keys generate" and not args else {}
            if command == "worker":
                extra = {"TEM_REDIS_URL": None}
            result = runner.invoke(main, [*command.split(), *filled], env={**env, **extra})
            what = f"tem {command} {' '.join(filled)}:\n{result.output}"
            assert result.exit_code == 2, what
            assert "Traceback" not in result.output, what
            assert len(result.stderr.strip().splitlines()) == 1, what
            assert result.stderr.startswith("error: "), what
            assert result.stderr[len("error: ")].isalnum(), what  # a message, not an empty one


def test_issue_with_an_unwritable_file_makes_no_order(world: World, env: dict[str, str], tmp_path: Path) -> None:
    setup_packer(world.client, world.packer)
    args = ["issue", "--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "3"]
    result = CliRunner().invoke(main, [*args, "--out", f"{MISSING}/x.csv"], env=env)
    assert result.exit_code == 2
    assert "no order was made" in result.stderr or "cannot write" in result.stderr
    assert world.client.get("/api/v1/orders", headers=world.packer).json() == []
    unknown = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "x.csv"), "--template", "nope"], env=env)
    assert "durian-fruit-tag" in unknown.stderr  # names the templates there are
    assert world.client.get("/api/v1/orders", headers=world.packer).json() == []
    assert list(tmp_path.glob("*.csv")) == []
    assert list(tmp_path.glob(".*.partial")) == []


def test_the_api_refuses_an_unknown_template_when_ordering(world: World) -> None:
    setup_packer(world.client, world.packer)
    answer = world.client.post(
        "/api/v1/orders", headers=world.packer, json={"gtin": GTIN_A, "quantity": 1, "template": "nope"}
    )
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert "nope" in message
    assert "durian-fruit-tag" in message
    assert "a4-sheet-5x13" in message


def test_version_orgs_list_and_users_list_revoke(world: World, env: dict[str, str], settings: Settings) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.startswith("tem ")
    orgs = runner.invoke(main, ["orgs", "list"], env=env).output
    assert "VN-TGPH-0001" in orgs
    assert "inspection_agency" in orgs
    listing = runner.invoke(main, ["users", "list"], env=env).output
    assert "tem_" not in listing  # never the token itself
    line = next(row for row in listing.splitlines() if "VN-TGPH-0001" in row and "packer" in row)
    token_id = line.split()[0]
    assert world.client.get("/api/v1/products", headers=world.packer).status_code == 200
    revoked = runner.invoke(main, ["users", "revoke", token_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert world.client.get("/api/v1/products", headers=world.packer).status_code == 401
    everyone = runner.invoke(main, ["users", "list", "--all"], env=env).output.splitlines()
    assert "revoked" in next(row for row in everyone if row.split()[0] == token_id)
    assert token_id not in [
        row.split()[0] for row in runner.invoke(main, ["users", "list"], env=env).output.splitlines()
    ]
    again = runner.invoke(main, ["users", "revoke", token_id], env=env)
    assert again.exit_code == 2
    assert "already revoked" in again.stderr
    from sqlalchemy import select

    from issuer.models import AuditEvent
    from tem.core.db import Database

    db = Database(settings.effective_database_url)
    with db.session() as session:
        subjects = session.scalars(select(AuditEvent.subject).where(AuditEvent.action == "token.revoked")).all()
    db.dispose()
    assert subjects == [f"token:{token_id}"]


class _Resolver(http.server.BaseHTTPRequestHandler):
    """Answers as Tem's resolver answers a HEAD: a redirect for an active stamp, 200 for any other."""

    def do_HEAD(self) -> None:
        self.send_response(307 if "/21/1?" in self.path else 200)
        if "/21/1?" in self.path:
            self.send_header("Location", "/lot/1?serial=1")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_verify_says_what_offline_cannot_know_and_online_asks_the_resolver(env: dict[str, str], issued: str) -> None:
    runner = CliRunner()
    offline = runner.invoke(main, ["verify", issued], env=env)
    assert offline.exit_code == 0
    assert "revocation and activation were not checked" in offline.output
    server = http.server.HTTPServer(("127.0.0.1", 0), _Resolver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = issued.replace("HTTP://127.0.0.1:8000", f"http://127.0.0.1:{server.server_port}", 1)
        genuine = runner.invoke(main, ["verify", local, "--online"], env=env)
        assert genuine.exit_code == 0, genuine.output
        assert "ONLINE GENUINE" in genuine.output
        revoked = runner.invoke(main, ["verify", local.replace("/21/1?", "/21/2?"), "--keys", "x", "--online"], env=env)
        assert revoked.exit_code == 2  # the keyset file is missing: checked before going online
    finally:
        server.shutdown()


def test_demo_uses_the_port_it_serves_and_other_commands_find_its_key(env: dict[str, str], tmp_path: Path) -> None:
    demo_env = {k: v for k, v in env.items() if k not in ("TEM_KEK", "TEM_PUBLIC_BASE_URL")}
    demo_env["TEM_HOME"] = str(tmp_path / "demo-home")
    if "sqlite" in env["TEM_DATABASE_URL"]:
        demo_env.pop("TEM_DATABASE_URL")
    command = [sys.executable, "-m", "tem", "demo", "--no-serve", "--json", "--port", "8100"]
    seeded = subprocess.run(command, env=demo_env, capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(seeded.stdout)
    assert data["base_url"] == "http://127.0.0.1:8100"
    assert all(":8100/" in uri for uri in data["stamps"])
    out = tmp_path / "more.csv"
    issue = [sys.executable, "-m", "tem", "issue", "--org", data["packing_house"], "--gtin", data["gtin"]]
    issued = subprocess.run(
        [*issue, "--count", "2", "--out", str(out)],
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert issued.returncode == 0, issued.stderr
    assert "DEVELOPMENT key-encryption key" in issued.stderr
    assert len(out.read_text().splitlines()) == 3
