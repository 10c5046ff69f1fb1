"""EPCIS 2.0 capture: a document is checked against GS1's schema, then for meaning (the stamps and lots exist,
the caller holds them, the times are plausible), then stored whole or not at all.

A caller holds a lot when it is the lot's packing house, or when the lot was shipped to it (`LotCustody`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema
from sqlalchemy.orm import Session

from chain import repository
from epcis import store
from epcis.identifiers import Identified, IdentifierError, parse
from epcis.models import CaptureJob, EventOrigin, ObjectField
from epcis.store import NamedObject
from identity.principal import Principal
from issuer.chain_events import grant_custody
from tem.core.time import utcnow

SUPPORTED = ("ObjectEvent", "AggregationEvent", "TransformationEvent")
MAX_EVENTS = 10_000
CLOCK_SKEW = dt.timedelta(minutes=5)
VIETNAM = dt.timezone(dt.timedelta(hours=7))

#: Where each event type names its objects, and what each field is in `EventObject`.
OBJECT_FIELDS: dict[str, tuple[tuple[str, ObjectField, bool], ...]] = {
    # (member, field, a list of quantity elements rather than URIs)
    "ObjectEvent": (("epcList", ObjectField.EPC, False), ("quantityList", ObjectField.CLASS, True)),
    "AggregationEvent": (
        ("parentID", ObjectField.PARENT, False),
        ("childEPCs", ObjectField.CHILD, False),
        ("childQuantityList", ObjectField.CLASS, True),
    ),
    "TransformationEvent": (
        ("inputEPCList", ObjectField.INPUT, False),
        ("inputQuantityList", ObjectField.INPUT_CLASS, True),
        ("outputEPCList", ObjectField.OUTPUT, False),
        ("outputQuantityList", ObjectField.OUTPUT_CLASS, True),
    ),
}
OUTPUTS = (ObjectField.OUTPUT, ObjectField.OUTPUT_CLASS)


@dataclass(frozen=True, slots=True)
class Problem:
    pointer: str
    message: str


class CaptureRefused(Exception):
    """The document is refused whole. `status` is 400 (not valid or not meaningful) or 403 (not the caller's)."""

    def __init__(self, status: int, title: str, problems: list[Problem]) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.problems = problems


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    text = resources.files("epcis").joinpath("schema/epcis-2.0-json-schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def pointer(path: Iterator[Any] | Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def schema_problems(document: Any) -> list[Problem]:
    """What GS1's EPCIS 2.0 JSON schema finds wrong, each at its JSON pointer (the first 20)."""
    if not isinstance(document, dict) or document.get("type") != "EPCISDocument":
        return [Problem("", 'the body must be an EPCIS 2.0 JSON-LD document with "type": "EPCISDocument"')]
    # The deepest errors first: they name the member at fault, not the event or document around it.
    errors = sorted(_validator().iter_errors(document), key=lambda e: (-len(e.absolute_path), list(map(str, e.path))))
    return [Problem(pointer(error.absolute_path), error.message[:300]) for error in errors[:20]]


@dataclass(slots=True)
class _Resolved:
    objects: list[NamedObject] = field(default_factory=list)
    lots: set[int] = field(default_factory=set)


class _Checker:
    """Resolves each event's objects against the registry and checks the caller may name them."""

    def __init__(self, session: Session, actor: Principal, now: dt.datetime) -> None:
        self.session = session
        self.actor = actor
        self.now = now
        self.problems: list[Problem] = []
        self.refusals: list[Problem] = []
        self.held = repository.held_lot_ids(session, actor)

    def _stamp(self, where: str, member: ObjectField, ident: Identified, out: _Resolved, output: bool) -> None:
        assert ident.gtin is not None
        assert ident.serial is not None
        pieces = repository.activated_pieces(self.session, ident.gtin, ident.serial, ident.serial)
        if not pieces:
            if not output:
                self.problems.append(Problem(where, f"no activated Tem stamp {ident.uri}"))
            return
        lot_id, lot_code = pieces[0]
        if ident.lot is not None and ident.lot != lot_code:
            self.problems.append(Problem(where, f"stamp {ident.uri} belongs to lot {lot_code}, not {ident.lot}"))
            return
        out.objects.append(
            NamedObject(member, ident.uri, ident.gtin, lot_code, ident.serial, ident.serial, lot_id=lot_id)
        )
        out.lots.add(lot_id)

    def _class(self, where: str, member: ObjectField, ident: Identified, out: _Resolved, output: bool) -> None:
        assert ident.gtin is not None
        if ident.lot is None:
            out.objects.append(NamedObject(member, ident.uri, ident.gtin))
            return
        lot = repository.lot_by_class(self.session, ident.gtin, ident.lot)
        if lot is None:
            if not output:  # a repacking's new lot need not be Tem's
                self.problems.append(Problem(where, f"no Tem lot {ident.lot} of GTIN {ident.gtin}"))
            out.objects.append(NamedObject(member, ident.uri, ident.gtin, ident.lot))
            return
        out.objects.append(NamedObject(member, ident.uri, ident.gtin, ident.lot, lot_id=lot))
        out.lots.add(lot)

    def resolve(self, index: int, event: Mapping[str, Any]) -> _Resolved:
        out = _Resolved()
        for member, kind, quantities in OBJECT_FIELDS[event["type"]]:
            value = event.get(member)
            if value is None:
                continue
            items: list[Any] = [value] if isinstance(value, str) else list(value)
            for position, item in enumerate(items):
                where = f"/epcisBody/eventList/{index}/{member}" + ("" if isinstance(value, str) else f"/{position}")
                uri = str(item["epcClass"] if quantities else item)
                try:
                    ident = parse(uri)
                except IdentifierError as exc:
                    self.problems.append(Problem(where, str(exc)))
                    continue
                output = kind in OUTPUTS
                if ident.serial is not None and not quantities:
                    self._stamp(where, kind, ident, out, output)
                elif ident.gtin is not None:
                    self._class(where, kind, ident, out, output)
                else:
                    out.objects.append(NamedObject(kind, ident.uri))
        return out

    def check(self, index: int, event: Mapping[str, Any], resolved: _Resolved) -> None:
        where = f"/epcisBody/eventList/{index}"
        when = store.parse_time(event["eventTime"])
        if when > self.now + CLOCK_SKEW:
            self.problems.append(Problem(f"{where}/eventTime", "this event is in the future"))
        if not resolved.lots:
            self.problems.append(Problem(where, "this event names no stamp or lot that Tem issued"))
            return
        for lot_id in sorted(resolved.lots):
            if lot_id not in self.held:
                code = repository.lot_code(self.session, lot_id)
                self.refusals.append(
                    Problem(where, f"your organisation does not hold lot {code}: it was not shipped to you")
                )
                continue
            harvest = repository.first_harvest(self.session, lot_id)
            if harvest is not None and when < dt.datetime.combine(harvest, dt.time(), VIETNAM):
                self.problems.append(
                    Problem(
                        f"{where}/eventTime", f"this event is before the lot's first harvest, on {harvest.isoformat()}"
                    )
                )


def _consignees(session: Session, event: Mapping[str, Any]) -> list[int]:
    """The organisations a shipping event hands the lot to (owning or possessing party, by GLN or Tem id)."""
    found = []
    for item in event.get("destinationList") or ():
        if item.get("type") not in ("owning_party", "possessing_party"):
            continue
        org_id = repository.organisation_by_party(session, item["destination"])
        if org_id is not None:
            found.append(org_id)
    return found


def _is_shipping(event: Mapping[str, Any]) -> bool:
    step = str(event.get("bizStep") or "")
    return step in ("shipping", "https://ref.gs1.org/cbv/BizStep-shipping", "urn:epcglobal:cbv:bizstep:shipping")


def capture(session: Session, actor: Principal, document: Mapping[str, Any], job: CaptureJob) -> list[str]:
    """Check and store every event of a valid document in the caller's unit of work; the events' ids."""
    events = document["epcisBody"]["eventList"]
    if len(events) > MAX_EVENTS:
        raise CaptureRefused(400, "too many events", [Problem("/epcisBody/eventList", f"at most {MAX_EVENTS} events")])
    checker = _Checker(session, actor, utcnow())
    resolved: list[_Resolved] = []
    for index, event in enumerate(events):
        if event.get("type") not in SUPPORTED:
            checker.problems.append(
                Problem(
                    f"/epcisBody/eventList/{index}/type", f"Tem records {', '.join(SUPPORTED)}, not {event.get('type')}"
                )
            )
            resolved.append(_Resolved())
            continue
        found = checker.resolve(index, event)
        checker.check(index, event, found)
        resolved.append(found)
    if checker.refusals:
        raise CaptureRefused(403, "not your organisation's lot", checker.refusals + checker.problems)
    if checker.problems:
        raise CaptureRefused(400, "the events do not match Tem's records", checker.problems)
    assert actor.organisation_id is not None
    ids = []
    for event, found in zip(events, resolved, strict=True):
        row = store.record(
            session,
            event,
            origin=EventOrigin.CAPTURE,
            organisation_id=actor.organisation_id,
            objects=_merged(found.objects),
            capture_job_id=job.id,
            keep_event_id=True,
        )
        ids.append(row.event_id)
        if _is_shipping(event):
            for org_id in _consignees(session, event):
                for lot_id in found.lots:
                    grant_custody(session, lot_id, org_id, row.id)
    return ids


def _merged(objects: list[NamedObject]) -> list[NamedObject]:
    """Consecutive serials of one lot and field become one range row: a pallet of stamps is a few rows."""
    singles = sorted(
        (o for o in objects if o.serial_first is not None),
        key=lambda o: (o.field, o.gtin or "", o.lot_id or 0, o.serial_first or 0),
    )
    merged: list[NamedObject] = [o for o in objects if o.serial_first is None]
    current: NamedObject | None = None
    for item in singles:
        if (
            current is not None
            and (current.field, current.gtin, current.lot_id) == (item.field, item.gtin, item.lot_id)
            and item.serial_first is not None
            and current.serial_last is not None
            and item.serial_first <= current.serial_last + 1
        ):
            last = max(current.serial_last, item.serial_last or 0)
            current = NamedObject(
                current.field, None, current.gtin, current.lot, current.serial_first, last, current.lot_id
            )
            continue
        if current is not None:
            merged.append(current)
        current = NamedObject(item.field, None, item.gtin, item.lot, item.serial_first, item.serial_last, item.lot_id)
    if current is not None:
        merged.append(current)
    return merged


def new_job(session: Session, actor: Principal) -> CaptureJob:
    assert actor.organisation_id is not None
    job = CaptureJob(organisation_id=actor.organisation_id, status="running", event_count=0, errors=[])
    session.add(job)
    session.flush()
    return job


def job_for(session: Session, actor: Principal, job_id: int) -> CaptureJob | None:
    job = session.get(CaptureJob, job_id)
    if job is None or job.organisation_id != actor.organisation_id:
        return None
    return job
