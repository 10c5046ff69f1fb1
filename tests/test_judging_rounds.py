"""Judging rounds: a stamp's scans of one turn of the event loop go in one batch; every batch ready in that turn
is judged in one round, each in order from its own memory, and the round starts their saves; a batch whose
judging or save fails fails alone; a batch whose stamp another process changed is judged again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from detection.engine import StampMemory
from detection.engine.config import default_config
from detection.engine.model import Role, Verdict
from detection.online import Detector, Judgement, KnownMemories
from detection.scans import ScanEvent
from resolver.store import MemoryScanStore, Outcome, Saved, ScanStore

GTIN = "08935000000014"


def _event(serial: int) -> ScanEvent:
    return ScanEvent(
        f"01JD{serial:022d}", 1.0, GTIN, serial, "K1", "activated", Verdict.UNKNOWN, Role.CONSUMER,
        "device", None, None, None,
    )  # fmt: skip


def _counting(seen: list[int]) -> Any:
    """Judges by counting the scan in the memory; `seen` gets the count after it."""

    def judge(event: ScanEvent, _lookup: object, mem: StampMemory, _extra: object) -> Judgement:
        mem.scans += 1
        seen.append(mem.scans)
        return Judgement(Verdict.GENUINE, (), event)

    return judge


def _failing(_event: ScanEvent, _lookup: object, _mem: StampMemory, _extra: object) -> Judgement:
    raise RuntimeError("the engine failed on this scan")


def _submit(detector: Detector, store: ScanStore, serial: int, judge: Any) -> asyncio.Future[Judgement]:
    return detector.submit(store, _event(serial), judge, None, None)  # type: ignore[arg-type]  # no lookup needed


class _Recording(MemoryScanStore):
    """Answers every save at once, and keeps what each save was asked to store."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[list[int], int | None, bytes]] = []

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        self.started.append(([e.serial for e in events], version, memory))
        super().start_save(events, version, memory, done)


def _detector() -> Detector:
    return Detector(default_config())


def test_batches_of_one_turn_are_judged_and_saved_in_one_round_each_from_its_own_memory() -> None:
    async def scenario() -> None:
        store = _Recording()
        detector = _detector()
        seen_a: list[int] = []
        seen_b: list[int] = []
        stored = StampMemory(scans=5).to_bytes()
        await store.save_judged([_event(2)], 0, stored)  # stamp 2 was judged before, by this process
        detector.known.put(GTIN, 2, 1, stored)
        store.started.clear()
        a1 = _submit(detector, store, 1, _counting(seen_a))
        a2 = _submit(detector, store, 1, _counting(seen_a))  # the same stamp: the same batch
        b = _submit(detector, store, 2, _counting(seen_b))
        failing = _submit(detector, store, 3, _failing)
        assert store.started == []  # judged at the next turn, together
        await asyncio.sleep(0)
        assert a1.done()
        assert a2.done()
        assert b.done()
        assert failing.done()
        assert seen_a == [1, 2]  # in order, the second from the memory the first left
        assert seen_b == [6]
        # The round started both saves, each with the memory its batch left; the failed batch saved nothing.
        assert [(serials, version) for serials, version, _memory in store.started] == [([1, 1], 0), ([2], 1)]
        assert StampMemory.from_bytes(store.started[0][2]).scans == 2
        assert StampMemory.from_bytes(store.started[1][2]).scans == 6
        assert [a1.result().event.serial, a2.result().event.serial, b.result().event.serial] == [1, 1, 2]
        with pytest.raises(RuntimeError, match="the engine failed"):
            failing.result()
        assert detector.known.get(GTIN, 1) == (1, store.started[0][2])
        assert detector.known.get(GTIN, 2) == (2, store.started[1][2])

    asyncio.run(scenario())


