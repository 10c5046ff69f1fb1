"""`tem serve` as a real process, and the health routes."""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.processes import demo_stamp, tem_serve


def test_serve_answers_health_readiness_keyset_and_scans(env: dict[str, str]) -> None:
    stamp = demo_stamp(env)
    with tem_serve(env) as base:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:  # noqa: S310  # loopback http
            assert b'"ready":true' in response.read()
        with urllib.request.urlopen(f"{base}/.well-known/tem-keys.json", timeout=5) as response:  # noqa: S310
            assert response.headers["ETag"]
        # A scan takes the served app's own hot path (tem.asgi), ahead of the web framework.
        connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=5)
        connection.request("GET", f"{stamp.path}?{stamp.query}")
        answer = connection.getresponse()
        assert answer.status == 307
        assert "/10/" in (answer.getheader("location") or "")
        connection.close()
        # Loopback is a trusted proxy by default (TEM_TRUSTED_PROXIES): a local nginx's X-Forwarded-For names the
        # client, so a visitor it forwards is not let into /metrics; loopback itself is.
        forwarded = urllib.request.Request(f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.5"})  # noqa: S310
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(forwarded, timeout=5)  # noqa: S310  # loopback http
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:  # noqa: S310  # loopback http
            assert re.search(rb"^tem_scans_total\{[^}]*verdict=\"genuine\"[^}]*\} 1.0$", response.read(), re.M)


def test_readyz_reports_each_dependency(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["ready"] is True
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] in {"ok", "not used (embedded in-process state)"}


def test_readyz_is_503_when_the_database_is_gone(client: TestClient) -> None:
    state = client.app.state.tem  # type: ignore[attr-defined]
    from tem.core.db import Database

    state.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Not Found"
