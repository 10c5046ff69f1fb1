"""Per-stamp scan state and the scan log: in process for the embedded default, Redis in production.

A judged scan is saved in one round trip (`save_judged`): a Lua script checks that the stamp's detection
memory is still the version the scan was judged from, stores the new memory, counts the scan in the stamp's
keys (all hash-tagged `{gtin:serial}`, one Redis Cluster slot) and appends the entry to the scan log stream.

The scan path (`save_judged`, `count_forged`) talks to Redis over one shared connection per process: the
commands of concurrent scans are written together, once per event-loop turn, and Redis answers them in
order, so a scan costs part of a write and a parsed reply, not a pooled connection and a client-side
pipeline object. Everything else (the stream reader of `tem worker`, histories, locations) goes through
redis-py.

On Redis Cluster (`TEM_REDIS_CLUSTER`) every command goes through redis-py's cluster client, which sends
each one to the node serving its key's slot: a stamp's script touches only that stamp's keys (one slot),
and the stream lives in another slot, so the entry is appended in a second command once the script has
stored the stamp's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from resolver.scans import Place, ScanEvent, StampHistory

hiredis: Any
try:  # redis[hiredis]: the C reply parser the shared connection needs; without it, redis-py pipelines
    import hiredis
except ImportError:  # pragma: no cover - hiredis is a dependency
    hiredis = None

log = logging.getLogger("tem.resolver")

STREAM_GROUP = "tem-workers"
CLAIM_EVERY_SECONDS = 5.0
TRICKLE_WAIT_SECONDS = 0.05


@dataclass(slots=True)
class Saved:
    """Judged scans offered to the store: `ok` when the stamp's memory was still the version they were judged
    from, and everything was stored (`version` is then the new one); otherwise nothing changed, and `version`
    and `memory` are the stamp's current ones to judge again from."""

    ok: bool
    version: int
    memory: bytes | None = None


_T_contra = TypeVar("_T_contra", contravariant=True)


class Outcome(Protocol[_T_contra]):
    """Where a request's outcome goes: an asyncio future, or the detector's batch, which takes it at once."""

    def done(self) -> bool: ...

    def set_result(self, result: _T_contra, /) -> None: ...

    def set_exception(self, exc: BaseException, /) -> None: ...

    def cancel(self) -> bool: ...


class ScanStore(Protocol):
    async def save_judged(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        """Entries of one stamp, judged in order from the memory at `version`: if the stamp is still at
        `version`, at once count each scan (entries of kind "scan"), append each entry to the scan log, and
        store `memory` (judged from the last) as the next version. Otherwise change nothing.
        `version` None: the entries were not judged (online detection is off): count and append them, and
        leave the stamp's memory as it is."""
        ...

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        """`save_judged` started now, from a callback: `done` gets its outcome. The scan path starts its saves
        from the judging round, so a scan's task wakes once, when the save is answered."""
        ...

    def hold_writes(self) -> None:
        """Saves started from now on wait for `write_held` instead of being written at the next turn of the
        event loop: the judging round starts all of its saves and writes them at once."""
        ...

    def write_held(self) -> None:
        """Writes what waited since `hold_writes` now, in one write, and writes as before again."""
        ...

    async def append_entry(self, event: ScanEvent) -> None:
        """Append an entry that is not a judged scan (a forged-scan burst) to the scan log."""
        ...

    async def load_memory(self, gtin: str, serial: int) -> tuple[int, bytes | None]:
        """The stamp's detection memory and its version (0 and None: never judged)."""
        ...

    async def store_memory(self, gtin: str, serial: int, version: int, memory: bytes) -> Saved:
        """Store `memory` as the next version if the stamp is still at `version`; otherwise change nothing and
        answer the current version and memory, as `save_judged` does."""
        ...

    async def history(self, gtin: str, serial: int) -> StampHistory: ...

    async def count_forged(self, network: str, window_seconds: int) -> int: ...

    async def confirm_pin(self, gtin: str, serial: int, correct: bool) -> tuple[int, int]:
        """Count a scratch-off PIN attempt; returns (correct confirmations, wrong attempts) so far."""
        ...

    async def attach_place(self, update: ScanEvent) -> None: ...

    async def read_log(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ScanEvent]]: ...

    async def ack_log(self, ids: Sequence[str]) -> None: ...

    async def log_length(self) -> int: ...

    async def close(self) -> None: ...


