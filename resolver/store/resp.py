"""The scan path's Redis client: a hand-written RESP2 client on one shared connection per process.

The scan path (`save_judged`, `count_forged`) talks to Redis over one shared connection per process: the
commands of concurrent scans are written together, once per event-loop turn, and Redis answers them in
order, so a scan costs part of a write and a parsed reply, not a pooled connection and a client-side
pipeline object. Everything else (the stream reader of `tem worker`, histories, locations) goes through
redis-py.

Its failures are `StoreUnavailable` (the scan path catches that) and still the redis-py errors they were
before (`RedisUnavailable` and its two kinds below), so code that catches redis-py's errors catches them too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from detection.ports import Outcome
from resolver.store.base import StoreUnavailable
from tem.core import metrics

hiredis: Any
try:  # redis[hiredis]: the C reply parser the shared connection needs; without it, redis-py pipelines
    import hiredis
except ImportError:  # pragma: no cover - hiredis is a dependency
    hiredis = None

log = logging.getLogger("tem.resolver")


class RedisUnavailable(RedisError, StoreUnavailable):
    """`StoreUnavailable` as the Redis stores raise it: also a redis-py `RedisError`, as the error it replaces
    was, so what catches redis-py's errors (the web app's 503 handler, the worker) catches it as before. The
    error of redis-py (or the OSError) it replaces is its `__cause__`."""


class ConnectionLost(RedisConnectionError, RedisUnavailable):
    """The shared connection could not be opened, was refused, lost, closed or timed out."""


class ErrorReply(ResponseError, RedisUnavailable):
    """Redis answered a request of the shared connection with an error."""


def unavailable(exc: BaseException) -> RedisUnavailable:
    """What a Redis store raises, `from exc`, when redis-py (or the network) failed it."""
    metrics.REDIS_CLIENT_ERRORS.inc()
    return RedisUnavailable(f"{type(exc).__name__}: {exc}")


def command(*args: str | bytes | int) -> bytes:
    """One command in the Redis protocol (RESP2), ready to write; packed by hiredis in C, which the shared
    connection needs anyway (a save has about twenty arguments, several microseconds in Python)."""
    packed: bytes = hiredis.pack_command(args)
    return packed


RESENT = object()  # what a reader answers when it sent its request again


def _settle(future: Outcome[Any], read: Callable[[list[Any]], Any] | None, replies: list[Any]) -> None:
    if read is None:
        future.set_result(replies)
        return
    try:
        result = read(replies)
    except Exception as exc:  # this request's failure (a Redis error reply), not the connection's
        future.set_exception(exc)
        return
    if result is not RESENT:
        future.set_result(result)


class _RespProtocol(asyncio.Protocol):
    """One Redis connection. Requests are written as they come; replies, which Redis sends in order, are
    handed back in order. A request is a group of commands written together and answered together."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.closed = False
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        # [future, replies still expected, replies so far, when it was sent, what makes the result of them]
        self._pending: deque[list[Any]] = deque()
        self._unsent: list[bytes] = []  # requests of this event-loop turn, written together at its end
        self.held = False  # requests wait for `write_held`, not for the next turn
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        self._watchdog = self.loop.call_later(1.0, self._watch)

    def send(
        self,
        payload: bytes,
        replies: int,
        future: Outcome[Any],
        read: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        """`future` gets the replies, or what `read` makes of them; `read` may send the request again, with the
        same future, and answer `RESENT`."""
        if self.closed or self._transport is None:
            metrics.REDIS_LOST.inc()
            raise ConnectionLost("the Redis connection is closed")
        self._pending.append([future, replies, [], time.monotonic(), read])
        if not self._unsent and not self.held:
            self.loop.call_soon(self._flush)
        self._unsent.append(payload)

    def write_held(self) -> None:
        self.held = False
        if self._unsent:
            self._flush()

    def request(self, payload: bytes, replies: int) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        self.send(payload, replies, future)
        return future

    def _flush(self) -> None:
        """One write (one system call) for every request made in this turn of the event loop: under load,
        the scans of one turn are many."""
        unsent, self._unsent = self._unsent, []
        if self._transport is not None and not self.closed:
            self._transport.write(b"".join(unsent))

    def data_received(self, data: bytes) -> None:
        try:
            self._reader.feed(data)
            pending = self._pending
            while (reply := self._reader.gets()) is not False:
                entry = pending[0]
                entry[2].append(reply)
                entry[1] -= 1
                if entry[1] == 0:
                    pending.popleft()
                    if not entry[0].done():
                        _settle(entry[0], entry[4], entry[2])
        except Exception as exc:  # a reply that cannot be parsed or matched: this connection is done
            log.error("redis_protocol_error %s", exc)
            self.abort()

    def _watch(self) -> None:
        """A request unanswered for longer than the timeout means Redis is stuck: drop the connection, so
        every waiting scan fails now instead of hanging."""
        if self.closed:
            return
        if self._pending and time.monotonic() - self._pending[0][3] > self._timeout:
            log.error("redis_timeout pending=%s", len(self._pending))
            self.abort()
            return
        self._watchdog = self.loop.call_later(1.0, self._watch)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        else:
            self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        error = ConnectionLost(f"the Redis connection was lost: {exc or 'closed or timed out'}")
        if self._pending:  # each request waiting on the connection is a failed round trip
            metrics.REDIS_LOST.inc(len(self._pending))
        while self._pending:
            future = self._pending.popleft()[0]
            if not future.done():
                future.set_exception(error)


class SharedConnection:
    """The scan path's connection to Redis: one per process and event loop, opened on first use with the
    same address, credentials and database as the redis-py client, reopened after a failure."""

    def __init__(self, client: Any, timeout: float = 5.0) -> None:
        self._protocol: _RespProtocol | None = None
        self._lock: asyncio.Lock | None = None
        if isinstance(client, RedisCluster):
            # One connection reaches one node, and a cluster spreads the stamps over all of them: the
            # cluster client sends every command to its slot's node instead.
            self.supported = False
            return
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        self._path: str | None = kwargs.get("path")
        self._host: str = kwargs.get("host", "localhost")
        self._port: int = int(kwargs.get("port", 6379))
        self._db = int(kwargs.get("db") or 0)
        self._username: str | None = kwargs.get("username")
        self._password: str | None = kwargs.get("password")
        self._connect_timeout = float(kwargs.get("socket_connect_timeout") or timeout)
        self._timeout = float(kwargs.get("socket_timeout") or timeout)
        # Plain TCP and Unix sockets; anything else (TLS) stays on redis-py.
        self.supported = hiredis is not None and pool.connection_class.__name__ in (
            "Connection",
            "UnixDomainSocketConnection",
        )

    async def call(self, payload: bytes, replies: int) -> list[Any]:
        protocol = self.open() or await self.connect()
        replies_: list[Any] = await protocol.request(payload, replies)
        return replies_

    def open(self) -> _RespProtocol | None:
        """The connection, when it is open in this event loop (None: `connect` first)."""
        protocol = self._protocol
        if protocol is None or protocol.closed or protocol.loop is not asyncio.get_running_loop():
            return None
        return protocol

    async def connect(self) -> _RespProtocol:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._protocol is None or self._protocol.loop is not loop:
            self._lock = asyncio.Lock()
        async with self._lock:
            current = self._protocol
            if current is not None and not current.closed and current.loop is loop:
                return current  # another scan opened it while this one waited
            if current is not None and current.loop is not loop:
                current.abort()  # a connection made in another event loop (tests): never shared
            try:
                if self._path:
                    connecting = loop.create_unix_connection(lambda: _RespProtocol(loop, self._timeout), self._path)
                else:
                    connecting = loop.create_connection(
                        lambda: _RespProtocol(loop, self._timeout), self._host, self._port
                    )
                _transport, protocol = await asyncio.wait_for(connecting, self._connect_timeout)
            except (OSError, TimeoutError) as exc:
                metrics.REDIS_CONNECT_ERRORS.inc()
                raise ConnectionLost(f"cannot connect to Redis: {exc}") from exc
            hello = b""
            count = 0
            if self._password:
                auth = (self._username, self._password) if self._username else (self._password,)
                hello += command("AUTH", *auth)
                count += 1
            if self._db:
                hello += command("SELECT", self._db)
                count += 1
            if count:
                for reply in await asyncio.wait_for(protocol.request(hello, count), self._timeout):
                    if isinstance(reply, hiredis.ReplyError):
                        protocol.abort()
                        metrics.REDIS_CONNECT_ERRORS.inc()
                        raise ConnectionLost(f"Redis refused the connection: {reply}")
            self._protocol = protocol
            return protocol

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol.abort()
            self._protocol = None


def _raise_on_error(reply: Any) -> Any:
    if hiredis is not None and isinstance(reply, hiredis.ReplyError):
        metrics.REDIS_ERROR_REPLIES.inc()
        raise ErrorReply(str(reply))
    return reply
