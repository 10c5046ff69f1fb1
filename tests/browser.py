"""Headless Chromium for the browser tests: Debian's package driven by Playwright, and `tem serve` as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def tem_serve(env: dict[str, str]) -> Iterator[str]:
    """A real `tem serve` on a free port; yields its base URL and stops it afterwards."""
    port = free_port()
    log = open(Path(env["TEM_HOME"]) / "serve.log", "wb")  # noqa: SIM115  # closed in finally
    process = subprocess.Popen(
        [sys.executable, "-m", "tem", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310  # loopback http
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError((Path(env["TEM_HOME"]) / "serve.log").read_text()) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("tem serve did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def screenshots_wanted() -> bool:
    """`TEM_UPDATE_SCREENSHOTS=1` writes the screenshots into docs/inspector/ (otherwise a temp folder)."""
    return os.environ.get("TEM_UPDATE_SCREENSHOTS") == "1"