def settle_later(work: Coroutine[Any, Any, Saved], done: Outcome[Saved]) -> None:
    """Runs `work` as a task and hands its outcome to `done`: a save that cannot be started at once."""
    task = asyncio.get_running_loop().create_task(work)
    _in_flight.add(task)  # a task nobody references may be collected mid-flight

    def hand_over(finished: asyncio.Task[Saved]) -> None:
        _in_flight.discard(finished)
        if done.done():
            return
        if finished.cancelled():
            done.cancel()
        elif (exc := finished.exception()) is not None:
            done.set_exception(exc)
        else:
            done.set_result(finished.result())

    task.add_done_callback(hand_over)


_in_flight: set[asyncio.Task[Saved]] = set()


@dataclass
class _StampState:
    count: int = 0
    devices: set[str] = field(default_factory=set)
    first_at: float | None = None
    first_place: Place | None = None
    first_device: str | None = None
    recent: deque[Place] = field(default_factory=deque)
    pin_ok: int = 0
    pin_bad: int = 0
    memory: bytes | None = None
    version: int = 0


class MemoryScanStore:
    """The embedded default: state in a dict, the log in a deque drained by the in-process worker."""

    def __init__(self, places_kept: int = 10) -> None:
        self._stamps: dict[tuple[str, int], _StampState] = {}
        self._forged: dict[str, tuple[float, int]] = {}
        self._log: deque[tuple[str, ScanEvent]] = deque()
        self._pending: dict[str, ScanEvent] = {}
        self._next_id = 0
        self._places_kept = places_kept
        self._wakeup = asyncio.Event()

    def _snapshot(self, state: _StampState) -> StampHistory:
        return StampHistory(
            count=state.count,
            devices=len(state.devices),
            first_at=state.first_at,
            first_place=state.first_place,
            first_device=state.first_device,
            recent=tuple(state.recent),
        )

    def _append(self, event: ScanEvent) -> None:
        self._next_id += 1
        self._log.append((str(self._next_id), event))
        self._wakeup.set()

    def _swap_memory(self, state: _StampState, version: int, memory: bytes) -> Saved:
        if state.version != version:
            return Saved(False, state.version, state.memory)
        state.memory, state.version = memory, version + 1
        return Saved(True, state.version)

    async def save_judged(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        return self._save(events, version, memory)

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        try:
            done.set_result(self._save(events, version, memory))
        except Exception as exc:  # handed to the scan, as an awaited save would raise it
            done.set_exception(exc)

    def hold_writes(self) -> None:
        pass  # nothing is written: saves take effect at once

    def write_held(self) -> None:
        pass

    def _save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        state = self._stamps.setdefault((events[0].gtin, events[0].serial), _StampState())
        if version is not None and not (swapped := self._swap_memory(state, version, memory)).ok:
            return swapped
        for event in events:
            self._append(event)
            if event.kind != "scan":
                continue
            state.count += 1
            state.devices.add(event.device_id)
            if state.first_at is None:
                state.first_at, state.first_place, state.first_device = event.at, event.place, event.device_id
            if event.place is not None:
                state.recent.appendleft(event.place)
                while len(state.recent) > self._places_kept:
                    state.recent.pop()
        return Saved(True, state.version)

    async def append_entry(self, event: ScanEvent) -> None:
        self._append(event)

    async def load_memory(self, gtin: str, serial: int) -> tuple[int, bytes | None]:
        state = self._stamps.get((gtin, serial))
        return (state.version, state.memory) if state is not None else (0, None)

    async def store_memory(self, gtin: str, serial: int, version: int, memory: bytes) -> Saved:
        return self._swap_memory(self._stamps.setdefault((gtin, serial), _StampState()), version, memory)

    async def history(self, gtin: str, serial: int) -> StampHistory:
        state = self._stamps.get((gtin, serial))
        return self._snapshot(state) if state else StampHistory()

    async def confirm_pin(self, gtin: str, serial: int, correct: bool) -> tuple[int, int]:
        state = self._stamps.setdefault((gtin, serial), _StampState())
        if correct:
            state.pin_ok += 1
        else:
            state.pin_bad += 1
        return state.pin_ok, state.pin_bad

    async def count_forged(self, network: str, window_seconds: int) -> int:
        now = time.monotonic()
        start, count = self._forged.get(network, (now, 0))
        if now - start >= window_seconds:
            start, count = now, 0
        self._forged[network] = (start, count + 1)
        return count + 1

    async def attach_place(self, update: ScanEvent) -> None:
        state = self._stamps.get((update.gtin, update.serial))
        if state is not None and update.place is not None:
            state.recent.appendleft(update.place)
            while len(state.recent) > self._places_kept:
                state.recent.pop()
            if state.first_at == update.at:
                state.first_place = update.place
        self._append(update)

    async def read_log(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ScanEvent]]:
        if not self._log and block_ms > 0:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), block_ms / 1000)
            except TimeoutError:
                return []
        batch: list[tuple[str, ScanEvent]] = []
        while self._log and len(batch) < count:
            item = self._log.popleft()
            self._pending[item[0]] = item[1]
            batch.append(item)
        return batch

    async def ack_log(self, ids: Sequence[str]) -> None:
        for entry_id in ids:
            self._pending.pop(entry_id, None)

    async def requeue_unacked(self) -> None:
        """After a failed database write, the batch goes back to the front of the queue."""
        for entry_id, event in sorted(self._pending.items(), key=lambda kv: int(kv[0]), reverse=True):
            self._log.appendleft((entry_id, event))
        self._pending.clear()

    async def log_length(self) -> int:
        return len(self._log) + len(self._pending)

    async def close(self) -> None:
        return None


