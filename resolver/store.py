"""Per-stamp scan state and the scan log: in process for the embedded default, Redis in production.

Each `record` is one round trip: a Lua script updates the stamp's keys (all hash-tagged `{gtin:serial}`,
so they live in one Redis Cluster slot) and the same pipeline appends the scan to the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from resolver.scans import Place, ScanEvent, StampHistory

STREAM_GROUP = "tem-workers"


class ScanStore(Protocol):
    async def record(self, event: ScanEvent) -> StampHistory: ...

    async def history(self, gtin: str, serial: int) -> StampHistory: ...

    async def count_forged(self, network: str, window_seconds: int) -> int: ...

    async def attach_place(self, update: ScanEvent) -> None: ...

    async def read_log(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ScanEvent]]: ...

    async def ack_log(self, ids: Sequence[str]) -> None: ...

    async def log_length(self) -> int: ...

    async def close(self) -> None: ...


@dataclass
class _StampState:
    count: int = 0
    devices: set[str] = field(default_factory=set)
    first_at: float | None = None
    first_place: Place | None = None
    first_device: str | None = None
    recent: deque[Place] = field(default_factory=deque)


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

    async def record(self, event: ScanEvent) -> StampHistory:
        state = self._stamps.setdefault((event.gtin, event.serial), _StampState())
        state.count += 1
        state.devices.add(event.device_id)
        if state.first_at is None:
            state.first_at, state.first_place, state.first_device = event.at, event.place, event.device_id
        if event.place is not None:
            state.recent.appendleft(event.place)
            while len(state.recent) > self._places_kept:
                state.recent.pop()
        self._append(event)
        return self._snapshot(state)

    async def history(self, gtin: str, serial: int) -> StampHistory:
        state = self._stamps.get((gtin, serial))
        return self._snapshot(state) if state else StampHistory()

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


# Keys: {prefix}:{gtin:serial}:s (hash), :d (exact device set), :h (HyperLogLog), :p (recent places).
_RECORD = """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if n == 1 then
  redis.call('HSET', KEYS[1], 'first_at', ARGV[2], 'first_place', ARGV[3], 'first_device', ARGV[1])
end
local devices
if redis.call('HEXISTS', KEYS[1], 'hll') == 0 then
  redis.call('SADD', KEYS[2], ARGV[1])
  devices = redis.call('SCARD', KEYS[2])
  if devices > tonumber(ARGV[4]) then
    redis.call('PFADD', KEYS[3], unpack(redis.call('SMEMBERS', KEYS[2])))
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'hll', 1)
    devices = redis.call('PFCOUNT', KEYS[3])
  end
else
  redis.call('PFADD', KEYS[3], ARGV[1])
  devices = redis.call('PFCOUNT', KEYS[3])
end
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[3])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
end
local first = redis.call('HMGET', KEYS[1], 'first_at', 'first_place', 'first_device')
return {n, devices, first[1], first[2], first[3], redis.call('LRANGE', KEYS[4], 0, -1)}
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


class RedisScanStore:
    """Production: Redis (or Redis Cluster: every per-stamp key shares the `{gtin:serial}` hash tag)."""

    def __init__(self, client: Any, prefix: str = "tem", places_kept: int = 10, exact_devices: int = 32) -> None:
        self._redis = client
        self._prefix = prefix
        self._stream = f"{prefix}:scans"
        self._places_kept = places_kept
        self._exact_devices = exact_devices
        self._record = client.register_script(_RECORD)
        self._history = client.register_script(_HISTORY)
        self._attach = client.register_script(_ATTACH)
        self._group_ready = False

    def _keys(self, gtin: str, serial: int) -> list[str]:
        tag = f"{self._prefix}:{{{gtin}:{serial}}}"
        return [f"{tag}:s", f"{tag}:d", f"{tag}:h", f"{tag}:p"]

    async def record(self, event: ScanEvent) -> StampHistory:
        place = event.place.to_json() if event.place else ""
        args = [event.device_id, repr(event.at), place, self._exact_devices, self._places_kept]
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._record(keys=self._keys(event.gtin, event.serial), args=args, client=pipe)
            pipe.xadd(self._stream, {"e": event.to_json()})
            reply, _entry = await pipe.execute()
        return _history(reply)

    async def history(self, gtin: str, serial: int) -> StampHistory:
        return _history(await self._history(keys=self._keys(gtin, serial)))

    async def count_forged(self, network: str, window_seconds: int) -> int:
        key = f"{self._prefix}:forged:{network}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def attach_place(self, update: ScanEvent) -> None:
        assert update.place is not None
        args = [update.place.to_json(), self._places_kept, repr(update.at)]
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._attach(keys=self._keys(update.gtin, update.serial), args=args, client=pipe)
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
        # Entries a dead worker read but never acknowledged are taken over after a minute.
        claimed = await self._redis.xautoclaim(
            self._stream, STREAM_GROUP, consumer, min_idle_time=60_000, start_id="0-0", count=count
        )
        entries = list(claimed[1]) if claimed and claimed[1] else []
        if not entries:
            reply = await self._redis.xreadgroup(
                STREAM_GROUP, consumer, {self._stream: ">"}, count=count, block=block_ms or None
            )
            entries = [entry for _stream, stream_entries in reply or [] for entry in stream_entries]
        out = []
        for entry_id, fields in entries:
            if not fields:
                continue
            key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            out.append((key, ScanEvent.from_json(fields[b"e"] if b"e" in fields else fields["e"])))
        return out

    async def ack_log(self, ids: Sequence[str]) -> None:
        if ids:
            await self._redis.xack(self._stream, STREAM_GROUP, *ids)

    async def log_length(self) -> int:
        await self._ensure_group()
        info = await self._redis.xinfo_groups(self._stream)
        group = next((g for g in info if g["name"] in (STREAM_GROUP, STREAM_GROUP.encode())), None)
        if group is None:
            return 0
        lag = group.get("lag") or 0
        return int(lag) + int(group.get("pending") or 0)

    async def close(self) -> None:
        await self._redis.aclose()
