"""The worker's half of detection: scan log entries in, alerts and lot/packing-house aggregates out.

The scan path judged each stamp and wrote, with the entry, the stamp alerts it opened or raised and what
changed for its lot (first scan, first finding, a resale-place vote). Here, in the worker's transaction,
those become alert rows (deduplicated, with webhooks) and aggregate counts; lot and packing-house escalations
open their own alerts, with the stamp alerts beneath them linked. Aggregates are stored in
`detection_aggregates`, locked for the batch on PostgreSQL, so several workers can share one stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from detection.engine import Aggregates, EngineConfig, HouseState, LotState, Scope, Severity, StampOutcome
from detection.findings import AlertFinding, AlertSink
from detection.models import DetectionAggregate
from detection.scans import NEWLY_FLAGGED, NEWLY_SCANNED, ScanEvent


class Escalation:
    """Turns judged scan log entries into alerts (through an `AlertSink`) and lot and packing-house aggregates."""

    def __init__(self, config: EngineConfig, alerts: AlertSink) -> None:
        self._config = config
        self._alerts = alerts
        self._postgres: bool | None = None

    def apply(self, conn: Connection, events: Sequence[ScanEvent]) -> dict[str, LotState]:
        """Alerts and aggregates for entries seen for the first time. Returns the lots whose learned places or
        arrival changed, for `LearnedPlaces` once the transaction commits."""
        judged = [e for e in events if e.alerts or e.newly or e.place_vote or e.arrival_vote]
        if not judged:
            return {}
        self._postgres = conn.dialect.name == "postgresql"
        aggregates = Aggregates(self._config)
        lot_keys = {f"{e.gtin}/{e.lot_code}" for e in judged if e.lot_code}
        house_codes = {e.house for e in judged if e.house}
        self._load(conn, aggregates, lot_keys, house_codes)
        session = Session(bind=conn)
        learned: dict[str, LotState] = {}
        for event in judged:
            self._one(session, aggregates, event, learned)
        session.flush()
        self._store(conn, aggregates)
        return learned

    def _one(
        self,
        session: Session,
        aggregates: Aggregates,
        event: ScanEvent,
        learned: dict[str, LotState],
    ) -> None:
        at = dt.datetime.fromtimestamp(event.at, dt.UTC)
        country = event.place.country if event.place else None
        burst = event.kind == "forged_burst"  # keyed by the network, not by the forged code it happened to use
        for alert in event.alerts:
            self._alerts.raise_alert(
                session,
                AlertFinding(
                    type=alert["type"],
                    severity=Severity.from_label(alert["severity"]),
                    explanation_vi=alert["vi"],
                    explanation_en=alert["en"],
                    evidence=tuple(alert["evidence"]),
                    gtin=None if burst else event.gtin,
                    serial=None if burst else event.serial,
                    lot_id=event.lot_id,
                    house=event.house,
                    at=at,
                    subject=f"network {event.ip_hash}" if burst else None,
                    country=country,
                ),
            )

        outcome = StampOutcome([], [], bool(event.newly & NEWLY_SCANNED), bool(event.newly & NEWLY_FLAGGED))
        if event.lot_code:
            key = f"{event.gtin}/{event.lot_code}"
            if event.place_vote is not None or event.arrival_vote is not None:
                lot = aggregates.lot(key)
                if event.place_vote is not None:
                    lot.count_place(self._config, *event.place_vote)
                if event.arrival_vote is not None:
                    lot.note_arrival(event.arrival_vote)
                learned[key] = LotState(places=[list(p) for p in lot.places], arrived=lot.arrived)
            aggregates.apply(outcome, event.scan_id, event.at, event.gtin, event.lot_code, event.house)
        elif event.house and event.state == "not_activated" and event.kind == "scan":
            aggregates.not_activated(event.house, event.scan_id, event.at, event.gtin, outcome)
        for finding in outcome.findings:
            self._alerts.escalate(
                session,
                AlertFinding(
                    type=finding.type.value,
                    severity=finding.severity,
                    explanation_vi=finding.explanation_vi,
                    explanation_en=finding.explanation_en,
                    evidence=tuple(finding.evidence),
                    lot_id=event.lot_id if finding.scope is Scope.LOT else None,
                    house=event.house,
                    at=at,
                ),
            )

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

    def learned_places(self, conn: Connection) -> dict[str, LotState]:
        """What every lot taught (candidate resale places, market arrival), for a scan process starting or
        catching up."""
        rows = conn.execute(
            select(DetectionAggregate.key, DetectionAggregate.state).where(DetectionAggregate.kind == "lot")
        )
        out = {}
        for key, state in rows:
            if state.get("places") or state.get("arrived"):
                lot = LotState.from_json(state)
                out[key.partition(":")[2]] = LotState(places=lot.places, arrived=lot.arrived)
        return out
