"""Builders for resolver tests: a lot with activated stamps, and the runtime behind the test client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from alerts.models import Alert
from detection.scans import ScanEvent
from issuer.models import Activation
from resolver.models import ScanRecord
from resolver.runtime import ResolverRuntime
from resolver.store import Saved, ScanStore, settle_later
from tem.core.time import utcnow
from tests.conftest import World
from tests.helpers import GTIN_A, ok, order, setup_packer


@dataclass
class Stamps:
    uris: list[str]  # serial n is uris[n - 1]
    order_id: int
    lot_id: int


def issue_and_activate(
    world: World,
    quantity: int = 20,
    activate_last: int = 10,
    days_ago: float = 5,
    lot_extra: dict[str, Any] | None = None,
    template: str | None = None,
) -> Stamps:
    """Serials 1..activate_last are activated on LOT-1, `days_ago` days ago (so the fruit has had time to
    reach China: detection calls a scan there minutes after packing too early); the rest are issued but not
    activated."""
    c = world.client
    made = setup_packer(c, world.packer, lot_extra=lot_extra)
    c.post(
        f"/api/v1/lots/{made['lot']['id']}/stages",
        headers=world.packer,
        json={"stage": "packing", "occurred_at": "2026-06-04T09:00:00+07:00", "place": "Cái Bè", "country": "VN"},
    )
    if template is None:
        issued = order(c, world.packer, GTIN_A, quantity)
    else:
        body = {"gtin": GTIN_A, "quantity": quantity, "template": template}
        issued = ok(c.post("/api/v1/orders", headers=world.packer, json=body), 201)
    ok(
        c.post(
            "/api/v1/activations",
            headers=world.packer,
            json={"gtin": GTIN_A, "first_serial": 1, "last_serial": activate_last, "lot": "LOT-1"},
        ),
        201,
    )
    uris = c.get(f"/api/v1/orders/{issued['id']}/stamps.csv", headers=world.packer).text.splitlines()[
        1:
    ]  # the header row
    if days_ago:
        backdate_activations(c, days_ago)
    return Stamps(uris, issued["id"], made["lot"]["id"])


def backdate_activations(client: TestClient, days: float) -> None:
    state: Any = client.app.state.tem  # type: ignore[attr-defined]
    with state.db.engine.begin() as conn:
        conn.execute(update(Activation).values(created_at=utcnow() - dt.timedelta(days=days)))
    runtime(client).registry.dirty = True


def runtime(client: TestClient) -> ResolverRuntime:
    value: ResolverRuntime = client.app.state.tem.resolver  # type: ignore[attr-defined]
    return value


def flush(client: TestClient) -> int:
    """Run the worker once, in the app's own event loop."""
    portal: Any = client.portal  # type: ignore[attr-defined]
    written: int = portal.call(runtime(client).flush)
    return written


def scans(client: TestClient) -> list[Any]:
    with runtime(client).writer._db.engine.connect() as conn:  # the test reads what the worker wrote
        return list(conn.execute(select(ScanRecord).order_by(ScanRecord.at)).all())


def stamp_alerts(client: TestClient) -> list[Alert]:
    state: Any = client.app.state.tem  # type: ignore[attr-defined]
    with state.db.session() as session:
        return list(session.scalars(select(Alert).where(Alert.scope == "stamp").order_by(Alert.id)))


def replace_save(store: ScanStore, save: Callable[[Sequence[ScanEvent], int | None, bytes], Awaitable[Saved]]) -> None:
    """Every save of `store` goes through `save`, awaited (`save_judged`) or started by a judging round."""

    async def saving(events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        return await save(events, version, memory)

    store.save_judged = saving  # type: ignore[method-assign]
    store.start_save = lambda events, version, memory, done: settle_later(  # type: ignore[method-assign]
        saving(events, version, memory), done
    )


def scan_token_of(response: Any) -> str:
    """The scan token a scan's answer sets in its short-lived cookie, for the trace page it leads to."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == "tem_scan":
            return rest.split(";", 1)[0]
    raise AssertionError("the scan set no tem_scan cookie")
