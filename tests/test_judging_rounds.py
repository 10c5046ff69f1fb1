"""Judging rounds: the batches ready in one turn of the event loop are judged together, each in order from its
own memory; a batch whose judging fails fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from resolver.detection import Judgement, JudgingRounds
from resolver.engine import StampMemory
from resolver.scans import Role, ScanEvent, Verdict


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


def test_batches_of_one_turn_are_judged_in_one_round_each_from_its_own_memory() -> None:
    async def scenario() -> None:
        rounds = JudgingRounds()
        seen_a: list[int] = []
        seen_b: list[int] = []
        stored = StampMemory(scans=5).to_bytes()
        a = rounds.judge([(_event(1), _counting(_event(1), seen_a)), (_event(1), _counting(_event(1), seen_a))], None)
        b = rounds.judge([(_event(2), _counting(_event(2), seen_b))], stored)
        failing = rounds.judge([(_event(3), _failing)], None)
        assert not a.done()  # judged at the next turn, together
        await asyncio.sleep(0)
        assert a.done()
        assert b.done()
        assert failing.done()
        judgements, memory = a.result()
        assert [j.event.serial for j in judgements] == [1, 1]
        assert seen_a == [1, 2]  # in order, the second from the memory the first left
        assert StampMemory.from_bytes(memory).scans == 2
        assert seen_b == [6]
        assert StampMemory.from_bytes(b.result()[1]).scans == 6
        with pytest.raises(RuntimeError, match="the engine failed"):
            failing.result()

    asyncio.run(scenario())


def test_a_round_left_by_a_closed_event_loop_does_not_stop_the_next_one() -> None:
    rounds = JudgingRounds()
    loop = asyncio.new_event_loop()

    async def leave_pending() -> None:
        rounds.judge([(_event(1), _counting(_event(1), []))], None)
        asyncio.get_running_loop().stop()  # the loop ends with this turn: the round it scheduled never runs

    task = loop.create_task(leave_pending())
    loop.run_forever()
    assert task.done()
    loop.close()

    async def next_loop() -> int:
        judgements, _memory = await asyncio.wait_for(rounds.judge([(_event(2), _counting(_event(2), []))], None), 1)
        return judgements[0].event.serial

    assert asyncio.run(next_loop()) == 2
