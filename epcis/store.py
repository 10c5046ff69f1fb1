"""Recording an EPCIS event: the event row with its hash id, the objects it names, and its outbox row for the
national portal, all in the caller's unit of work (so an event and its delivery commit or roll back together).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from epcis.eventhash import event_hash_id
from epcis.models import EpcisEvent, EventObject, EventOrigin, ObjectField, PortalOutbox

#: Tem's namespace for the few fields EPCIS has no place for (a stamp range, a stage's place in words).
TEM_NAMESPACE = "https://tem.gov.vn/epcis/"
CONTEXT: list[Any] = ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", {"tem": TEM_NAMESPACE}]


@dataclass(frozen=True, slots=True)
class NamedObject:
    """One object an event names, already resolved: see `epcis.models.EventObject`."""

    field: ObjectField
    uri: str | None = None
    gtin: str | None = None
    lot: str | None = None
    serial_first: int | None = None
    serial_last: int | None = None
    lot_id: int | None = None


def parse_time(text: str) -> dt.datetime:
    """An EPCIS time (`2026-06-01T08:00:00.000+07:00` or `…Z`) as an aware datetime."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value


def time_text(when: dt.datetime) -> str:
    """An aware datetime as EPCIS writes it, to the millisecond, keeping its offset."""
    return when.isoformat(timespec="milliseconds")


def offset_text(when: dt.datetime) -> str:
    offset = when.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def with_event_id(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with its `eventID` set by the EPCIS 2.0 event hash (stable: the same event, the same id)."""
    body = {key: value for key, value in event.items() if key != "eventID"}
    return {"eventID": event_hash_id(body, {"tem": TEM_NAMESPACE}), **body}


def record(
    session: Session,
    event: Mapping[str, Any],
    *,
    origin: EventOrigin,
    organisation_id: int,
    objects: Iterable[NamedObject],
    capture_job_id: int | None = None,
    keep_event_id: bool = False,
) -> EpcisEvent:
    """Store one event and queue it for the national portal. Its `eventID` is the event hash, unless a capture
    gave one (`keep_event_id`). An event already stored (the same id) is returned as it is, so a capture sent
    twice records once."""
    body = dict(event) if keep_event_id and event.get("eventID") else with_event_id(event)
    existing = session.scalar(select(EpcisEvent).where(EpcisEvent.event_id == body["eventID"]))
    if existing is not None:
        return existing
    row = EpcisEvent(
        event_id=body["eventID"],
        event_type=body["type"],
        event_time=parse_time(body["eventTime"]),
        biz_step=body.get("bizStep"),
        biz_location=(body.get("bizLocation") or {}).get("id"),
        origin=origin.value,
        organisation_id=organisation_id,
        capture_job_id=capture_job_id,
        body=body,
    )
    session.add(row)
    session.flush()
    session.add_all(
        EventObject(
            event_pk=row.id,
            field=item.field.value,
            uri=item.uri,
            gtin=item.gtin,
            lot=item.lot,
            serial_first=item.serial_first,
            serial_last=item.serial_last,
            lot_id=item.lot_id,
        )
        for item in objects
    )
    session.add(PortalOutbox(event_pk=row.id))
    session.flush()
    return row


def document(events: Iterable[Mapping[str, Any]], created: dt.datetime) -> dict[str, Any]:
    """An `EPCISDocument` holding these events (as stored, `eventID` included)."""
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": time_text(created),
        "epcisBody": {"eventList": list(events)},
    }
