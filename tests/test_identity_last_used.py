"""When each API token was last used (`ApiToken.last_used_at`): written when the token authenticates (a request
with it, a login with it, a request of a browser session started from it), at most once a minute per token, never
by a stamp's scan; shown on the ministry's tokens page in the page's language and time zone, "never" when unset."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from identity import repository, service
from identity.models import ApiToken
from identity.principal import hash_token
from ministry.endpoints import csrf_token
from resolver.i18n import format_time
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import World
from tests.resolver_helpers import issue_and_activate
from tests.test_ministry import login_csrf
from tests.test_trace_page import path_of


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _last_used(db: Database, headers: dict[str, str]) -> dt.datetime | None:
    with db.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(_token(headers)))).one()
        return row.last_used_at


def _token_id(db: Database, headers: dict[str, str]) -> int:
    with db.session() as session:
        return session.scalars(select(ApiToken.id).where(ApiToken.token_hash == hash_token(_token(headers)))).one()


def _updates(db: Database) -> list[str]:
    """The UPDATEs of `api_tokens` sent on `db`'s engine from now on."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    return sent


def test_authenticating_writes_the_time_at_most_once_a_minute(world: World, db: Database) -> None:
    token = _token(world.packer)
    updates = _updates(db)
    start = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    steps = [
        (start, start),  # never used: written
        (start + dt.timedelta(seconds=30), start),  # within the minute: not written
        (start + dt.timedelta(seconds=59), start),
        (start + dt.timedelta(seconds=60), start + dt.timedelta(seconds=60)),  # a minute on: written again
        (start + dt.timedelta(seconds=61), start + dt.timedelta(seconds=60)),
    ]
    for now, stored in steps:
        with db.session() as session:
            principal = service.authenticate(session, token, now=now)
            assert principal is not None
            assert principal.organisation_code == "VN-TGPH-0001"
        assert _last_used(db, world.packer) == stored
    assert len(updates) == 2
    with db.session() as session:
        assert service.authenticate(session, "not-a-token", now=start) is None
    assert len(updates) == 2


def test_a_stale_read_does_not_move_the_time_back_or_write_twice(world: World, db: Database) -> None:
    """Two requests that read the old time at once: the UPDATE checks the stored time again, so one writes."""
    token = _token(world.packer)
    start = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    with db.session() as session:
        service.authenticate(session, token, now=start)
    token_id = _token_id(db, world.packer)
    later = start + dt.timedelta(minutes=5)
    with db.session() as session:
        repository.mark_used(session, token_id, later, later - service.LAST_USED_EVERY)
    with db.session() as session:  # a second request that had read `start`: its write finds the newer time
        repository.mark_used(session, token_id, later, later - service.LAST_USED_EVERY)
        repository.mark_used(session, token_id, later - dt.timedelta(seconds=10), later - dt.timedelta(seconds=70))
    assert _last_used(db, world.packer) == later


def test_api_requests_logins_and_sessions_count_but_scans_do_not(world: World, db: Database) -> None:
    client = world.client
    assert _last_used(db, world.inspector) is None
    stamps = issue_and_activate(world)  # the packer's token, through the API
    assert _last_used(db, world.packer) is not None
    assert _last_used(db, world.ministry) is None

    # A scan is the resolver's public path: it never reads a token, even one sent along with it.
    scanned = client.get(path_of(stamps.uris[0]), headers=world.inspector, follow_redirects=False)
    assert scanned.status_code in (302, 303, 307)
    assert _last_used(db, world.inspector) is None

    before = dt.datetime.now(dt.UTC)
    login = client.post("/ministry/login", data={"token": _token(world.ministry), "csrf": login_csrf(client)})
    assert login.status_code == 200
    used = _last_used(db, world.ministry)
    assert used is not None
    assert used >= before - dt.timedelta(seconds=1)

    updates = _updates(client.app.state.tem.db)  # type: ignore[attr-defined]
    for _ in range(5):  # the browser session's requests, within the minute: nothing written
        assert client.get("/ministry?lang=en").status_code == 200
    assert client.get("/api/v1/inspections", headers=world.inspector).status_code == 200
    assert len(updates) == 1  # the inspector's first use only
    assert _last_used(db, world.ministry) == used
    assert _last_used(db, world.inspector) is not None


def test_the_tokens_page_shows_when_each_was_last_used(world: World, db: Database) -> None:
    client = world.client
    login = client.post(
        "/ministry/login", data={"token": _token(world.ministry), "csrf": login_csrf(client)}, follow_redirects=False
    )
    assert login.status_code == 303
    assert csrf_token(login.cookies["tem_inspect"])
    ministry_id = _token_id(db, world.ministry)
    inspector_id = _token_id(db, world.inspector)
    used = _last_used(db, world.ministry)
    assert used is not None
    for lang, never, heading in (
        ("vi", "chưa dùng", "Dùng lần cuối"),
        ("en", "never", "Last used"),
        ("zh", "从未使用", "最近使用"),
    ):
        page = client.get(f"/ministry/users?lang={lang}").text
        assert f"<th>{heading}</th>" in page
        cell = re.search(rf'data-testid="last-used-{inspector_id}">([^<]*)<', page)
        assert cell is not None
        assert cell.group(1) == never
        cell = re.search(rf'data-testid="last-used-{ministry_id}">([^<]*)<', page)
        assert cell is not None
        assert cell.group(1) == format_time(used, lang)  # the page's language and zone, as every time there
    assert format_time(used, "vi").endswith("UTC+7")
    assert format_time(used, "zh").endswith("UTC+8")