def test_a_save_that_cannot_start_fails_its_batch_alone() -> None:
    class Refusing(_Recording):
        def start_save(
            self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]
        ) -> None:
            if events[0].serial == 1 and not any(serials == [1] for serials, _v, _m in self.started):
                self.started.append(([1], version, memory))
                raise ConnectionError("the Redis connection is closed")
            super().start_save(events, version, memory, done)

    async def scenario() -> None:
        store = Refusing()
        detector = _detector()
        refused = _submit(detector, store, 1, _counting([]))
        saved = _submit(detector, store, 2, _counting([]))
        with pytest.raises(ConnectionError):
            await refused
        assert (await saved).event.serial == 2
        # The refused stamp is not stuck: its next scan gets its own batch and save.
        assert (await _submit(detector, store, 1, _counting([]))).event.serial == 1

    asyncio.run(scenario())


def test_a_round_writes_all_of_its_saves_at_once_even_when_one_cannot_start() -> None:
    class Writing(_Recording):
        """Logs when writes are held and written; the save of stamp 2 cannot start."""

        def __init__(self) -> None:
            super().__init__()
            self.log: list[str] = []

        def hold_writes(self) -> None:
            self.log.append("hold")

        def write_held(self) -> None:
            self.log.append("write")

        def start_save(
            self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]
        ) -> None:
            self.log.append(f"save {events[0].serial}")
            if events[0].serial == 2:
                raise ConnectionError("the Redis connection is closed")
            super().start_save(events, version, memory, done)

    async def scenario() -> None:
        store = Writing()
        detector = _detector()
        futures = [_submit(detector, store, serial, _counting([])) for serial in (1, 2, 3)]
        await asyncio.sleep(0)
        assert store.log == ["hold", "save 1", "save 2", "save 3", "write"]
        assert futures[0].done()
        assert futures[2].done()
        with pytest.raises(ConnectionError):
            futures[1].result()

    asyncio.run(scenario())


def test_scans_that_arrive_while_a_save_is_in_flight_go_in_the_next_batch() -> None:
    class Slow(_Recording):
        """Answers each save a turn later, like a round trip to Redis."""

        def start_save(
            self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]
        ) -> None:
            self.started.append(([e.serial for e in events], version, memory))
            saved = self._save(events, version, memory)
            asyncio.get_running_loop().call_soon(done.set_result, saved)

    async def scenario() -> None:
        store = Slow()
        detector = _detector()
        seen: list[int] = []
        first = _submit(detector, store, 1, _counting(seen))
        await asyncio.sleep(0)  # judged; its save is in flight
        rest = [_submit(detector, store, 1, _counting(seen)) for _ in range(3)]
        await asyncio.gather(first, *rest)
        assert [(serials, version) for serials, version, _memory in store.started] == [([1], 0), ([1, 1, 1], 1)]
        assert seen == [1, 2, 3, 4]

    asyncio.run(scenario())


class _Overtaken(_Recording):
    """The first save finds another process's memory (`version`, `scans`); every later one is stored, and the
    detection fields of the events it saved are kept."""

    def __init__(self, version: int, scans: int) -> None:
        super().__init__()
        self.theirs = Saved(False, version, StampMemory(scans=scans).to_bytes())
        self.saved_events: list[tuple[object, ...]] = []

    async def left_by_another_process(self) -> None:
        await self.save_judged([_event(1)], None, b"")
        self._stamps[(GTIN, 1)].version = self.theirs.version

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        if not self.started:
            self.started.append(([e.serial for e in events], version, memory))
            done.set_result(self.theirs)
            return
        self.saved_events = [(e.findings, e.alerts, e.place_vote) for e in events]
        super().start_save(events, version, memory, done)


def test_a_batch_whose_stamp_changed_meanwhile_is_judged_again_from_the_current_memory() -> None:
    async def scenario() -> None:
        store = _Overtaken(version=4, scans=10)
        await store.left_by_another_process()
        detector = _detector()
        seen: list[int] = []
        judgement = await _submit(detector, store, 1, _counting(seen))
        assert judgement.event.serial == 1
        assert seen == [1, 11]  # judged from nothing, then from the current memory
        assert [version for _serials, version, _memory in store.started] == [0, 4]
        assert detector.known.get(GTIN, 1)[0] == 5

    asyncio.run(scenario())


