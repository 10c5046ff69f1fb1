"""The client behind a trusted proxy: `X-Forwarded-For` and `X-Forwarded-Proto` count only from one.

uvicorn's own proxy handling stays off (`tem serve` passes `proxy_headers=False`): it would believe any peer in
its `forwarded_allow_ips`, and a local proxy that passes a client's header through would then give every forged
request a fresh address. This middleware believes the headers only when the socket peer is in
`TEM_TRUSTED_PROXIES` (loopback by default, so nginx on the same host keeps working), and then takes the last
address of `X-Forwarded-For`, the one the proxy itself saw. From any other peer the headers are ignored.

The socket peer is kept in the scope as `tem.peer`: the resolver's edge headers are believed by that, not by
the rewritten client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from resolver.location import PEER, Network, from_proxy

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TrustedProxies:
    """ASGI middleware: the client address (and scheme) a trusted proxy forwards, else the socket peer's."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = str(client[0]) if client else None
            scope[PEER] = peer
            if from_proxy(peer, self.trusted):
                forwarded_for = forwarded_proto = None
                for name, value in scope.get("headers", ()):
                    if name == b"x-forwarded-for":
                        forwarded_for = value
                    elif name == b"x-forwarded-proto":
                        forwarded_proto = value
                if forwarded_for is not None and (address := _last_address(forwarded_for)) is not None:
                    scope["client"] = (address, 0)
                if forwarded_proto is not None and forwarded_proto.strip().lower() in (b"http", b"https"):
                    scope["scheme"] = forwarded_proto.strip().lower().decode()
        await self.app(scope, receive, send)


def _last_address(value: bytes) -> str | None:
    """The last hop of an X-Forwarded-For list: the address the trusted proxy saw; None when it is no address."""
    text = value.decode("latin-1").rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
