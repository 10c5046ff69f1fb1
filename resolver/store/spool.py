"""The scan spool: scans Redis refused, kept in a local file until Redis takes them again.

When a save to Redis fails (Redis down, frozen past the timeout, refusing writes), `tem serve` still answers
the verdict it judged from what it holds in memory (the registry, the stamp memories it last saw), and the
scan log entries go here instead of to the stream: appended to this process's file under
`TEM_HOME/spool/` (created 0600, in a 0700 directory), and fsync'd before the scan is answered, once per
event-loop turn for every scan failed in that turn. Every second the spool is drained: each file no live
process holds (this process's own, and those a killed process left) is appended to the stream and removed.
A file drained twice (a crash between the push and the removal) gives entries twice; `tem worker` writes
a scan id once (`ON CONFLICT DO NOTHING`), so that is harmless.

A process holds an exclusive `flock` on the file it appends to, so another process never drains it under it.
The last line of a file a crash interrupted mid-write may be torn: it was never fsync'd, so never answered,
and it is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

log = logging.getLogger("tem.resolver")

#: After a failed save, scans go straight to the spool for this long, instead of each waiting to fail.
DOWN_SECONDS = 1.0
#: How often the spool is drained, and how many entries go to Redis per round trip.
DRAIN_SECONDS = 1.0
DRAIN_CHUNK = 500
#: During an outage, one log line per this many seconds (with a count), not one per scan.
OUTAGE_LOG_SECONDS = 10.0

Push = Callable[[list[bytes]], Awaitable[None]]


class OutageLog:
    """Rate-limited logging of a failure that repeats during an outage: the first occurrence at once, then at
    most one line per `every` seconds, each with the count since the line before."""

    def __init__(self, logger: logging.Logger, event: str, every: float = OUTAGE_LOG_SECONDS) -> None:
        self._logger = logger
        self._event = event
        self._every = every
        self._count = 0
        self._next = 0.0

    def note(self, error: str, level: int = logging.WARNING) -> None:
        self._count += 1
        now = time.monotonic()
        if now >= self._next:
            self._logger.log(level, "%s error=%s count=%s", self._event, error, self._count)
            self._count = 0
            self._next = now + self._every

    def over(self) -> None:
        """The outage is over: what was counted since the last line is logged, once."""
        if self._count:
            self._logger.warning("%s count=%s (until recovery)", self._event, self._count)
            self._count = 0
        self._next = 0.0


class ScanSpool:
    """This process's spool of scan log entries (`ScanEvent.to_json()`, one per line) under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.spooled = 0  # entries appended by this process
        self.drained = 0  # entries pushed back by this process
        self.down_until = 0.0  # time.monotonic(): until then, saves go straight here
        self._fd: int | None = None
        self._path: Path | None = None
        self._held: list[tuple[int, Path]] = []  # files being drained, still locked
        self._buffer: list[bytes] = []
        self._waiting: list[Callable[[BaseException | None], None]] = []
        self._scheduled = False

    def redis_down(self) -> None:
        self.down_until = time.monotonic() + DOWN_SECONDS

    def add(self, entries: Sequence[bytes], then: Callable[[BaseException | None], None]) -> None:
        """Appends `entries` at the end of this event-loop turn, with every other entry of the turn, in one
        write and one fsync; then calls `then` (with the OSError if the disk failed too)."""
        self._buffer.extend(entries)
        self._waiting.append(then)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def append(self, entries: Sequence[bytes]) -> None:
        """`add`, awaited."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None) -> None:
            if not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

        self.add(entries, settle)
        await done

    def _flush(self) -> None:
        self._scheduled = False
        lines, self._buffer = self._buffer, []
        waiting, self._waiting = self._waiting, []
        error: BaseException | None = None
        try:
            self.write(lines)
        except OSError as exc:
            log.error("scan_spool_write_failed error=%s", exc)
            error = exc
        for then in waiting:
            then(error)

    def write(self, entries: Sequence[bytes]) -> None:
        """Appended and on disk (fsync'd) when this returns."""
        if not entries:
            return
        fd = self._open()
        data = memoryview(b"".join(entry + b"\n" for entry in entries))
        while data:
            written = os.write(fd, data)
            data = data[written:]
        os.fsync(fd)
        self.spooled += len(entries)

    def _open(self) -> int:
        if self._fd is None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.directory / f"scans-{os.getpid()}-{secrets.token_hex(4)}.spool"
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            fd = os.open(path, flags, 0o600)
            os.fchmod(fd, 0o600)  # whatever the umask
            fcntl.flock(fd, fcntl.LOCK_EX)
            _fsync_directory(self.directory)  # the file's name survives a crash too
            self._fd, self._path = fd, path
        return self._fd

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("scans-*.spool")) if self.directory.is_dir() else []

    def pending(self) -> bool:
        return bool(self._fd is not None or self._held or self.files())

    async def drain(self, push: Push, chunk: int = DRAIN_CHUNK) -> int:
        """Pushes every file no live process holds (this process's own included) and removes it. A push
        that fails leaves the file (and the rest) for the next round. Returns the entries pushed."""
        if self._fd is not None:  # this process's file: new entries go to a new one from now on
            assert self._path is not None
            self._held.append((self._fd, self._path))
            self._fd = self._path = None
        mine = {path for _fd, path in self._held}
        for path in self.files():
            if path in mine:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live process appends to it
                os.close(fd)
                continue
            if os.fstat(fd).st_nlink == 0:  # drained and removed by another process meanwhile
                os.close(fd)
                continue
            self._held.append((fd, path))
        pushed = 0
        while self._held:
            fd, path = self._held[0]
            pushed += await _push_file(path, push, chunk)
            path.unlink(missing_ok=True)
            os.close(fd)
            self._held.pop(0)
        if pushed:
            _fsync_directory(self.directory)
            self.drained += pushed
        return pushed

    def close(self) -> None:
        for fd in [self._fd, *(fd for fd, _path in self._held)]:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd, self._path, self._held = None, None, []


async def _push_file(path: Path, push: Push, chunk: int) -> int:
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1]:  # a torn last line: never fsync'd, so never answered
        log.warning("scan_spool_torn_line path=%s bytes=%s", path.name, len(lines[-1]))
    entries = [line for line in lines[:-1] if line]
    for start in range(0, len(entries), chunk):
        await push(entries[start : start + chunk])
    return len(entries)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
