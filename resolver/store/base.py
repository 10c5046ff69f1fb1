"""What the resolver needs of a scan store (`ScanStore`), what a save answers (`Saved`) and where its outcome
goes (`Outcome`), and the one error a store raises when it cannot do its work (`StoreUnavailable`).

Nothing here imports redis: the scan path depends on this module, not on the stores behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from detection.ports import MemoryStore, Outcome, Saved
from detection.scans import ScanEvent, StampHistory
from tem.core.metrics import LogFigures

#: A worker's published figures are dropped this long after its last report (a worker that is gone for good).
WORKER_REPORT_KEEP_SECONDS = 7 * 24 * 3600


class StoreUnavailable(OSError):
    """The scan store (Redis) cannot be reached, or cannot do what it was asked: the scan cannot be recorded,
    and the person is asked to try again.

    An OSError, as a network failure is: code that catches OSError for an unreachable service (the worker's
    `except (RedisError, OSError)`) catches it too. The Redis stores raise it as `RedisUnavailable`
    (`resolver.store.resp`), which is also a redis-py `RedisError`, as the errors it replaces were."""


class ScanStore(MemoryStore, Protocol):
    """Detection's `MemoryStore`, and the scan log, stamp histories and counters around it."""

    async def append_entry(self, event: ScanEvent) -> None:
        """Append an entry that is not a judged scan (a forged-scan burst) to the scan log."""
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

    async def log_figures(self) -> LogFigures:
        """The scan log's length, lag and oldest entry, for /metrics."""
        ...

    async def publish_worker(self, worker: str, exposition: bytes) -> None:
        """Keep a worker process's figures (the Prometheus text format) where /metrics of `tem serve` reads them."""
        ...

    async def worker_reports(self) -> dict[str, tuple[float, bytes]]:
        """Each worker's last published figures: name -> (Unix time published, text)."""
        ...

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
