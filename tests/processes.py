"""`tem serve` as a real process, for tests of what the served app does."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

ROOT = Path(__file__).resolve().parent.parent


def demo_stamp(env: dict[str, str]) -> SplitResult:
    """`tem demo --no-serve` seeds this test's database; its first stamp's URI, split."""
    demo = subprocess.run(
        [sys.executable, "-m", "tem", "demo", "--no-serve", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return urlsplit(json.loads(demo.stdout)["stamps"][0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def tem_serve(
    env: dict[str, str],
    *,
    tem: Sequence[str] = (sys.executable, "-m", "tem"),
    cwd: Path = ROOT,
    port: int | None = None,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """A real `tem serve` (the checkout's, or the `tem` command given) on a free port or the one given;
    yields its base URL and stops it afterwards. Its output goes to TEM_HOME/serve.log."""
    port = port or free_port()
    log = open(Path(env["TEM_HOME"]) / "serve.log", "wb")  # noqa: SIM115  # closed in finally
    process = subprocess.Popen(
        [*tem, "serve", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
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
