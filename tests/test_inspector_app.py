"""The inspector app's files as served: headers, no third-party host, the service worker, vendored libraries."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "inspector" / "static" / "inspect"
VENDOR = STATIC / "vendor"


def test_the_page_is_installable_and_locked_to_its_own_origin(client: TestClient) -> None:
    for path in ("/inspect", "/inspect/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp  # no inline script, no other host
        assert "frame-ancestors 'none'" in csp
        assert page.headers["cache-control"] == "no-cache"
    html = client.get("/inspect").text
    for hook in ("token-input", "login-submit", "scan-input", "verdict", "pending-count"):
        assert f'data-testid="{hook}"' in html
    assert '<link rel="manifest" href="/inspect/manifest.webmanifest">' in html
    # Every src/href is a path on this site.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/inspect/"), url
    assert "<script>" not in html
    assert "style=" not in html

    manifest = client.get("/inspect/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    data = manifest.json()
    assert data["start_url"] == "/inspect"
    assert data["display"] == "standalone"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:
        got = client.get(icon["src"])
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/png"


def test_the_service_worker_covers_the_app_and_caches_its_assets(client: TestClient) -> None:
    worker = client.get("/inspect/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/inspect"
    assert worker.headers["cache-control"] == "no-cache"
    body = worker.text
    assert "{{" not in body
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", body).group(1))  # type: ignore[union-attr]
    assert "/inspect" in precache
    assert "/.well-known/tem-keys.json" in precache
    for url in precache:
        assert client.get(url).status_code == 200, url
    for needed in (
        "app.js",
        "stamp.js",
        "ed25519.js",
        "scanner.js",
        "vendor/jsqr/jsQR.js",
        "vendor/noble-ed25519/index.js",
    ):
        assert f"/inspect/assets/{needed}" in precache


def test_assets_have_types_and_cache_headers(client: TestClient) -> None:
    page = client.get("/inspect").text
    versioned = re.search(r'src="(/inspect/assets/app\.js\?v=[0-9a-f]+)"', page)
    assert versioned is not None
    long = client.get(versioned.group(1))
    assert long.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "immutable" in long.headers["cache-control"]
    plain = client.get("/inspect/assets/app.js")
    assert plain.headers["cache-control"] == "no-cache"
    etag = plain.headers["etag"]
    assert client.get("/inspect/assets/app.js", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/inspect/assets/app.css").headers["content-type"] == "text/css; charset=utf-8"
    # Only the app's own files are served: no listing, no traversal, no licence texts or sources.
    for missing in (
        "/inspect/assets/nope.js",
        "/inspect/assets/../../../tem/settings.py",
        "/inspect/assets/%2e%2e/%2e%2e/app.py",
        "/inspect/assets/vendor/README.md",
        "/inspect/assets/vendor/jsqr/LICENSE",
        "/inspect/assets/",
    ):
        assert client.get(missing).status_code == 404, missing


def test_no_asset_names_a_third_party_host() -> None:
    """Code may mention URLs in comments (licences, docs); nothing is loaded from one."""
    for path in STATIC.rglob("*"):
        if path.suffix not in {".js", ".css", ".webmanifest"} or "vendor" in path.parts:
            continue
        text = path.read_text()
        assert not re.search(r"https?://[A-Za-z0-9-]+\.", text), path
    for path in VENDOR.rglob("*.js"):
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith(("//", "*", "/*"))
        )
        assert not re.search(r"""(?:import|fetch|src\s*=)\s*\(?\s*['"]https?://""", code), path


def test_vendored_files_match_their_recorded_hashes_and_licences() -> None:
    readme = (VENDOR / "README.md").read_text()
    recorded = {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.MULTILINE)}
    assert recorded, "vendor/README.md lists the files' SHA-256"
    files = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*.js")}
    assert files == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    for folder in ("jsqr", "noble-ed25519", "noble-hashes"):
        assert (VENDOR / folder / "LICENSE").read_text().strip()
    assert "Apache" in (VENDOR / "jsqr" / "LICENSE").read_text()
    assert "MIT" in (VENDOR / "noble-ed25519" / "LICENSE").read_text()
