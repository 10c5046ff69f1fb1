"""The embedded default scan store: state in a dict, the log in a deque drained by the in-process worker."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from detection.engine.model import Place
from detection.ports import Outcome, Saved
from detection.scans import ScanEvent, StampHistory
from resolver.store.base import WORKER_REPORT_KEEP_SECONDS
from tem.core.metrics import LogFigures


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
        self._reports: dict[str, tuple[float, bytes]] = {}

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

    async def log_figures(self) -> LogFigures:
        held = [event.at for event in self._pending.values()]
        if self._log:
            held.append(self._log[0][1].at)  # the queue is in time order: its head is its oldest
        undelivered, pending = len(self._log), len(self._pending)
        return LogFigures(undelivered + pending, undelivered, pending, min(held, default=None))

    async def publish_worker(self, worker: str, exposition: bytes) -> None:
        self._reports[worker] = (time.time(), exposition)

    async def worker_reports(self) -> dict[str, tuple[float, bytes]]:
        cutoff = time.time() - WORKER_REPORT_KEEP_SECONDS
        return {name: report for name, report in self._reports.items() if report[0] >= cutoff}

    async def close(self) -> None:
        return None
