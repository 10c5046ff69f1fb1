"""Headless browsers for the browser tests, Debian's packages: Chromium driven by Playwright, Firefox ESR over
Marionette (marionette_driver); and `tem serve` as a process."""

from __future__ import annotations

import os
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from marionette_driver.marionette import Marionette

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
FIREFOX = Path("/usr/bin/firefox-esr")
# Without the background-networking flags Chromium keeps calling home, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> str:
    """Debian's Chromium, installed by scripts/ensure-chromium on a machine that lacks it."""
    if not CHROMIUM.exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], check=True)
    return str(CHROMIUM)


def ensure_firefox() -> str:
    """Debian's Firefox ESR, installed by scripts/ensure-firefox on a machine that lacks it."""
    if not FIREFOX.exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-firefox")], check=True)
    return str(FIREFOX)


@contextmanager
def _refusing_proxy() -> Iterator[tuple[int, list[str]]]:
    """A proxy on loopback that answers every request 403 and keeps its first line ("CONNECT host:443 HTTP/1.1")."""
    refused: list[str] = []

    class Refuse(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            refused.append(self.rfile.readline(8192).decode("latin-1").strip())
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuse) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], refused
        finally:
            server.shutdown()
            thread.join(timeout=10)


@contextmanager
def firefox(workspace: Path) -> Iterator[tuple[Marionette, list[str]]]:
    """A Marionette session of headless Firefox ESR with a fresh profile in `workspace` (its log: gecko.log there).
    The network is closed: every request for a host other than this machine goes to a proxy that refuses it (Firefox
    never proxies loopback), and the list yielded says what was tried."""
    executable = ensure_firefox()
    with _refusing_proxy() as (proxy_port, refused):
        prefs: dict[str, object] = {
            "network.proxy.type": 1,  # manual
            "network.proxy.http": "127.0.0.1",
            "network.proxy.http_port": proxy_port,
            "network.proxy.ssl": "127.0.0.1",
            "network.proxy.ssl_port": proxy_port,
            "network.proxy.no_proxies_on": "",
            "network.dns.disablePrefetch": True,
            "intl.accept_languages": "en-US",
        }
        # A release build ignores the profile's remote settings server (a data: URL that marionette_driver sets)
        # and calls Mozilla's, unless its environment says this is remote settings' own development.
        with mock.patch.dict(os.environ, {"MOZ_REMOTE_SETTINGS_DEVTOOLS": "1"}):  # Firefox's environment
            client = Marionette(
                host="127.0.0.1",
                port=free_port(),
                bin=executable,
                headless=True,
                prefs=prefs,
                gecko_log=str(workspace / "gecko.log"),
                workspace=str(workspace),
                startup_timeout=60,
            )
        try:
            client.start_session()
            yield client, refused
        finally:
            client.cleanup()


def screenshots_wanted() -> bool:
    """`TEM_UPDATE_SCREENSHOTS=1` writes the screenshots into docs/inspector/ (otherwise a temp folder)."""
    return os.environ.get("TEM_UPDATE_SCREENSHOTS") == "1"
