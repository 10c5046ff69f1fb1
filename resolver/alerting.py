"""The worker's half of detection: scan log entries in, alerts and lot/packing-house aggregates out.

The scan path judged each stamp and wrote, with the entry, the stamp alerts it opened or raised and what
changed for its lot (first scan, first finding, a resale-place vote). Here, in the worker's transaction,
those become alert rows (deduplicated, with webhooks) and aggregate counts; lot and packing-house escalations
open their own alerts, with the stamp alerts beneath them linked. Aggregates are stored in
`detection_aggregates`, locked for the batch on PostgreSQL, so several workers can share one stream.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from issuer.models import Organisation
from resolver.alerts.models import Alert as AlertRow
from resolver.alerts.service import link_children, open_or_bump_alert
from resolver.detection import LearnedPlaces
from resolver.engine import Aggregates, EngineConfig, HouseState, LotState, Scope, StampOutcome
from resolver.models import DetectionAggregate
from resolver.scans import NEWLY_FLAGGED, NEWLY_SCANNED, ScanEvent

log = logging.getLogger("tem.worker")


class AlertSink:
    def __init__(self, config: EngineConfig, places: LearnedPlaces | None, webhook_urls: Sequence[str]) -> None:
        self._config = config
        self._places = places
        self._webhook_urls = tuple(webhook_urls)
        self._postgres: bool | None = None

    def apply(self, conn: Connection, events: Sequence[ScanEvent]) -> dict[str, list[list[float]]]:
        """Alerts and aggregates for entries seen for the first time. Returns the lots' learned places that
        changed, for `LearnedPlaces` once the transaction commits."""
        judged = [e for e in events if e.alerts or e.newly or e.place_vote]
        if not judged:
            return {}
        self._postgres = conn.dialect.name == "postgresql"
        aggregates = Aggregates(self._config)
        lot_keys = {f"{e.gtin}/{e.lot_code}" for e in judged if e.lot_code}
        house_codes = {e.house for e in judged if e.house}
        self._load(conn, aggregates, lot_keys, house_codes)
        orgs = _organisations(conn, house_codes)
        session = Session(bind=conn)
        learned: dict[str, list[list[float]]] = {}
        for event in judged:
            self._one(session, aggregates, orgs, event, learned)
        session.flush()
        self._store(conn, aggregates)
        return learned

    def _one(
        self,
        session: Session,
        aggregates: Aggregates,
        orgs: dict[str, int],
        event: ScanEvent,
        learned: dict[str, list[list[float]]],
    ) -> None:
        org_id = orgs.get(event.house or "")
        at = dt.datetime.fromtimestamp(event.at, dt.UTC)
        country = event.place.country if event.place else None
        burst = event.kind == "forged_burst"  # keyed by the network, not by the forged code it happened to use
        for alert in event.alerts:
            open_or_bump_alert(
                session,
                alert["type"],
                alert["severity"],
                None if burst else event.gtin,
                None if burst else event.serial,
                event.lot_id,
                org_id,
                alert["evidence"],
                alert["vi"],
                alert["en"],
                at=at,
                webhook_urls=self._webhook_urls,
                country=country,
                subject=f"network {event.ip_hash}" if burst else None,
            )

        outcome = StampOutcome([], [], bool(event.newly & NEWLY_SCANNED), bool(event.newly & NEWLY_FLAGGED))
        if event.lot_code:
            key = f"{event.gtin}/{event.lot_code}"
            if event.place_vote is not None:
                lot = aggregates.lot(key)
                lot.count_place(self._config, *event.place_vote)
                learned[key] = [list(p) for p in lot.places]
            aggregates.apply(outcome, event.scan_id, event.at, event.gtin, event.lot_code, event.house)
        elif event.house and event.state == "not_activated" and event.kind == "scan":
            aggregates.not_activated(event.house, event.scan_id, event.at, event.gtin, outcome)
        for finding in outcome.findings:
            lot_id = event.lot_id if finding.scope is Scope.LOT else None
            if lot_id is None and org_id is None:
                log.warning("escalation_without_subject house=%s", event.house)
                continue
            change = open_or_bump_alert(
                session,
                finding.type.value,
                finding.severity.label,
                None,
                None,
                lot_id,
                org_id,
                finding.evidence,
                finding.explanation_vi,
                finding.explanation_en,
                at=at,
                webhook_urls=self._webhook_urls,
            )
            children = _children(session, change.alert, event, org_id)
            if children:
                link_children(session, change.alert.id, children)

    def _load(self, conn: Connection, aggregates: Aggregates, lots: set[str], houses: set[str]) -> None:
        keys = [f"lot:{k}" for k in lots] + [f"house:{h}" for h in houses]
        query = select(DetectionAggregate.key, DetectionAggregate.state).where(DetectionAggregate.key.in_(keys))
        if self._postgres:
            query = query.with_for_update()  # two workers never count into one lot at once
        for key, state in conn.execute(query):
            kind, _, name = key.partition(":")
            if kind == "lot":
                aggregates.lots[name] = LotState.from_json(state)
            else:
                aggregates.houses[name] = HouseState.from_json(state)

    def _store(self, conn: Connection, aggregates: Aggregates) -> None:
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"key": f"lot:{k}", "kind": "lot", "state": v.to_json(), "updated_at": now}
            for k, v in aggregates.lots.items()
        ]
        rows += [
            {"key": f"house:{k}", "kind": "house", "state": v.to_json(), "updated_at": now}
            for k, v in aggregates.houses.items()
        ]
        if not rows:
            return
        insert = postgresql.insert if self._postgres else sqlite.insert
        statement = insert(DetectionAggregate)
        statement = statement.on_conflict_do_update(
            index_elements=[DetectionAggregate.key],
            set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
        )
        conn.execute(statement, rows)

    def learned_places(self, conn: Connection) -> dict[str, list[list[float]]]:
        """Every lot's candidate resale places, for a scan process starting or catching up."""
        rows = conn.execute(
            select(DetectionAggregate.key, DetectionAggregate.state).where(DetectionAggregate.kind == "lot")
        )
        return {key.partition(":")[2]: LotState.from_json(state).places for key, state in rows if state.get("places")}


def _organisations(conn: Connection, codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    rows = conn.execute(select(Organisation.id, Organisation.code).where(Organisation.code.in_(codes)))
    return {code: org_id for org_id, code in rows}


def _children(session: Session, parent: AlertRow, event: ScanEvent, org_id: int | None) -> list[int]:
    """The active stamp alerts of the lot (for a lot alert) or the lot alerts of the house (for a house alert)
    not yet linked beneath this one."""
    query = select(AlertRow.id).where(AlertRow.parent_id.is_(None), AlertRow.open_key.is_not(None))
    if parent.scope == "lot":
        query = query.where(AlertRow.scope == "stamp", AlertRow.lot_id == event.lot_id)
    elif parent.scope == "packing_house" and org_id is not None:
        query = query.where(AlertRow.scope == "lot", AlertRow.organisation_id == org_id)
    else:
        return []
    return [i for i in session.scalars(query.limit(500)) if i != parent.id]
