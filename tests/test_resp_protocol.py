"""The scan path's Redis connection: requests of one turn of the event loop go in one write, a judging round's
saves in one write of their own, and replies come back to their requests in order. No Redis needed: the
transport is a fake that keeps what is written."""

from __future__ import annotations

import asyncio
from typing import Any

from resolver.store import _RespProtocol, command


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def abort(self) -> None:
        pass


def _connected(loop: asyncio.AbstractEventLoop) -> tuple[_RespProtocol, _Transport]:
    protocol = _RespProtocol(loop, timeout=5.0)
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


def test_requests_of_one_turn_are_written_together_at_the_next_turn_and_answered_in_order() -> None:
    async def scenario() -> None:
        protocol, transport = _connected(asyncio.get_running_loop())
        first = protocol.request(command("GET", "a"), 1)
        second = protocol.request(command("INCR", "b"), 1)
        assert transport.writes == []
        await asyncio.sleep(0)
        assert transport.writes == [command("GET", "a") + command("INCR", "b")]
        protocol.data_received(b"$1\r\nx\r\n:7\r\n")
        assert first.result() == [b"x"]
        assert second.result() == [7]
        protocol.connection_lost(None)

    asyncio.run(scenario())


def test_held_requests_are_written_at_once_by_write_held_and_nothing_is_left_for_the_next_turn() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        protocol, transport = _connected(loop)
        scheduled: list[Any] = []
        call_soon = loop.call_soon

        def watching(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
            scheduled.append(callback)
            return call_soon(callback, *args, **kwargs)

        loop.call_soon = watching  # type: ignore[method-assign]
        try:
            protocol.held = True
            saves = [protocol.request(command("EVALSHA", "sha", 0, str(n)), 1) for n in range(3)]
            assert transport.writes == []
            protocol.write_held()
        finally:
            loop.call_soon = call_soon  # type: ignore[method-assign]
        assert transport.writes == [b"".join(command("EVALSHA", "sha", 0, str(n)) for n in range(3))]
        assert scheduled == []  # no write waits for the next turn: that turn would split the scans in flight
        assert not protocol.held
        # Not held any more: the next request waits for the next turn again.
        later = protocol.request(command("PING"), 1)
        await asyncio.sleep(0)
        assert transport.writes[1:] == [command("PING")]
        protocol.data_received(b":1\r\n:2\r\n:3\r\n+PONG\r\n")
        assert [s.result() for s in saves] == [[1], [2], [3]]
        assert later.result() == [b"PONG"]
        protocol.connection_lost(None)

    asyncio.run(scenario())