# Keys: {prefix}:{gtin:serial}:s (hash), :d (exact device set), :h (HyperLogLog), :p (recent places), and on
# one Redis the stream. The hash's `m` is detection's memory of the stamp and `v` its version: scans judged
# from version v are stored only if the stamp is still at v (otherwise the script answers the current memory,
# and they are judged again from it), so two scans at once never both judge from the same memory. An empty
# version means scans not judged (online detection off): counted and logged, the memory left as it is.
# ARGV: version, memory, exact devices kept, places kept, then per entry (none: the memory alone): device, time,
# place, entry, is a scan.
_SAVE_JUDGED = """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if ARGV[1] ~= '' then  -- judged scans: only from the memory they were judged with
  if v ~= tonumber(ARGV[1]) then return {0, v, redis.call('HGET', KEYS[1], 'm')} end
  v = v + 1
  redis.call('HSET', KEYS[1], 'm', ARGV[2], 'v', v)
end
local exact, kept = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 5, #ARGV, 5 do
  local device, at, place = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if KEYS[5] then redis.call('XADD', KEYS[5], '*', 'e', ARGV[i + 3]) end
  if ARGV[i + 4] == '1' then
    if redis.call('HINCRBY', KEYS[1], 'n', 1) == 1 then
      redis.call('HSET', KEYS[1], 'first_at', at, 'first_place', place, 'first_device', device)
    end
    if redis.call('HEXISTS', KEYS[1], 'hll') == 0 then
      redis.call('SADD', KEYS[2], device)
      if redis.call('SCARD', KEYS[2]) > exact then
        redis.call('PFADD', KEYS[3], unpack(redis.call('SMEMBERS', KEYS[2])))
        redis.call('DEL', KEYS[2])
        redis.call('HSET', KEYS[1], 'hll', 1)
      end
    else
      redis.call('PFADD', KEYS[3], device)
    end
    if place ~= '' then
      redis.call('LPUSH', KEYS[4], place)
      redis.call('LTRIM', KEYS[4], 0, kept - 1)
    end
  end
end
return {1, v}
"""

