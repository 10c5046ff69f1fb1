"""Locust: the resolver under a realistic mix of consumer traffic.

- 93% valid scans, spread over all 1,000,000 activated stamps with Zipf popularity (a few stamps are
  scanned often, most once or never): a 307 to the lot's trace page;
- 3% forged scans (a genuine stamp with its serial or signature altered): the counterfeit page;
- 2% scans of a revoked roll: the counterfeit page;
- 2% trace-page views (a page a scan redirected to, opened again), with every same-host asset the page
  references (stylesheets, scripts, images, icons), as a browser without a cache would load them.

Each simulated phone keeps its cookie and sends Cloudflare's edge headers (a visitor address and a country,
mostly China), as the resolver sees traffic behind the edge; the server trusts them in this setup
(`TEM_TRUST_EDGE_HEADERS=1`), so forged-scan limits count each visitor's own network.

It needs the seeded stamps: ``python -m loadtests.bench_resolver --locust`` seeds them, serves them and
runs this file headless (see loadtests/README.md); or point ``TEM_LOAD_STATE`` at the state file of
``python -m loadtests.bench_resolver --serve SECONDS --state FILE`` and run locust yourself.
"""

from __future__ import annotations

import itertools
import json
import mmap
import os
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, between, task

MIX = {"valid": 93, "forged": 3, "revoked": 2, "trace": 2}
ASSET = re.compile(rb"<(?:link|script|img|source)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
COUNTRIES = [("CN", 70, "22.82", "108.32"), ("VN", 20, "10.82", "106.63"), ("TH", 5, "13.75", "100.50")]
COUNTRIES += [("MY", 5, "3.14", "101.69")]


class Stamps:
    """The seeded stamps: fixed-width lines in a file (line i is stamp i), read through mmap, so every
    locust process shares one copy; Zipf popularity over them, ranks shuffled across the serial range."""

    def __init__(self, state_file: Path) -> None:
        state: dict[str, Any] = json.loads(state_file.read_text())
        self.lot = str(state["lot"])
        self.count = int(state["valid_count"])
        self._width = int(state["path_width"])
        with open(state["valid_paths"], "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.revoked = Path(state["revoked_paths"]).read_text().split()
        rng = random.Random(20260704)
        exponent = float(state.get("zipf_exponent", 1.0))
        self._cum = list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, self.count + 1)))
        self._stamp_of_rank = list(range(self.count))
        rng.shuffle(self._stamp_of_rank)
        self._ranks = range(self.count)

    def path(self, index: int) -> str:
        start = index * self._width
        return self._map[start : start + self._width].decode("ascii").rstrip()

    def popular(self, rng: random.Random) -> str:
        rank = rng.choices(self._ranks, cum_weights=self._cum)[0]
        return self.path(self._stamp_of_rank[rank])


def _state_file() -> Path:
    name = os.environ.get("TEM_LOAD_STATE")
    if not name:
        raise SystemExit("set TEM_LOAD_STATE to the state file of `python -m loadtests.bench_resolver --serve`")
    return Path(name)


STAMPS = Stamps(_state_file())


def forge(path: str, rng: random.Random) -> str:
    """A counterfeiter's copy: the serial moved by one, or one character of the signature changed."""
    if rng.random() < 0.5:
        return re.sub(r"/21/(\d+)\?", lambda m: f"/21/{int(m.group(1)) + 1}?", path, count=1)
    head, _, signature = path.rpartition("&s=")
    at = rng.randrange(len(signature))
    swapped = "A" if signature[at] != "A" else "B"
    return f"{head}&s={signature[:at]}{swapped}{signature[at + 1 :]}"


class Phone(FastHttpUser):
    """One consumer's phone: scans stamps, sometimes opens a trace page again."""

    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.rng = random.Random()
        country, _share, lat, lon = self.rng.choices(COUNTRIES, weights=[c[1] for c in COUNTRIES])[0]
        octets = (
            self.rng.randrange(1, 224),
            self.rng.randrange(256),
            self.rng.randrange(256),
            self.rng.randrange(1, 255),
        )
        visitor = ".".join(map(str, octets))
        self.edge = {
            "cf-connecting-ip": visitor,
            "cf-ipcountry": country,
            "cf-iplatitude": lat,
            "cf-iplongitude": lon,
            "user-agent": "Mozilla/5.0 (Linux; Android 14) tem-locust",
            "accept-language": "zh-CN,zh;q=0.9" if country == "CN" else "vi-VN,vi;q=0.9",
        }
        self.pages: list[str] = []

    @task(MIX["valid"])
    def valid_scan(self) -> None:
        self._scan(STAMPS.popular(self.rng))

    def _scan(self, path: str) -> None:
        with self.client.get(
            path, headers=self.edge, name="scan: valid", allow_redirects=False, catch_response=True
        ) as response:
            location = response.headers.get("location") or ""
            if response.status_code != 307 or f"/10/{STAMPS.lot}?" not in location:
                response.failure(f"expected a 307 to the lot's trace page, got {response.status_code}")
                return
            parts = urlsplit(location)
            self.pages = [*self.pages[-19:], f"{parts.path}?{parts.query}"]

    @task(MIX["forged"])
    def forged_scan(self) -> None:
        path = forge(STAMPS.popular(self.rng), self.rng)
        self._verdict(path, "scan: forged", "counterfeit", allowed=(200, 429))

    @task(MIX["revoked"])
    def revoked_scan(self) -> None:
        self._verdict(self.rng.choice(STAMPS.revoked), "scan: revoked", "counterfeit", allowed=(200,))

    def _verdict(self, path: str, name: str, verdict: str, allowed: tuple[int, ...]) -> None:
        with self.client.get(
            path, headers=self.edge, name=name, allow_redirects=False, catch_response=True
        ) as response:
            body = response.content or b""
            if response.status_code not in allowed or f'data-verdict="{verdict}"'.encode() not in body:
                response.failure(f"expected the {verdict} page, got {response.status_code}")

    @task(MIX["trace"])
    def trace_page(self) -> None:
        if not self.pages:
            self._scan(STAMPS.popular(self.rng))  # a phone reaches a trace page by scanning first
            if not self.pages:
                return
        page = self.rng.choice(self.pages)
        with self.client.get(page, headers=self.edge, name="trace page", catch_response=True) as response:
            body = response.content or b""
            if response.status_code != 200 or b"data-verdict=" not in body:
                response.failure(f"expected the trace page, got {response.status_code}")
                return
        host = urlsplit(self.host or "").netloc
        for asset in sorted({m.group(1).decode("latin-1") for m in ASSET.finditer(body)}):
            parts = urlsplit(asset)
            if parts.netloc not in ("", host) or not parts.path.startswith("/"):
                continue  # same-host assets only: the page must not load anything from elsewhere
            path = f"{parts.path}?{parts.query}" if parts.query else parts.path
            self.client.get(path, headers=self.edge, name="trace asset")
