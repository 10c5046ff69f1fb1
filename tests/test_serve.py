"""`tem serve` as a real process, and the health routes."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

from fastapi.testclient import TestClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_health_readiness_keyset_and_scans(env: dict[str, str]) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "tem", "demo", "--no-serve", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stamp = urlsplit(json.loads(demo.stdout)["stamps"][0])
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
        # A scan takes the served app's own hot path (tem.asgi), ahead of the web framework.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", f"{stamp.path}?{stamp.query}")
        answer = connection.getresponse()
        assert answer.status == 307
        assert "/10/" in (answer.getheader("location") or "")
        connection.close()
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