_HISTORY = """
local first = redis.call('HMGET', KEYS[1], 'n', 'first_at', 'first_place', 'first_device', 'hll')
local devices
if first[5] then devices = redis.call('PFCOUNT', KEYS[3]) else devices = redis.call('SCARD', KEYS[2]) end
return {first[1] or 0, devices, first[2], first[3], first[4], redis.call('LRANGE', KEYS[4], 0, -1)}
"""

_ATTACH = """
redis.call('LPUSH', KEYS[4], ARGV[1])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[2]) - 1)
if redis.call('HGET', KEYS[1], 'first_at') == ARGV[3] then redis.call('HSET', KEYS[1], 'first_place', ARGV[1]) end
return 1
"""


def _saved(reply: Any) -> Saved:
    if not reply[0]:
        return Saved(False, int(reply[1]), reply[2] or None)
    return Saved(True, int(reply[1]))


def _history(reply: list[Any]) -> StampHistory:
    count, devices, first_at, first_place, first_device, places = reply
    return StampHistory(
        count=int(count),
        devices=int(devices),
        first_at=float(first_at) if first_at else None,
        first_place=Place.from_json(first_place),
        first_device=first_device.decode() if isinstance(first_device, bytes) else first_device,
        recent=tuple(p for p in (Place.from_json(raw) for raw in places) if p is not None),
    )


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
            raise RedisConnectionError("the Redis connection is closed")
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
        error = RedisConnectionError(f"the Redis connection was lost: {exc or 'closed or timed out'}")
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
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
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
                        raise RedisConnectionError(f"Redis refused the connection: {reply}")
            self._protocol = protocol
            return protocol

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol.abort()
            self._protocol = None


