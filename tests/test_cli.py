"""The `tem` command, run the way people run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tem.cli import main
from tests.helpers import GTIN_A


@pytest.fixture
def tem(env: dict[str, str]) -> object:
    runner = CliRunner()

    def run(*args: str, expect: int = 0, extra_env: dict[str, str | None] | None = None) -> str:
        result = runner.invoke(main, list(args), env={**env, **(extra_env or {})}, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result.output

    return run


def _bootstrap(tem: object) -> None:
    run = tem  # type: ignore[assignment]
    run("keys", "generate")  # type: ignore[operator]
    run(
        "orgs",
        "create",
        "--kind",
        "packing_house",
        "--name",
        "Cơ sở A",
        "--code",
        "VN-TGPH-0001",  # type: ignore[operator]
        "--province",
        "Tiền Giang",
    )


def test_users_create_prints_a_token_once_that_authenticates(tem: object, client: object) -> None:
    _bootstrap(tem)
    output = tem("users", "create", "--org", "VN-TGPH-0001", "--role", "packer", "--name", "Chị Lan")  # type: ignore[operator]
    token = output.splitlines()[0].strip()
    assert token.startswith("tem_")
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    response = client.get("/api/v1/products", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    wrong = tem("users", "create", "--org", "VN-TGPH-0001", "--role", "ministry", "--name", "x", expect=2)  # type: ignore[operator]
    assert "needs an organisation of kind ministry" in wrong
    unknown = tem("users", "create", "--org", "NOPE", "--role", "packer", "--name", "x", expect=2)  # type: ignore[operator]
    assert "no organisation with code 'NOPE'" in unknown


def test_keys_lifecycle(tem: object) -> None:
    run = tem
    assert "generated signing key" in run("keys", "generate")  # type: ignore[operator]
    assert "already exists" in run("keys", "generate", expect=2)  # type: ignore[operator]
    first = json.loads(run("keys", "list", "--json"))  # type: ignore[operator]
    assert [k["status"] for k in first] == ["active"]
    run("keys", "rotate")  # type: ignore[operator]
    second = json.loads(run("keys", "list", "--json"))  # type: ignore[operator]
    assert [k["status"] for k in second] == ["retired", "active"]
    assert "revoked" in run("keys", "revoke", first[0]["kid"], "--reason", "compromised")  # type: ignore[operator]
    listing = run("keys", "list")  # type: ignore[operator]
    assert "revoked" in listing
    assert "compromised" in listing
    for entry in json.loads(run("keys", "list", "--json")):  # type: ignore[operator]
        assert set(entry) == {"kid", "status", "not_before", "not_after", "created_at", "revoked_reason"}


def test_keys_without_kek_fail_clearly(tem: object) -> None:
    output = tem("keys", "generate", expect=2, extra_env={"TEM_KEK": None})  # type: ignore[operator]
    assert "no key-encryption key" in output
    assert "Traceback" not in output
    bad = tem("keys", "generate", expect=2, extra_env={"TEM_KEK": "c2hvcnQ="})  # type: ignore[operator]
    assert "exactly 32 bytes" in bad


def test_issue_refuses_an_unknown_product_and_writes_nothing(tem: object, tmp_path: Path) -> None:
    _bootstrap(tem)
    out = tmp_path / "stamps.csv"
    output = tem("issue", "--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "5", "--out", str(out), expect=2)  # type: ignore[operator]
    assert "no product" in output
    assert not out.exists()
    bad = tem("issue", "--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "0", "--out", str(out), expect=2)  # type: ignore[operator]
    assert "quantity" in bad


def test_verify_exit_codes(tem: object, tmp_path: Path, world: object, env: dict[str, str]) -> None:
    from tests.conftest import World
    from tests.helpers import order, setup_packer

    assert isinstance(world, World)
    setup_packer(world.client, world.packer)
    out = tmp_path / "stamps.csv"
    progress = tem("issue", "--org", "VN-TGPH-0001", "--gtin", GTIN_A, "--count", "1200", "--out", str(out))  # type: ignore[operator]
    assert "signing" in progress
    assert "1200 stamps" in progress
    header, *lines = out.read_text().splitlines()
    assert header == "uri"
    assert len(lines) == 1200
    assert len(set(lines)) == 1200
    assert "VALID" in tem("verify", lines[0])  # type: ignore[operator]
    tampered = lines[0].replace("/21/1?", "/21/2?")
    assert "BAD SIGNATURE" in tem("verify", tampered, expect=1)  # type: ignore[operator]
    assert "not a Tem stamp" in tem("verify", "https://example.com/nothing", expect=2)  # type: ignore[operator]
    keyset = tmp_path / "keys.json"
    keyset.write_text(world.client.get("/.well-known/tem-keys.json").text)
    assert "VALID" in tem("verify", lines[-1], "--keys", str(keyset))  # type: ignore[operator]
    assert "cannot load the keyset" in tem("verify", lines[-1], "--keys", str(tmp_path / "none.json"), expect=2)  # type: ignore[operator]
    # CLI orders and API orders share one serial sequence per GTIN.
    assert order(world.client, world.packer, GTIN_A, 1)["first_serial"] == 1201


def test_demo_no_serve_json_is_complete_and_idempotent(env: dict[str, str], tmp_path: Path) -> None:
    demo_env = {k: v for k, v in env.items() if k not in ("TEM_KEK",)}
    demo_env["TEM_HOME"] = str(tmp_path / "demo-home")
    if "sqlite" in env["TEM_DATABASE_URL"]:
        demo_env.pop("TEM_DATABASE_URL")  # the real default: SQLite inside TEM_HOME
    command = [sys.executable, "-m", "tem", "demo", "--no-serve", "--json"]
    first = subprocess.run(command, env=demo_env, capture_output=True, text=True, timeout=120, check=True)
    assert "DEVELOPMENT key-encryption key" in first.stderr
    assert "DEVELOPMENT scratch-off PIN key" in first.stderr
    data = json.loads(first.stdout)
    for field in ("base_url", "packing_house", "gtin", "lot", "order_id", "stamps", "tokens"):
        assert field in data
    assert set(data["tokens"]) == {"packer", "inspector", "ministry", "distributor"}
    assert data["distributor"] == "CN-NNFI-01"
    assert len(data["stamps"]) == 100
    second = json.loads(
        subprocess.run(command, env=demo_env, capture_output=True, text=True, timeout=120, check=True).stdout
    )
    assert second["order_id"] == data["order_id"]
    assert second["stamps"] == data["stamps"]
    assert second["tokens"]["packer"] != data["tokens"]["packer"]
    verified = subprocess.run(
        [sys.executable, "-m", "tem", "verify", data["stamps"][0]],
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_bad_detection_thresholds_file_stops_every_command_with_its_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "detection.toml"
    bad.write_text('version = 1\n[duplicate]\nwarning_devices = "many"\n', encoding="utf-8")
    runner = CliRunner()
    for config, expected in ((bad, "warning_devices must be a number"), (tmp_path / "missing.toml", "cannot read")):
        result = runner.invoke(main, ["worker", "--once"], env={**env, "TEM_DETECTION_CONFIG": str(config)})
        assert result.exit_code == 2, result.output
        assert "TEM_ setting" in result.output
        assert expected in result.output
        assert "Traceback" not in result.output


def test_serve_says_whether_detection_runs_compiled(tem: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from tem import compiled

    served: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_options: served.append(app))
    output = tem("serve", "--port", "8765")  # type: ignore[operator]
    assert served == ["tem.asgi:app"]
    assert f"detection's per-scan code: {compiled.describe()}" in output


def test_the_demo_server_writes_plain_text_logs_for_the_person_at_the_terminal(tmp_path: Path) -> None:
    """`make demo` is read by a person: its log lines are text, not the JSON `tem serve` writes for shippers."""
    from tests.processes import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEM_")} | {"TEM_HOME": str(tmp_path)}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tem", "demo", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            for _ in range(240):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    time.sleep(0.25)
            else:
                raise AssertionError(log.read_text())
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert any("Application startup complete." in line for line in lines)
    assert not [line for line in lines if line.startswith("{")]


def test_an_importer_is_registered_with_its_gln_and_gets_a_distributor_token(tem: object) -> None:
    run = tem
    out = run(  # type: ignore[operator]
        "orgs", "create", "--kind", "distributor", "--name", "Nanning Fruit Import", "--code", "CN-NNFI-02",
        "--province", "Guangxi, CN", "--gln", "8936000000028",
    )  # fmt: skip
    assert "organisation CN-NNFI-02 created (distributor, Guangxi, CN)" in out
    bad = run(  # type: ignore[operator]
        "orgs", "create", "--kind", "distributor", "--name", "X", "--code", "CN-X-01", "--province", "Guangxi, CN",
        "--gln", "8936000000027", expect=2,
    )  # fmt: skip
    assert "check digit" in bad
    abroad_packer = run(  # type: ignore[operator]
        "orgs", "create", "--kind", "packing_house", "--name", "X", "--code", "VN-X-01", "--province", "Guangxi",
        expect=2,
    )  # fmt: skip
    assert "is not a Vietnamese province" in abroad_packer
    token = run("users", "create", "--org", "CN-NNFI-02", "--role", "distributor", "--name", "Mr. Li")  # type: ignore[operator]
    assert token.splitlines()[0].startswith("tem_")
