"""`tem serve` as a real process, and the health routes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

from fastapi.testclient import TestClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_health_readiness_and_keyset(env: dict[str, str]) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tem", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "tem serve did not start"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert b'"ready":true' in response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/tem-keys.json", timeout=5) as response:
            assert response.headers["ETag"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_readyz_reports_each_dependency(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["ready"] is True
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] in {"ok", "not used (embedded in-process state)"}


def test_readyz_is_503_when_the_database_is_gone(client: TestClient) -> None:
    state = client.app.state.tem  # type: ignore[attr-defined]
    from tem.db import Database

    state.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Not Found"
