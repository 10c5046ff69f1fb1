"""Judging rounds: the batches ready in one turn of the event loop are judged together, each in order from its
own memory, and their saves are started by the round; a batch whose judging fails fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from resolver.detection import Judgement, JudgingRounds
from resolver.engine import StampMemory
from resolver.scans import Role, ScanEvent, Verdict
from resolver.store import MemoryScanStore, Saved


def _event(serial: int) -> ScanEvent:
    return ScanEvent(
        f"01JD{serial:022d}", 1.0, "08935000000014", serial, "K1", "activated", Verdict.UNKNOWN, Role.CONSUMER,
        "device", None, None, None,
    )  # fmt: skip


def _counting(event: ScanEvent, seen: list[int]) -> Any:
    def judge(mem: StampMemory) -> Judgement:
        mem.scans += 1
        seen.append(mem.scans)
        return Judgement(Verdict.GENUINE, (), event)

    return judge


def _failing(_mem: StampMemory) -> Judgement:
    raise RuntimeError("the engine failed on this scan")


class _Recording(MemoryScanStore):
    """Answers every save at once, and keeps what each save was asked to store."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[list[int], int | None, bytes]] = []

    def start_save(
        self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: asyncio.Future[Saved]
    ) -> None:
        self.started.append(([e.serial for e in events], version, memory))
        super().start_save(events, version, memory, done)


def test_batches_of_one_turn_are_judged_and_saved_in_one_round_each_from_its_own_memory() -> None:
    async def scenario() -> None:
        store = _Recording()
        rounds = JudgingRounds()
        seen_a: list[int] = []
        seen_b: list[int] = []
        stored = StampMemory(scans=5).to_bytes()
        a = rounds.judge(
            store, [(_event(1), _counting(_event(1), seen_a)), (_event(1), _counting(_event(1), seen_a))], 0, None
        )
        b = rounds.judge(store, [(_event(2), _counting(_event(2), seen_b))], 0, stored)
        failing = rounds.judge(store, [(_event(3), _failing)], 0, None)
        assert not a.done.done()  # judged at the next turn, together
        assert store.started == []
        await asyncio.sleep(0)
        assert a.done.done()
        assert b.done.done()
        assert failing.done.done()
        assert [j.event.serial for j in a.judgements] == [1, 1]
        assert seen_a == [1, 2]  # in order, the second from the memory the first left
        assert StampMemory.from_bytes(a.judged).scans == 2
        assert seen_b == [6]
        assert StampMemory.from_bytes(b.judged).scans == 6
        # The round started both saves, each with the memory its batch left; the failed batch saved nothing.
        assert store.started == [([1, 1], 0, a.judged), ([2], 0, b.judged)]
        assert a.done.result() == Saved(True, 1)
        assert b.done.result() == Saved(True, 1)
        with pytest.raises(RuntimeError, match="the engine failed"):
            failing.done.result()

    asyncio.run(scenario())


def test_a_save_that_cannot_start_fails_its_batch_alone() -> None:
    class Refusing(_Recording):
        def start_save(
            self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: asyncio.Future[Saved]
        ) -> None:
            if events[0].serial == 1:
                raise ConnectionError("the Redis connection is closed")
            super().start_save(events, version, memory, done)

    async def scenario() -> None:
        store = Refusing()
        rounds = JudgingRounds()
        refused = rounds.judge(store, [(_event(1), _counting(_event(1), []))], 0, None)
        saved = rounds.judge(store, [(_event(2), _counting(_event(2), []))], 0, None)
        with pytest.raises(ConnectionError):
            await refused.done
        assert (await saved.done).ok

    asyncio.run(scenario())


def test_a_round_left_by_a_closed_event_loop_does_not_stop_the_next_one() -> None:
    rounds = JudgingRounds()
    store = MemoryScanStore()
    loop = asyncio.new_event_loop()

    async def leave_pending() -> None:
        rounds.judge(store, [(_event(1), _counting(_event(1), []))], 0, None)
        asyncio.get_running_loop().stop()  # the loop ends with this turn: the round it scheduled never runs

    task = loop.create_task(leave_pending())
    loop.run_forever()
    assert task.done()
    loop.close()

    async def next_loop() -> int:
        ticket = rounds.judge(store, [(_event(2), _counting(_event(2), []))], 0, None)
        await asyncio.wait_for(ticket.done, 1)
        return ticket.judgements[0].event.serial

    assert asyncio.run(next_loop()) == 2
