"""TEM_ONLINE_DETECTION=false: scans answered from the signature and the registry alone, counted and logged
unjudged, each stamp's memory left as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from detection.engine.model import Place
from tem.core.settings import Settings
from tests.conftest import World
from tests.resolver_helpers import flush, issue_and_activate, stamp_alerts
from tests.test_online_detection import (
    HARBIN,
    SHANGHAI,
    _event,
    _store,
    scan,
    scan_never_activated_and_revoked,
    scan_rows,
)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"trust_edge_headers": True, "online_detection": False})


def test_a_copy_that_detection_would_catch_is_answered_from_the_registry(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    first = scan(c, stamps.uris[0], SHANGHAI, "phone-a")
    copy = scan(c, stamps.uris[0], HARBIN, "phone-b")  # online detection calls this counterfeit
    assert (first.status_code, copy.status_code) == (307, 307)
    trace = c.get(copy.headers["location"])
    assert trace.status_code == 200
    assert 'data-verdict="genuine"' in trace.text
    assert "This code has been checked 2 times" in trace.text  # still counted, for the consumer to see
    assert flush(c) == 2
    rows = scan_rows(c)
    assert [(r.verdict, r.findings) for r in rows] == [("genuine", None), ("genuine", None)]
    assert stamp_alerts(c) == []


def test_revoked_and_never_activated_stamps_keep_their_registry_verdicts(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    scan_never_activated_and_revoked(world, stamps)
    assert flush(c) == 2
    assert [r.verdict for r in scan_rows(c)] == ["suspect", "counterfeit"]
    assert stamp_alerts(c) == []  # nothing judged, nothing alerted


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_unjudged_scans_are_counted_and_logged_and_leave_the_memory_alone(kind: str, redis_prefix: str) -> None:
    store: Any = _store(kind, redis_prefix)

    async def run() -> None:
        place = Place("CN", None, None, 31.2, 121.5, 200.0)
        judged = _event(4, 1780000000.0, "d1", place)
        assert (await store.save_judged([judged], 0, b"memory v1")).ok
        unjudged = [_event(4, 1780000001.0 + i, f"d{i + 2}", place) for i in range(2)]
        for event in unjudged:
            saved = await store.save_judged([event], None, b"")
            assert (saved.ok, saved.version) == (True, 1)
        history = await store.history("08935000000014", 4)
        assert (history.count, history.devices) == (3, 3)
        # Detection switched back on resumes from the memory it left: version 1, unchanged.
        refused = await store.save_judged([_event(4, 1780000009.0, "d9", place)], 0, b"stale")
        assert (refused.ok, refused.version, refused.memory) == (False, 1, b"memory v1")
        logged = await store.read_log("test", 10, 0)
        assert [e.scan_id for _, e in logged] == [judged.scan_id] + [e.scan_id for e in unjudged]
        await store.close()

    asyncio.run(run())
