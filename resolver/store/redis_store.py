"""Production scan store: Redis (or Redis Cluster: every per-stamp key shares the `{gtin:serial}` hash tag).

A judged scan is saved in one round trip (`save_judged`): a Lua script checks that the stamp's detection
memory is still the version the scan was judged from, stores the new memory, counts the scan in the stamp's
keys (all hash-tagged `{gtin:serial}`, one Redis Cluster slot) and appends the entry to the scan log stream.
The scan path's commands go over the shared connection of `resolver.store.resp`; everything else through
redis-py.

On Redis Cluster (`TEM_REDIS_CLUSTER`) every command goes through redis-py's cluster client, which sends
each one to the node serving its key's slot: a stamp's script touches only that stamp's keys (one slot),
and the stream lives in another slot, so the entry is appended in a second command once the script has
stored the stamp's memory.

What the scan path and the worker call (`save_judged`, `start_save`, `count_forged`, `append_entry`,
`read_log`, `ack_log`) fails with `StoreUnavailable` (as `RedisUnavailable`, still a redis-py error).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from detection.engine.model import Place
from detection.ports import Outcome, Saved
from detection.scans import ScanEvent, StampHistory
from resolver.store.base import WORKER_REPORT_KEEP_SECONDS, StoreUnavailable, settle_later
from resolver.store.resp import (
    RESENT,
    SharedConnection,
    _raise_on_error,
    _RespProtocol,
    command,
    hiredis,
    unavailable,
)
from resolver.store.spool import OutageLog, ScanSpool
from tem.core.metrics import LogFigures

log = logging.getLogger("tem.resolver")

STREAM_GROUP = "tem-workers"
CLAIM_EVERY_SECONDS = 5.0
TRICKLE_WAIT_SECONDS = 0.05
OWN_AGAIN_SECONDS = 15.0


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


def _no_group(exc: ResponseError) -> bool:
    """Redis's answer when the stream or its group is gone (NOGROUP; XINFO's "no such key")."""
    text = str(exc)
    return text.startswith("NOGROUP") or "no such key" in text.lower()


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


class _Spooling:
    """A save's outcome, passed on; a save Redis failed is spooled (`ScanSpool`) and, once on disk, answered
    as saved: the scans keep the verdicts they were judged with, from the memory this process held."""

    __slots__ = ("events", "outcome", "spool", "version")

    def __init__(
        self, spool: ScanSpool, events: Sequence[ScanEvent], version: int | None, outcome: Outcome[Saved]
    ) -> None:
        self.spool = spool
        self.events = events
        self.version = version
        self.outcome = outcome

    def done(self) -> bool:
        return self.outcome.done()

    def set_result(self, saved: Saved) -> None:
        self.outcome.set_result(saved)

    def set_exception(self, exc: BaseException) -> None:
        if not isinstance(exc, OSError):  # StoreUnavailable is one; anything else is not Redis being away
            self.outcome.set_exception(exc)
            return
        self.spool.redis_down()
        self.spooled(exc)

    def spooled(self, exc: BaseException) -> None:
        _SPOOLED.note(type(exc).__name__)
        self.spool.add([event.to_json() for event in self.events], partial(self._spooled, exc))

    def _spooled(self, exc: BaseException, error: BaseException | None) -> None:
        if self.outcome.done():
            return
        if error is not None:  # the disk failed too: the scan is not recorded, and says so
            self.outcome.set_exception(exc)
        else:
            # The next save of this stamp is checked against Redis's version, which this one never raised:
            # it is judged again from Redis's memory then.
            self.outcome.set_result(Saved(True, (self.version or 0) + 1))

    def cancel(self) -> bool:
        return self.outcome.cancel()


_SPOOLED = OutageLog(log, "scan_spooled_redis_unavailable")
_DRAIN_FAILED = OutageLog(log, "scan_spool_drain_failed")


class RedisScanStore:
    """Production: Redis (or Redis Cluster: every per-stamp key shares the `{gtin:serial}` hash tag).

    With a `spool`, a save Redis fails is kept on local disk and answered (see `resolver.store.spool`);
    `drain_spool` pushes it back into the stream."""

    def __init__(
        self,
        client: Any,
        prefix: str = "tem",
        places_kept: int = 10,
        exact_devices: int = 32,
        spool: ScanSpool | None = None,
    ) -> None:
        self._redis = client
        self._cluster = isinstance(client, RedisCluster)
        self._prefix = prefix
        self._stream = f"{prefix}:scans"
        self._workers = f"{prefix}:workers"  # hash: worker name -> its published figures (`publish_worker`)
        self._places_kept = places_kept
        self._exact_devices = exact_devices
        self._history = client.register_script(_HISTORY)
        self._attach = client.register_script(_ATTACH)
        self._save_judged = client.register_script(_SAVE_JUDGED)
        self._save_sha = hashlib.sha1(_SAVE_JUDGED.encode()).hexdigest()  # noqa: S324  # how Redis names a script
        self._shared = SharedConnection(client)
        self._group_ready = False
        self._own_read: set[str] = set()  # consumers whose own pending entries were read again (`_read_own`)
        self._own_again_until = 0.0  # after a failed read, until then: see `read_log`
        self.spool = spool
        self._next_claim = 0.0

    def _keys(self, gtin: str, serial: int) -> list[str]:
        tag = f"{self._prefix}:{{{gtin}:{serial}}}"
        return [f"{tag}:s", f"{tag}:d", f"{tag}:h", f"{tag}:p"]

    async def save_judged(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        if self.spool is not None:
            done: asyncio.Future[Saved] = asyncio.get_running_loop().create_future()
            self.start_save(events, version, memory, done)
            return await done
        keys, args, entries = self._save_args(events, version, memory)
        protocol = self._open()
        if protocol is None:
            return await self._save_slowly(keys, args, entries)
        done = protocol.loop.create_future()
        self._send_save(protocol, keys, args, done)
        return await done

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        spool = self.spool
        if spool is not None:
            done = _Spooling(spool, events, version, done)
            if spool.down_until > time.monotonic():  # Redis failed a moment ago: straight to the spool
                done.spooled(ConnectionError("Redis failed a save a moment ago"))
                return
        keys, args, entries = self._save_args(events, version, memory)
        protocol = self._open()
        if protocol is None:
            settle_later(self._save_slowly(keys, args, entries), done)
            return
        try:
            self._send_save(protocol, keys, args, done)
        except OSError as exc:  # the connection closed meanwhile
            if spool is None:
                raise
            done.set_exception(exc)

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
        try:
            if self._cluster:
                return await self._save_on_cluster(keys, args, entries)
            if not self._shared.supported:
                return _saved(await self._save_judged(keys=keys, args=args))
            protocol = self._shared.open() or await self._shared.connect()
            done: asyncio.Future[Saved] = protocol.loop.create_future()
            self._send_save(protocol, keys, args, done)
            return await done
        except StoreUnavailable:
            raise
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

    async def _save_on_cluster(self, keys: list[str], args: list[str | bytes | int], entries: list[bytes]) -> Saved:
        # The stream hashes to another slot, maybe another node: the entries are appended once the stamp's
        # script has stored the memory they were judged with.
        saved = _saved(await self._save_judged(keys=keys, args=args))
        if saved.ok:
            for entry in entries:
                await self._redis.xadd(self._stream, {"e": entry})
        return saved

    async def append_entry(self, event: ScanEvent) -> None:
        try:
            await self._redis.xadd(self._stream, {"e": event.to_json()})
        except (RedisError, OSError) as exc:
            if self.spool is not None:
                _SPOOLED.note(type(exc).__name__)
                await self.spool.append([event.to_json()])
                return
            if isinstance(exc, StoreUnavailable):
                raise
            raise unavailable(exc) from exc

    async def push_spooled(self, entries: list[bytes]) -> None:
        """Spooled entries into the stream, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.xadd(self._stream, {"e": entry})
            await pipe.execute()

    async def drain_spool(self) -> int:
        """Spooled entries (this process's, and those of processes gone) back into the stream. Returns how many;
        0 when Redis is still away (they wait for the next round)."""
        spool = self.spool
        if spool is None or not spool.pending():
            return 0
        try:
            pushed = await spool.drain(self.push_spooled)
        except (RedisError, OSError) as exc:
            _DRAIN_FAILED.note(type(exc).__name__)
            return 0
        if pushed:
            _SPOOLED.over()
            _DRAIN_FAILED.over()
            log.warning("scan_spool_drained entries=%s", pushed)
        return pushed

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
        try:
            if not self._shared.supported:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, window_seconds, nx=True)
                    count, _ = await pipe.execute()
                return int(count)
            count, expiry = await self._shared.call(
                command("INCR", key) + command("EXPIRE", key, window_seconds, "NX"), 2
            )
            _raise_on_error(expiry)
            return int(_raise_on_error(count))
        except StoreUnavailable:
            raise
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

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

    async def _ensure_group(self, again: bool = False) -> None:
        """The stream's consumer group (and the stream), made if missing. `again`: Redis answered NOGROUP (it
        restarted empty, or the stream was deleted): made again, whatever this process remembers."""
        if again:
            log.warning("scan_log_group_missing stream=%s: making it again", self._stream)
            self._group_ready = False
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._stream, STREAM_GROUP, id="0", mkstream=True)
        except Exception as exc:  # redis raises ResponseError BUSYGROUP when it exists
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def read_log(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ScanEvent]]:
        try:
            try:
                return await self._read_log(consumer, count, block_ms)
            except ResponseError as exc:
                if not _no_group(exc):
                    raise
                await self._ensure_group(again=True)
                return await self._read_log(consumer, count, block_ms)
        except (RedisError, OSError) as exc:
            # A read that timed out may still be done by Redis (a frozen Redis resumes and answers a connection
            # closed meanwhile): its entries are then pending for this consumer, never delivered again as new.
            # For a while, each read first takes this consumer's pending entries back.
            self._own_again_until = time.monotonic() + OWN_AGAIN_SECONDS
            if isinstance(exc, StoreUnavailable):
                raise
            raise unavailable(exc) from exc

    async def _read_log(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ScanEvent]]:
        await self._ensure_group()
        entries: list[Any] = []
        now = time.monotonic()
        if consumer not in self._own_read or now < self._own_again_until:
            entries = await self._read_own(consumer, count)
        if not entries and now >= self._next_claim:
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

    async def _read_own(self, consumer: str, count: int) -> list[Any]:
        """A worker starting again under its name (`tem-worker@1` is always HOST-1) first takes back what it had read
        and not acknowledged when it died, at once rather than after XAUTOCLAIM's minute. Entries deleted meanwhile
        come back without fields: they are acknowledged and dropped."""
        reply = await self._redis.xreadgroup(STREAM_GROUP, consumer, {self._stream: "0"}, count=count)
        own = [entry for _stream, stream_entries in reply or [] for entry in stream_entries]
        gone = [entry_id for entry_id, fields in own if not fields]
        if gone:
            await self._redis.xack(self._stream, STREAM_GROUP, *gone)
        kept = [entry for entry in own if entry[1]]
        if not own:
            self._own_read.add(consumer)
        return kept

    async def _read_new(self, consumer: str, count: int, block_ms: int) -> list[Any]:
        reply = await self._redis.xreadgroup(
            STREAM_GROUP, consumer, {self._stream: ">"}, count=count, block=block_ms or None
        )
        return [entry for _stream, stream_entries in reply or [] for entry in stream_entries]

    async def ack_log(self, ids: Sequence[str]) -> None:
        """Acknowledge, then delete: a written scan has no reason to stay in memory."""
        try:
            if ids:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.xack(self._stream, STREAM_GROUP, *ids)
                    pipe.xdel(self._stream, *ids)
                    await pipe.execute()
        except StoreUnavailable:
            raise
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

    async def _groups(self) -> Any:
        await self._ensure_group()
        try:
            return await self._redis.xinfo_groups(self._stream)
        except ResponseError as exc:  # "no such key": Redis restarted empty
            if not _no_group(exc):
                raise
            await self._ensure_group(again=True)
            return await self._redis.xinfo_groups(self._stream)

    async def log_length(self) -> int:
        info = await self._groups()
        group = next((g for g in info if g["name"] in (STREAM_GROUP, STREAM_GROUP.encode())), None)
        if group is None:
            return 0
        lag = group.get("lag") or 0
        return int(lag) + int(group.get("pending") or 0)

    async def log_figures(self) -> LogFigures:
        info = await self._groups()
        length = int(await self._redis.xlen(self._stream))
        group = next((g for g in info if g["name"] in (STREAM_GROUP, STREAM_GROUP.encode())), None)
        pending = int(group.get("pending") or 0) if group is not None else 0
        lag = group.get("lag") if group is not None else length
        # Redis cannot always tell the lag (entries deleted past the group's position): what is held and not
        # pending is undelivered, as acknowledged entries are deleted.
        undelivered = int(lag) if lag is not None else max(0, length - pending)
        oldest = await self._redis.xrange(self._stream, count=1)
        oldest_at = None
        if oldest:
            entry_id = oldest[0][0]
            text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            oldest_at = int(text.split("-")[0]) / 1000  # a stream id starts with its time in milliseconds
        return LogFigures(length, undelivered, pending, oldest_at)

    async def publish_worker(self, worker: str, exposition: bytes) -> None:
        report = json.dumps({"at": time.time(), "text": exposition.decode()})
        try:
            await self._redis.hset(self._workers, worker, report)
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

    async def worker_reports(self) -> dict[str, tuple[float, bytes]]:
        reports: dict[str, tuple[float, bytes]] = {}
        gone = []
        cutoff = time.time() - WORKER_REPORT_KEEP_SECONDS
        for name, raw in (await self._redis.hgetall(self._workers)).items():
            worker = name.decode() if isinstance(name, bytes) else str(name)
            try:
                report = json.loads(raw)
                at, text = float(report["at"]), str(report["text"]).encode()
            except (ValueError, KeyError, TypeError):
                gone.append(worker)
                continue
            if at < cutoff:
                gone.append(worker)
            else:
                reports[worker] = (at, text)
        if gone:
            await self._redis.hdel(self._workers, *gone)
        return reports

    async def close(self) -> None:
        if self.spool is not None:
            await self.drain_spool()
            self.spool.close()
        self._shared.close()
        await self._redis.aclose()