def test_a_scan_judged_again_keeps_nothing_of_its_first_judging() -> None:
    """The judge writes findings, alerts and a place vote only when there are some: a scan judged again must
    not carry what its first judging found."""

    judged: list[int] = []

    def judge(event: ScanEvent, _lookup: object, mem: StampMemory, _extra: object) -> Judgement:
        judged.append(mem.scans)
        if mem.scans == 0:  # the first judging, from nothing, finds something
            event.findings, event.alerts, event.place_vote = "duplicate:warning", ({"type": "duplicate"},), (1.0, 2.0)
        mem.scans += 1
        return Judgement(Verdict.GENUINE, (), event)

    async def scenario() -> None:
        store = _Overtaken(version=1, scans=1)
        await store.left_by_another_process()
        await _submit(Detector(default_config()), store, 1, judge)
        assert judged == [0, 1]
        assert store.saved_events == [(None, (), None)]

    asyncio.run(scenario())


def test_a_round_left_by_a_closed_event_loop_does_not_stop_the_next_one() -> None:
    detector = _detector()
    store = MemoryScanStore()
    loop = asyncio.new_event_loop()

    async def leave_pending() -> None:
        _submit(detector, store, 1, _counting([]))
        asyncio.get_running_loop().stop()  # the loop ends with this turn: the round it scheduled never runs

    task = loop.create_task(leave_pending())
    loop.run_forever()
    assert task.done()
    loop.close()

    async def next_loop() -> list[int]:
        # The same stamp as the batch the old loop left: it must not wait behind it.
        judgements = [await asyncio.wait_for(_submit(detector, store, serial, _counting([])), 1) for serial in (1, 2)]
        return [j.event.serial for j in judgements]

    assert asyncio.run(next_loop()) == [1, 2]


class _BrokenOnce(KnownMemories):
    """Fails to keep the first memory it is given."""

    broken = False

    def put(self, gtin: str, serial: int, version: int, memory: bytes | None) -> None:
        if not self.broken:
            self.broken = True
            raise RuntimeError("cannot keep the memory")
        super().put(gtin, serial, version, memory)


def test_a_failure_after_the_save_fails_the_batch_not_the_store_and_the_stamp_goes_on() -> None:
    """The store hands a save's outcome to the batch from inside its reader; a failure there is the batch's
    alone: its scans fail, the stamp's next scans still go."""

    async def scenario() -> None:
        store = _Recording()
        detector = _detector()
        known = detector.known = _BrokenOnce(1000)
        with pytest.raises(RuntimeError, match="cannot keep the memory"):
            await _submit(detector, store, 1, _counting([]))
        assert known.broken
        judgement = await asyncio.wait_for(_submit(detector, store, 1, _counting([])), 1)
        assert judgement.event.serial == 1

    asyncio.run(scenario())


def test_a_stamp_overtaken_on_every_attempt_is_logged_unjudged_and_a_failure_there_fails_its_scans_alone() -> None:
    class AlwaysOvertaken(_Recording):
        """Every judged save finds another process's memory; the unjudged save fails once, then works."""

        def __init__(self) -> None:
            super().__init__()
            self.unjudged: list[int] = []

        def start_save(
            self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]
        ) -> None:
            assert version is not None
            done.set_result(Saved(False, version + 1, StampMemory().to_bytes()))

        async def save_judged(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
            assert version is None
            self.unjudged.append(events[0].serial)
            if len(self.unjudged) == 1:
                raise ConnectionError("the Redis connection is closed")
            return Saved(True, 1)

    async def scenario() -> None:
        store = AlwaysOvertaken()
        detector = _detector()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(_submit(detector, store, 1, _counting([])), 5)
        judgement = await asyncio.wait_for(_submit(detector, store, 1, _counting([])), 5)
        assert judgement.verdict is Verdict.GENUINE  # what its (clean) memory says, logged unjudged
        assert store.unjudged == [1, 1]

    asyncio.run(scenario())