class ClusterClient(RedisCluster):
    """redis-py's asyncio cluster client, connected before it routes a command.

    redis-py (8.1) picks a command's route before it connects: a command sent while the client has no slot
    map yet (the first commands of a process, or any sent just after the client dropped its connections
    to re-read the slot map) goes to a default node, draws MOVED, and every few MOVED replies the client
    closes all its connections, failing the commands in flight on them. Connecting first avoids that."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


def _raise_on_error(reply: Any) -> Any:
    if hiredis is not None and isinstance(reply, hiredis.ReplyError):
        raise ResponseError(str(reply))
    return reply


def _read_saved(
    protocol: _RespProtocol,
    keys: list[str],
    args: list[str | bytes | int],
    done: Outcome[Saved],
    replies: list[Any],
) -> Any:
    """A save's reply. A function, not a closure: a closure that sends itself again would be a reference
    cycle, left for the garbage collector, on every scan."""
    reply = replies[0]
    if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
        # Redis restarted or its script cache was flushed: EVAL loads it again.
        protocol.send(
            command("EVAL", _SAVE_JUDGED, 5, *keys, *args), 1, done, partial(_read_saved, protocol, keys, args, done)
        )
        return RESENT
    return _saved(_raise_on_error(reply))


class RedisScanStore:
    """Production: Redis (or Redis Cluster: every per-stamp key shares the `{gtin:serial}` hash tag)."""

    def __init__(self, client: Any, prefix: str = "tem", places_kept: int = 10, exact_devices: int = 32) -> None:
        self._redis = client
        self._cluster = isinstance(client, RedisCluster)
        self._prefix = prefix
        self._stream = f"{prefix}:scans"
        self._places_kept = places_kept
        self._exact_devices = exact_devices
        self._history = client.register_script(_HISTORY)
        self._attach = client.register_script(_ATTACH)
        self._save_judged = client.register_script(_SAVE_JUDGED)
        self._save_sha = hashlib.sha1(_SAVE_JUDGED.encode()).hexdigest()  # noqa: S324  # how Redis names a script
        self._shared = SharedConnection(client)
        self._group_ready = False
        self._next_claim = 0.0

    def _keys(self, gtin: str, serial: int) -> list[str]:
        tag = f"{self._prefix}:{{{gtin}:{serial}}}"
        return [f"{tag}:s", f"{tag}:d", f"{tag}:h", f"{tag}:p"]

    async def save_judged(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        keys, args, entries = self._save_args(events, version, memory)
        protocol = self._open()
        if protocol is None:
            return await self._save_slowly(keys, args, entries)
        done: asyncio.Future[Saved] = protocol.loop.create_future()
        self._send_save(protocol, keys, args, done)
        return await done

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        keys, args, entries = self._save_args(events, version, memory)
        protocol = self._open()
        if protocol is None:
            settle_later(self._save_slowly(keys, args, entries), done)
        else:
            self._send_save(protocol, keys, args, done)

    def _save_args(
        self, events: Sequence[ScanEvent], version: int | None, memory: bytes
    ) -> tuple[list[str], list[str | bytes | int], list[bytes]]:
        args: list[str | bytes | int] = [
            "" if version is None else version,
            memory,
            self._exact_devices,
            self._places_kept,
        ]
        entries = [event.to_json() for event in events]
        for event, entry in zip(events, entries, strict=True):
            place = event.place.to_json() if event.place else ""
            args += [event.device_id, repr(event.at), place, entry, "1" if event.kind == "scan" else "0"]
        keys = self._keys(events[0].gtin, events[0].serial)
        if not self._cluster:
            keys.append(self._stream)
        return keys, args, entries

    def hold_writes(self) -> None:
        protocol = self._open()
        if protocol is not None:
            protocol.held = True

    def write_held(self) -> None:
        protocol = self._open()
        if protocol is not None:
            protocol.write_held()

    def _open(self) -> _RespProtocol | None:
        """The shared connection, when a save can be written on it now."""
        return self._shared.open() if self._shared.supported else None

    def _send_save(
        self, protocol: _RespProtocol, keys: list[str], args: list[str | bytes | int], done: Outcome[Saved]
    ) -> None:
        payload = command("EVALSHA", self._save_sha, 5, *keys, *args)
        protocol.send(payload, 1, done, partial(_read_saved, protocol, keys, args, done))

    async def _save_slowly(self, keys: list[str], args: list[str | bytes | int], entries: list[bytes]) -> Saved:
        """On Redis Cluster; through redis-py without hiredis; or the save that opens the shared connection."""
        if self._cluster:
            return await self._save_on_cluster(keys, args, entries)
        if not self._shared.supported:
            return _saved(await self._save_judged(keys=keys, args=args))
        protocol = self._shared.open() or await self._shared.connect()
        done: asyncio.Future[Saved] = protocol.loop.create_future()
        self._send_save(protocol, keys, args, done)
        return await done

    async def _save_on_cluster(self, keys: list[str], args: list[str | bytes | int], entries: list[bytes]) -> Saved:
        # The stream hashes to another slot, maybe another node: the entries are appended once the stamp's
        # script has stored the memory they were judged with.
        saved = _saved(await self._save_judged(keys=keys, args=args))
        if saved.ok:
            for entry in entries:
                await self._redis.xadd(self._stream, {"e": entry})
        return saved

    async def append_entry(self, event: ScanEvent) -> None:
        await self._redis.xadd(self._stream, {"e": event.to_json()})

    async def load_memory(self, gtin: str, serial: int) -> tuple[int, bytes | None]:
        memory, version = await self._redis.hmget(self._keys(gtin, serial)[0], "m", "v")
        return int(version or 0), memory or None

    async def store_memory(self, gtin: str, serial: int, version: int, memory: bytes) -> Saved:
        # The save script with no entries: the version check and the memory, nothing counted or logged.
        args = [version, memory, self._exact_devices, self._places_kept]
        return _saved(await self._save_judged(keys=self._keys(gtin, serial), args=args))

    async def history(self, gtin: str, serial: int) -> StampHistory:
        return _history(await self._history(keys=self._keys(gtin, serial)))

    async def confirm_pin(self, gtin: str, serial: int, correct: bool) -> tuple[int, int]:
        key = self._keys(gtin, serial)[0]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "pin_ok" if correct else "pin_bad", 1)
            pipe.hmget(key, "pin_ok", "pin_bad")
            _, (ok, bad) = await pipe.execute()
        return int(ok or 0), int(bad or 0)

    async def count_forged(self, network: str, window_seconds: int) -> int:
        key = f"{self._prefix}:forged:{network}"
        if not self._shared.supported:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_seconds, nx=True)
                count, _ = await pipe.execute()
            return int(count)
        count, expiry = await self._shared.call(command("INCR", key) + command("EXPIRE", key, window_seconds, "NX"), 2)
        _raise_on_error(expiry)
        return int(_raise_on_error(count))

    async def attach_place(self, update: ScanEvent) -> None:
        assert update.place is not None
        args = [update.place.to_json(), self._places_kept, repr(update.at)]
        keys = self._keys(update.gtin, update.serial)
        if self._cluster:
            await asyncio.gather(
                self._attach(keys=keys, args=args), self._redis.xadd(self._stream, {"e": update.to_json()})
            )
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._attach(keys=keys, args=args, client=pipe)
            pipe.xadd(self._stream, {"e": update.to_json()})
            await pipe.execute()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._stream, STREAM_GROUP, id="0", mkstream=True)
        except Exception as exc:  # redis raises ResponseError BUSYGROUP when it exists
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def read_log(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ScanEvent]]:
        await self._ensure_group()
        entries: list[Any] = []
        now = time.monotonic()
        if now >= self._next_claim:
            # Entries a dead worker read but never acknowledged are taken over after a minute. Looked for
            # every few seconds, not on every read: it is a round trip, and under load reads come in the
            # hundreds per second. A full batch means there may be more: look again straight away.
            claimed = await self._redis.xautoclaim(
                self._stream, STREAM_GROUP, consumer, min_idle_time=60_000, start_id="0-0", count=count
            )
            entries = list(claimed[1]) if claimed and claimed[1] else []
            self._next_claim = now if len(entries) >= count else now + CLAIM_EVERY_SECONDS
        if not entries:
            entries = await self._read_new(consumer, count, block_ms)
            if block_ms and 0 < len(entries) < count // 4:
                # A trickle: take what arrives in the next moment too, so the database gets fewer, larger
                # batches (each batch costs a transaction and round trips, whatever its size).
                await asyncio.sleep(TRICKLE_WAIT_SECONDS)
                entries += await self._read_new(consumer, count - len(entries), 0)
        out = []
        for entry_id, fields in entries:
            if not fields:
                continue
            key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            out.append((key, ScanEvent.from_json(fields[b"e"] if b"e" in fields else fields["e"])))
        return out

    async def _read_new(self, consumer: str, count: int, block_ms: int) -> list[Any]:
        reply = await self._redis.xreadgroup(
            STREAM_GROUP, consumer, {self._stream: ">"}, count=count, block=block_ms or None
        )
        return [entry for _stream, stream_entries in reply or [] for entry in stream_entries]

    async def ack_log(self, ids: Sequence[str]) -> None:
        """Acknowledge, then delete: a written scan has no reason to stay in memory."""
        if ids:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(self._stream, STREAM_GROUP, *ids)
                pipe.xdel(self._stream, *ids)
                await pipe.execute()

    async def log_length(self) -> int:
        await self._ensure_group()
        info = await self._redis.xinfo_groups(self._stream)
        group = next((g for g in info if g["name"] in (STREAM_GROUP, STREAM_GROUP.encode())), None)
        if group is None:
            return 0
        lag = group.get("lag") or 0
        return int(lag) + int(group.get("pending") or 0)

    async def close(self) -> None:
        self._shared.close()
        await self._redis.aclose()
