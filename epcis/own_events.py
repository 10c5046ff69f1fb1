"""What Tem records itself, as EPCIS 2.0 events: a packing house's stages, each activation (commissioning) and
each revocation (decommissioning). Stamps and lots are named on GS1's canonical host; a stamp range is one
class-level quantity plus `tem:serialRange`, never one URI per stamp.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from epcis.identifiers import GS1_HOST, gln_uri, lot_class_uri
from epcis.models import ObjectField
from epcis.store import NamedObject, offset_text, time_text

VIETNAM = dt.timezone(dt.timedelta(hours=7))
#: The zone a stage's time is written in: its country's (where it has one), else Vietnam's. Records keep UTC
#: only, so the zone comes from what is stored and an event reads the same, hence hashes the same, every time.
COUNTRY_ZONES = {
    code: dt.timezone(dt.timedelta(hours=hours))
    for code, hours in {"VN": 7, "TH": 7, "LA": 7, "KH": 7, "ID": 7, "CN": 8, "HK": 8, "MO": 8, "TW": 8, "MY": 8,
                        "SG": 8, "PH": 8, "JP": 9, "KR": 9}.items()
}  # fmt: skip

#: A packing house's stage and the CBV business step it is. A harvest creates the lot (GS1's fresh produce
#: guideline records it as commissioning the lot class, with the harvest in its master data).
STAGE_BIZ_STEPS = {
    "harvest": "commissioning",
    "receiving": "receiving",
    "packing": "packing",
    "shipping": "shipping",
    "border_crossing": "departing",
    "import": "arriving",
}
STAGE_DISPOSITIONS = {"shipping": "in_transit", "border_crossing": "in_transit", "import": "in_progress"}


def party_id(code: str, gln: str | None) -> str:
    """How an organisation is named as a source or destination: its GLN, else Tem's identifier for it."""
    return gln_uri(gln) if gln else f"urn:tem:org:{code}"


def geo_uri(latitude: float, longitude: float) -> str:
    return f"geo:{latitude:.6f},{longitude:.6f}"


@dataclass(frozen=True, slots=True)
class LotRef:
    lot_id: int
    gtin: str
    code: str

    @property
    def class_uri(self) -> str:
        return lot_class_uri(GS1_HOST, self.gtin, self.code)

    def named(self, field: ObjectField = ObjectField.CLASS) -> NamedObject:
        return NamedObject(field, uri=self.class_uri, gtin=self.gtin, lot=self.code, lot_id=self.lot_id)


def _when(at: dt.datetime) -> dict[str, str]:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return {"eventTime": time_text(aware), "eventTimeZoneOffset": offset_text(aware)}


def _locations(event: dict[str, Any], org_gln: str | None, point: tuple[float, float] | None) -> None:
    # Only what can be looked up: a GLN, or a position. Never a link of Tem's own that leads nowhere.
    if point is not None:
        event["readPoint"] = {"id": geo_uri(*point)}
    if org_gln:
        event["bizLocation"] = {"id": gln_uri(org_gln)}


def stage_event(
    lot: LotRef,
    stage: str,
    occurred_at: dt.datetime,
    *,
    place: str | None,
    country: str | None,
    point: tuple[float, float] | None,
    org_code: str,
    org_gln: str | None,
    consignee: tuple[str, str | None] | None = None,
    harvest_dates: list[str] | None = None,
    growing_areas: list[dict[str, str]] | None = None,
) -> tuple[dict[str, Any], list[NamedObject]]:
    """A packing house's stage as a class-level ObjectEvent on the lot. A harvest carries the lot's harvest dates
    and its growing areas (`{"code", "status"}` each) as master data."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        **_when(occurred_at.astimezone(COUNTRY_ZONES.get(country or "", VIETNAM))),
        "action": "ADD" if stage == "harvest" else "OBSERVE",
        "bizStep": STAGE_BIZ_STEPS[stage],
        "quantityList": [{"epcClass": lot.class_uri}],
    }
    if stage in STAGE_DISPOSITIONS:
        event["disposition"] = STAGE_DISPOSITIONS[stage]
    _locations(event, org_gln, point)
    if stage == "shipping":
        event["sourceList"] = [{"type": "owning_party", "source": party_id(org_code, org_gln)}]
        if consignee is not None:
            event["destinationList"] = [{"type": "owning_party", "destination": party_id(*consignee)}]
    if stage == "harvest" and harvest_dates:
        event["ilmd"] = {"tem:harvestDates": sorted(harvest_dates)}
    if stage == "harvest" and growing_areas:
        event.setdefault("ilmd", {})["tem:growingAreas"] = sorted(growing_areas, key=lambda a: a["code"])
    if place:
        event["tem:place"] = place
    if country:
        event["tem:country"] = country
    event["tem:stage"] = stage
    return event, [lot.named()]


def commissioning_event(
    lot: LotRef, first: int, last: int, at: dt.datetime, org_gln: str | None
) -> tuple[dict[str, Any], list[NamedObject]]:
    """Stamps activated on a lot: they now stand for its fruit."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        **_when(at.astimezone(VIETNAM)),
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "quantityList": [{"epcClass": lot.class_uri, "quantity": last - first + 1, "uom": "H87"}],
        "tem:serialRange": {"gtin": lot.gtin, "first": first, "last": last},
    }
    _locations(event, org_gln, None)
    named = NamedObject(ObjectField.EPC, gtin=lot.gtin, serial_first=first, serial_last=last, lot_id=lot.lot_id)
    return event, [named, lot.named()]


def decommissioning_event(
    gtin: str, first: int, last: int, at: dt.datetime, category: str, lot: LotRef | None, org_gln: str | None
) -> tuple[dict[str, Any], list[NamedObject]]:
    """Stamps revoked. Only the category is said, never the packing house's own words."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        **_when(at.astimezone(VIETNAM)),
        "action": "DELETE",
        "bizStep": "decommissioning",
        "disposition": "inactive",
        "tem:serialRange": {"gtin": gtin, "first": first, "last": last},
        "tem:revocationCategory": category,
    }
    count = last - first + 1
    if lot is None:  # a lost roll, before any lot: the product's class
        event["quantityList"] = [{"epcClass": f"{GS1_HOST}/01/{gtin}", "quantity": count, "uom": "H87"}]
        objects = [NamedObject(ObjectField.EPC, gtin=gtin, serial_first=first, serial_last=last)]
    else:
        event["quantityList"] = [{"epcClass": lot.class_uri, "quantity": count, "uom": "H87"}]
        objects = [
            NamedObject(ObjectField.EPC, gtin=gtin, serial_first=first, serial_last=last, lot_id=lot.lot_id),
            lot.named(),
        ]
    _locations(event, org_gln, None)
    return event, objects
