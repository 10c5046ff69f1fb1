"""Failed authentication is throttled per client network: a /24 for IPv4, a /64 for IPv6.

A request that tries to authenticate (it carries an `Authorization` header or a session cookie, or it posts to a
login form) and is answered 401 counts as a failure of its network. After `limit` failures within a window of
`window` seconds, every such request from that network gets 429 with `Retry-After` until the window ends, even one
with a good token: a guesser cannot tell a hit from a miss, and an office behind one address waits at most a
minute. Requests that authenticate nothing (scans, public pages) are never throttled.

The counts are kept in this process's memory (each `tem serve` instance counts its own). The client address is
the one the ASGI server gives, after the trusted proxy's rewrite.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Login forms and the exchange of a token for a session: a POST to these paths tries to authenticate.
LOGIN_PATHS = frozenset({"/ministry/login", "/inspect/api/login", "/inspect/login", "/portal/login"})
SESSION_COOKIES = ("tem_inspect=", "tem_portal=")
MAX_NETWORKS = 100_000


def network_of(host: str | None) -> str:
    """The /24 (IPv4) or /64 (IPv6) a client address belongs to; anything else is taken as it is."""
    if not host:
        return "-"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class FailureCounter:
    """Failures per network in fixed windows, in memory. Thread-safe."""

    def __init__(self, limit: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def retry_after(self, network: str) -> int | None:
        """Seconds to wait when the network has failed more than `limit` times in its window; else None."""
        now = self._clock()
        with self._lock:
            start, count = self._counts.get(network, (now, 0))
        if now - start >= self.window or count <= self.limit:
            return None
        return max(1, math.ceil(start + self.window - now))

    def failed(self, network: str) -> None:
        now = self._clock()
        with self._lock:
            start, count = self._counts.get(network, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._counts[network] = (start, count + 1)
            if len(self._counts) > MAX_NETWORKS:
                stale = [key for key, (begun, _) in self._counts.items() if now - begun >= self.window]
                for key in stale or list(self._counts)[: MAX_NETWORKS // 10]:
                    del self._counts[key]


def _authenticates(scope: Scope) -> bool:
    headers = {name.lower(): value for name, value in scope.get("headers", ())}
    if b"authorization" in headers:
        return True
    cookie = headers.get(b"cookie", b"").decode("latin-1")
    if any(name in cookie for name in SESSION_COOKIES):
        return True
    return scope.get("method") == "POST" and scope.get("path") in LOGIN_PATHS


class AuthThrottle:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp, limit: int = 20, window: float = 60.0) -> None:
        self.app = app
        self.counter = FailureCounter(limit, window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _authenticates(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        network = network_of(client[0] if client else None)
        wait = self.counter.retry_after(network)
        if wait is not None:
            await _too_many(send, wait)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.counter.failed(network)
            await send(message)

        await self.app(scope, receive, watch)


async def _too_many(send: Send, wait: int) -> None:
    message = f"too many failed logins from your network; try again in {wait} s"
    body = json.dumps({"error": {"message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(wait).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
