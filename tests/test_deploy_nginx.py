"""The shipped nginx site (deploy/nginx/tem.conf) in front of a real `tem serve`, on loopback.

Debian's nginx runs the site file as shipped, its placeholders filled in, with a certificate made here;
`tem serve` runs on the embedded default (SQLite, in-process state) in a temporary TEM_HOME, seeded by
`tem demo`, with its secrets handed over by deploy/bin/tem-credentials-exec as systemd would. Checked
through nginx: a scan and its trace page over HTTPS, the HTTP redirect, HSTS, that only nginx's own idea
of the client address reaches Tem, that /metrics is not served, and that the keyset is cached.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "tem.conf"
CREDENTIALS_EXEC = ROOT / "deploy" / "bin" / "tem-credentials-exec"
NGINX = "/usr/sbin/nginx"
FORGED_LIMIT = 3  # TEM_FORGED_BURST_LIMIT here: the 4th forged scan from one network in a window is a 429


@dataclass(frozen=True)
class Edge:
    https: str  # nginx's HTTPS base, also TEM_PUBLIC_BASE_URL
    http: str  # nginx's plain HTTP base
    tem: str  # `tem serve` itself, for the controls that show what a header would do if it got through
    tls: ssl.SSLContext  # trusts the test's self-signed certificate
    stamps: tuple[str, ...]
    lot: str
    database: Path  # the embedded SQLite file, where the in-process worker writes the scan log
    root: Path  # the test's temporary folder (nginx prefix, logs, TEM_HOME)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, tls: ssl.SSLContext | bool = False) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, verify=tls, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process ended:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in 30 s:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the openssl CLI: the venv has no `cryptography`)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def render_site(values: dict[str, str]) -> str:
    """The shipped site with its __PLACEHOLDERS__ filled in; every one must be, and none may be left."""
    text = SITE.read_text()
    for name, value in values.items():
        assert f"__{name}__" in text, f"the site has no __{name}__"
        text = text.replace(f"__{name}__", value)
    left = sorted(set(re.findall(r"__[A-Z][A-Z0-9_]*__", text)))
    assert not left, f"placeholders not filled in: {left}"
    return text


def _nginx_conf(prefix: Path, site: Path) -> str:
    """The main file, standing in for Debian's /etc/nginx/nginx.conf: everything under the prefix."""
    # Run as root (as here), workers would be `nobody` and could not enter pytest's private temp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    # Installs Debian's nginx when it is missing (needs root, as in CI): this test never skips.
    subprocess.run([str(ROOT / "scripts" / "ensure-nginx")], check=True, timeout=300)
    root = tmp_path_factory.mktemp("deploy-nginx")
    home, prefix, credentials = root / "home", root / "nginx", root / "credentials"
    for folder in (home, prefix, credentials, prefix / "acme" / ".well-known" / "acme-challenge"):
        folder.mkdir(parents=True)
    https_port, http_port, tem_port = free_port(), free_port(), free_port()
    https = f"https://127.0.0.1:{https_port}"

    # The secrets as systemd would hand them over (LoadCredential=): files in $CREDENTIALS_DIRECTORY.
    (credentials / "kek").write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    (credentials / "pin_key").write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    (credentials / "secret_key").write_text(secrets.token_hex(32) + "\n")
    # Only this test's settings: CI's second run sets TEM_DATABASE_URL and TEM_REDIS_URL, and this test
    # runs on a temporary embedded home either way.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEM_")}
    env |= {
        "CREDENTIALS_DIRECTORY": str(credentials),
        "TEM_HOME": str(home),
        "TEM_PUBLIC_BASE_URL": https,
        # As deploy/tem.env has it: the client address is X-Tem-Client-IP, which nginx always overwrites.
        "TEM_TRUST_EDGE_HEADERS": "true",
        "TEM_EDGE_CLIENT_IP_HEADER": "x-tem-client-ip",
        "TEM_FORGED_BURST_LIMIT": str(FORGED_LIMIT),
        "TEM_FORGED_WINDOW_SECONDS": "600",  # no window ends during the test
    }
    tem = [str(CREDENTIALS_EXEC), sys.executable, "-m", "tem"]
    demo = subprocess.run(
        [*tem, "demo", "--no-serve", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # its stderr goes into the failure message below
    )
    assert demo.returncode == 0, demo.stderr
    assert "DEVELOPMENT" not in demo.stderr  # the credentials were used, not the demo's own keys
    seeded = json.loads(demo.stdout)

    cert, key = _certificate(root)
    tls = ssl.create_default_context(cafile=str(cert))
    site = prefix / "tem.conf"
    site.write_text(
        render_site(
            {
                "SERVER_NAME": "127.0.0.1",
                "PUBLIC_BASE_URL": https,
                "HTTP_LISTEN": f"127.0.0.1:{http_port}",
                "HTTPS_LISTEN": f"127.0.0.1:{https_port}",
                "TLS_CERTIFICATE": str(cert),
                "TLS_CERTIFICATE_KEY": str(key),
                "ACME_WEBROOT": str(prefix / "acme"),
                "CACHE_DIR": str(prefix / "cache"),
                "TEM_PORT": str(tem_port),
            }
        )
    )
    (prefix / "nginx.conf").write_text(_nginx_conf(prefix, site))
    nginx = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    checked = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr

    serve_log, nginx_log = root / "serve.log", prefix / "stderr.log"
    with serve_log.open("wb") as serve_out, nginx_log.open("wb") as nginx_out:
        serve = subprocess.Popen(
            [*tem, "serve", "--port", str(tem_port)], env=env, cwd=ROOT, stdout=serve_out, stderr=subprocess.STDOUT
        )
        proxy = subprocess.Popen(nginx, stdout=nginx_out, stderr=subprocess.STDOUT)
        try:
            _wait_for(f"http://127.0.0.1:{tem_port}/healthz", serve, serve_log)
            _wait_for(f"{https}/healthz", proxy, nginx_log, tls)
            yield Edge(
                https=https,
                http=f"http://127.0.0.1:{http_port}",
                tem=f"http://127.0.0.1:{tem_port}",
                tls=tls,
                stamps=tuple(seeded["stamps"]),
                lot=seeded["lot"],
                database=home / "tem.sqlite3",
                root=root,
            )
        finally:
            _stop(proxy, signal.SIGQUIT)  # nginx's graceful stop
            _stop(serve)


def _target(uri: str) -> str:
    """A stamp URI's path and query: sent to nginx (or Tem) whatever base the demo printed."""
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def _forged(uri: str) -> str:
    """The same stamp with one signature character changed: well formed, but not genuine."""
    target = _target(uri)
    head, _, signature = target.partition("&s=")
    return f"{head}&s={'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def _scan_id(answer: httpx.Response) -> str:
    """The scan id in the scan token Tem hands the trace page: in its short-lived cookie, or (older Tem) in
    the redirect's query string. The token is "{scan_id}.{verdict}.{mac}"."""
    for header in answer.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == "tem_scan":
            return rest.split(";")[0].split(".")[0]
    return parse_qs(urlsplit(answer.headers["location"]).query)["scan"][0].split(".")[0]


def _logged(edge: Edge, scan_id: str) -> tuple[str | None, str | None]:
    """(ip_hash, country) of a scan, once the in-process worker has written it to the scan log."""
    deadline = time.monotonic() + 15
    while True:
        with sqlite3.connect(f"file:{edge.database}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT ip_hash, country FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is not None:
            return row[0], row[1]
        assert time.monotonic() < deadline, f"scan {scan_id} never reached the scan log"
        time.sleep(0.2)


def test_a_scan_over_https_reaches_tem_and_its_trace_page_loads(edge: Edge) -> None:
    with httpx.Client(base_url=edge.https, verify=edge.tls, timeout=10) as client:
        answer = client.get(_target(edge.stamps[0]))
        assert answer.status_code == 307, answer.text
        location = answer.headers["location"]
        assert location.startswith(f"{edge.https}/01/")  # Tem's redirect, built from TEM_PUBLIC_BASE_URL
        assert "/10/" in location
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        page = client.get(location)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert edge.lot in page.text
        assert "strict-transport-security" in page.headers
        assert "x-cache-status" not in page.headers  # only the keyset goes through the cache


def test_plain_http_redirects_to_https_keeping_the_scan(edge: Edge) -> None:
    target = _target(edge.stamps[10])
    answer = httpx.get(f"{edge.http}{target}", timeout=10)
    assert answer.status_code in (301, 308)
    assert answer.headers["location"] == f"{edge.https}{target}"
    assert "strict-transport-security" not in answer.headers  # HSTS means something over HTTPS only
    # Certificate renewal's http-01 challenges are answered over plain HTTP, not redirected.
    challenge = edge.root / "nginx" / "acme" / ".well-known" / "acme-challenge" / "token-1"
    challenge.write_text("token-1.thumbprint")
    answer = httpx.get(f"{edge.http}/.well-known/acme-challenge/token-1", timeout=10)
    assert answer.status_code == 200
    assert answer.text == "token-1.thumbprint"


# Headers a client might send to pass for someone else. nginx sets X-Tem-Client-IP and X-Forwarded-For
# to the connection's own address and drops the rest.
FORGED_ADDRESS_HEADERS = (
    "x-tem-client-ip",
    "x-forwarded-for",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "forwarded",
)


def _pretend(n: int) -> dict[str, str]:
    """Request n claims, in every address header at once, to come from a /24 of its own (10.n.0.0/24)."""
    address = f"10.{n}.0.9"
    headers = dict.fromkeys(FORGED_ADDRESS_HEADERS, address)
    headers["forwarded"] = f"for={address}"
    headers["x-forwarded-for"] = f"{address}, 10.{n}.1.9"
    return headers


def test_forged_client_addresses_do_not_reach_tem(edge: Edge) -> None:
    """Observable: the forged-scan limit counts per network (resolver/hotpath.py `forged`), and Tem takes the
    network from the client address it trusts. Straight to Tem, the trusted header moves a scan to another
    network, so scans claiming different networks never reach the limit: the header is what Tem reads.
    Through nginx, scans that claim different networks in every address header still all count for nginx's
    view of the client (127.0.0.1), and the one after the limit is refused."""
    forged = _forged(edge.stamps[20])
    with httpx.Client(base_url=edge.tem, timeout=10) as tem:
        direct = [tem.get(forged, headers={"x-tem-client-ip": f"10.{100 + n}.0.9"}) for n in range(FORGED_LIMIT + 2)]
    assert [r.status_code for r in direct] == [200] * (FORGED_LIMIT + 2)
    assert "counterfeit" in direct[0].text.lower()

    with httpx.Client(base_url=edge.https, verify=edge.tls, timeout=10) as client:
        through = [client.get(forged, headers=_pretend(n)) for n in range(FORGED_LIMIT + 1)]
    assert [r.status_code for r in through] == [200] * FORGED_LIMIT + [429]
    assert through[-1].headers["retry-after"] == "600"


def test_forged_geo_headers_are_cleared_and_the_scan_is_logged_under_nginxs_address(edge: Edge) -> None:
    """Observable: the scan log's row (ip_hash, country) for each scan, read from the embedded database.
    Straight to Tem, a trusted address header and a cf-ipcountry header both show in the row; through
    nginx, forged ones change nothing: the row matches that of a plain scan through nginx."""
    geo = {"cf-ipcountry": "US", "cf-iplatitude": "40.7", "cf-iplongitude": "-74.0", "cf-ipcity": "New York"}
    with httpx.Client(base_url=edge.https, verify=edge.tls, timeout=10) as client:
        plain = client.get(_target(edge.stamps[30]))
        pretending = client.get(_target(edge.stamps[31]), headers={**_pretend(7), **geo})
    with httpx.Client(base_url=edge.tem, timeout=10) as tem:
        control = tem.get(_target(edge.stamps[32]), headers={"x-tem-client-ip": "10.7.0.9", **geo})
    assert [r.status_code for r in (plain, pretending, control)] == [307, 307, 307]

    plain_hash, plain_country = _logged(edge, _scan_id(plain))
    forged_hash, forged_country = _logged(edge, _scan_id(pretending))
    control_hash, control_country = _logged(edge, _scan_id(control))
    assert control_country == "US"  # Tem does read these headers when they reach it...
    assert control_hash != plain_hash  # ...and the trusted address header
    assert plain_country is None
    assert forged_country is None  # ...but none of them got through nginx
    assert forged_hash == plain_hash


def _raw_get(edge: Edge, target: str) -> tuple[int, str]:
    """A GET of exactly this request target (httpx would tidy "//metrics" into another URL)."""
    parts = urlsplit(edge.https)
    connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=edge.tls, timeout=10)
    try:
        connection.request("GET", target)
        answer = connection.getresponse()
        return answer.status, answer.read().decode(errors="replace")
    finally:
        connection.close()


def test_metrics_is_not_served_through_nginx(edge: Edge) -> None:
    for target in ("/metrics", "/metrics/", "/metrics?format=prometheus", "//metrics", "/%6detrics", "/./metrics"):
        status, body = _raw_get(edge, target)
        assert status == 404, target
        assert "nginx" in body, target  # nginx's own page: the request never reached Tem


def test_the_keyset_is_served_and_cached(edge: Edge) -> None:
    with httpx.Client(base_url=edge.https, verify=edge.tls, timeout=10) as client:
        first = client.get("/.well-known/tem-keys.json")
        second = client.get("/.well-known/tem-keys.json")
        busted = client.get("/.well-known/tem-keys.json?nocache=1")
        revalidated = client.get("/.well-known/tem-keys.json", headers={"if-none-match": first.headers["etag"]})
    assert first.status_code == 200
    assert first.json()["keys"]
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert busted.headers["x-cache-status"] == "HIT"  # a query string neither skips nor fills the cache
    # Tem's own caching headers pass through, and nginx answers a matching If-None-Match from its copy.
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert second.headers["etag"] == first.headers["etag"]
    assert revalidated.status_code == 304
    assert "strict-transport-security" in second.headers
