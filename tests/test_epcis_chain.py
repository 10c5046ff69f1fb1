"""EPCIS 2.0 capture and query for every actor along the chain, and Tem's own records as events."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select

from epcis.eventhash import event_hash_id
from epcis.store import TEM_NAMESPACE
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, ok, order, setup_packer

SCHEMA = json.loads((Path(__file__).resolve().parent / "data" / "gs1" / "epcis-2.0-json-schema.json").read_text())
CONTEXT = ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"]
D1_GLN = "8936000000028"
SSCC = "389360000000000012"


def valid(doc: dict[str, Any]) -> dict[str, Any]:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    validator.validate(doc)
    return doc


def stamp(serial: int, host: str = BASE_URL) -> str:
    return f"{host}/01/{GTIN_A}/21/{serial}"


def lot_class(lot: str = "LOT-1") -> str:
    return f"https://id.gs1.org/01/{GTIN_A}/10/{lot}"


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-06-10T08:00:00.000+08:00",
        "epcisBody": {"eventList": list(events)},
    }


def receiving(*epcs: str, when: str = "2026-06-07T10:00:00.000+08:00", **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": when,
        "eventTimeZoneOffset": "+08:00",
        "epcList": list(epcs),
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "readPoint": {"id": "geo:22.817000,108.366000"},
        "bizLocation": {"id": f"https://id.gs1.org/414/{D1_GLN}"},
        **extra,
    }


def _org_token(
    world: World,
    settings: Any,
    code: str,
    gln: str | None,
    kind: str = "distributor",
    role: str = "distributor",
    province: str = "Guangxi, CN",
) -> dict[str, str]:
    from identity.principal import operator
    from issuer import schemas, service
    from tem.core.db import Database

    db = Database(settings.effective_database_url)
    with db.session() as session:
        service.create_organisation(
            session,
            settings,
            operator("test"),
            schemas.OrganisationCreate(
                kind=kind,  # type: ignore[arg-type]
                name=f"Importer {code}",
                code=code,
                province=province,
                gln=gln,
            ),
        )
        _row, token = service.create_token(
            session,
            operator("test"),
            schemas.TokenCreate(organisation=code, role=role, name=code),  # type: ignore[arg-type]
        )
    db.dispose()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def chain(world: World, settings: Any) -> dict[str, Any]:
    """A lot with stamps 1..10 activated, shipped to importer D1; D2 is an importer it was not shipped to."""
    setup_packer(world.client, world.packer)
    placed = order(world.client, world.packer, GTIN_A, 10)
    ok(
        world.client.post(
            "/api/v1/activations",
            headers=world.packer,
            json={
                "gtin": GTIN_A,
                "first_serial": placed["first_serial"],
                "last_serial": placed["last_serial"],
                "lot": "LOT-1",
            },
        ),
        201,
    )
    d1 = _org_token(world, settings, "CN-IMP-01", D1_GLN)
    d2 = _org_token(world, settings, "CN-IMP-02", None)
    lot_id = ok(world.client.get("/api/v1/lots", headers=world.packer))[0]["id"]
    shipped = ok(
        world.client.post(
            f"/api/v1/lots/{lot_id}/stages",
            headers=world.packer,
            json={"stage": "shipping", "occurred_at": "2026-06-05T20:00:00+07:00", "consignee": "cn-imp-01"},
        ),
        201,
    )
    assert shipped["consignee"] == "CN-IMP-01"
    return {"d1": d1, "d2": d2, "lot_id": lot_id, "first": placed["first_serial"]}


def capture(world: World, who: dict[str, str], doc: Any) -> Any:
    return world.client.post("/api/v1/epcis/capture", headers=who, json=doc)


def events(world: World, who: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = world.client.get("/api/v1/epcis/events", headers=who, params=params)
    assert response.status_code == 200, response.text
    body = valid(response.json())
    assert body["type"] == "EPCISQueryDocument"
    found: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return found


def test_consignee_captures_receiving_and_the_job_reports_success(world: World, chain: dict[str, Any]) -> None:
    first = chain["first"]
    doc = valid(document(receiving(stamp(first), stamp(first + 1, "HTTPS://TEM.Example.ORG"), stamp(first + 2))))
    response = capture(world, chain["d1"], doc)
    assert response.status_code == 202, response.text
    job_url = response.headers["location"]
    job = ok(world.client.get(job_url, headers=chain["d1"]))
    assert job["success"] is True
    assert job["running"] is False
    assert job["eventCount"] == 1
    assert job["errors"] == []
    # Another organisation cannot read someone else's job.
    assert world.client.get(job_url, headers=chain["d2"]).status_code == 404

    found = events(world, chain["d1"], MATCH_epc=stamp(first + 1), EQ_bizStep="receiving")
    assert len(found) == 1
    assert found[0]["eventID"].startswith("ni:///sha-256;")
    # Sending the same document again records nothing new: the event's id is its hash.
    assert capture(world, chain["d1"], doc).status_code == 202
    assert len(events(world, chain["d1"], EQ_bizStep="receiving")) == 1


def test_an_organisation_not_shipped_the_lot_is_refused(world: World, chain: dict[str, Any]) -> None:
    response = capture(world, chain["d2"], document(receiving(stamp(chain["first"]))))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert "LOT-1" in body["detail"]
    assert body["errors"][0]["pointer"] == "/epcisBody/eventList/0"
    job = ok(world.client.get(response.headers["location"], headers=chain["d2"]))
    assert job["success"] is False
    assert "not shipped to you" in job["errors"][0]["detail"]
    assert events(world, chain["d1"], EQ_bizStep="receiving") == []
    # Nor may the other packing house, an inspector, the ministry or an anonymous caller capture.
    for who, status in ((world.other_packer, 403), (world.inspector, 403), (world.ministry, 403), ({}, 401)):
        assert capture(world, who, document(receiving(stamp(chain["first"])))).status_code == status


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda d: d["epcisBody"]["eventList"][0].pop("eventTime"), "/epcisBody/eventList/0"),
        (lambda d: d["epcisBody"]["eventList"][0].update(action="MAYBE"), "/epcisBody/eventList/0/action"),
        (lambda d: d.pop("schemaVersion"), ""),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(eventTimeZoneOffset="+25:00"),
            "/epcisBody/eventList/0/eventTimeZoneOffset",
        ),
    ],
)
def test_a_malformed_document_gets_400_naming_the_pointer(
    world: World, chain: dict[str, Any], mutate: Any, pointer: str
) -> None:
    doc = document(receiving(stamp(chain["first"])))
    mutate(doc)
    response = capture(world, chain["d1"], doc)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == 400
    assert any(error["pointer"] == pointer for error in body["errors"]), body


def test_not_json_and_not_a_document(world: World, chain: dict[str, Any]) -> None:
    raw = world.client.post(
        "/api/v1/epcis/capture", headers={**chain["d1"], "content-type": "application/json"}, content=b"{nope"
    )
    assert raw.status_code == 400
    assert "not JSON" in raw.json()["detail"]
    assert capture(world, chain["d1"], [1, 2]).status_code == 400


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (receiving(stamp(999)), "no activated Tem stamp"),
        (receiving(f"{BASE_URL}/01/{GTIN_A}/21/0"), "not a Tem serial"),
        (receiving(f"{BASE_URL}/01/{GTIN_A}/21/99999999999999999999"), "not a Tem serial"),
        (receiving(f"{BASE_URL}/01/{GTIN_A}/10/OTHER/21/1"), "belongs to lot LOT-1"),
        (receiving(stamp(1), when="2026-05-01T10:00:00.000+08:00"), "before the lot's first harvest"),
        (receiving(stamp(1), when="2099-05-01T10:00:00.000+08:00"), "in the future"),
        (receiving("urn:example:thing"), "names no stamp or lot"),
    ],
)
def test_events_that_do_not_match_the_registry_are_refused(
    world: World, chain: dict[str, Any], event: dict[str, Any], words: str
) -> None:
    response = capture(world, chain["d1"], document(event))
    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]
    assert events(world, chain["d1"], EQ_bizStep="receiving") == []


def test_aggregation_transformation_and_onward_shipping(world: World, chain: dict[str, Any]) -> None:
    first = chain["first"]
    pallet = f"https://id.gs1.org/00/{SSCC}"
    aggregation = {
        "type": "AggregationEvent",
        "eventTime": "2026-06-07T11:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "parentID": pallet,
        "childEPCs": [stamp(first + i) for i in range(5)],
        "action": "ADD",
        "bizStep": "packing",
        "disposition": "in_progress",
    }
    new_class = "https://id.gs1.org/01/06901234567892/10/NN-REPACK-7"
    transformation = {
        "type": "TransformationEvent",
        "eventTime": "2026-06-08T09:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "inputQuantityList": [{"epcClass": lot_class(), "quantity": 200, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": new_class, "quantity": 198, "uom": "KGM"}],
        "bizStep": "repackaging",
    }
    onward = receiving(
        stamp(first + 6),
        when="2026-06-09T09:00:00.000+08:00",
        bizStep="shipping",
        action="OBSERVE",
        disposition="in_transit",
        destinationList=[{"type": "owning_party", "destination": "urn:tem:org:CN-IMP-02"}],
    )
    # D2 cannot record anything for the lot yet; after D1 ships to it, it can.
    assert capture(world, chain["d2"], document(receiving(stamp(first + 6)))).status_code == 403
    response = capture(world, chain["d1"], valid(document(aggregation, transformation, onward)))
    assert response.status_code == 202, response.text
    assert (
        capture(
            world, chain["d2"], document(receiving(stamp(first + 6), when="2026-06-10T07:00:00.000+08:00"))
        ).status_code
        == 202
    )

    by_pallet = events(world, chain["d1"], MATCH_anyEPC=pallet)
    assert [e["type"] for e in by_pallet] == ["AggregationEvent"]
    assert events(world, chain["d1"], MATCH_epc=pallet) == []  # a parent is not an EPC of MATCH_epc
    assert [
        e["type"] for e in events(world, chain["d1"], MATCH_epc=stamp(first + 3), eventType="AggregationEvent")
    ] == ["AggregationEvent"]
    assert [e["type"] for e in events(world, chain["d1"], MATCH_anyEPCClass=new_class)] == ["TransformationEvent"]
    assert events(world, chain["d1"], MATCH_epcClass=new_class) == []  # outputs are only in MATCH_anyEPCClass


def test_query_parameters_and_pages(world: World, chain: dict[str, Any]) -> None:
    first = chain["first"]
    for day in (7, 8, 9):
        when = f"2026-06-0{day}T10:00:00.000+08:00"
        assert capture(world, chain["d1"], document(receiving(stamp(first + day), when=when))).status_code == 202

    mine = events(world, chain["d1"])
    # The packer's harvest-free lot: its shipping stage and the activation, then the three receivings.
    assert {e.get("bizStep") for e in mine} == {"commissioning", "shipping", "receiving"}
    in_window = events(
        world, chain["d1"], GE_eventTime="2026-06-08T00:00:00+08:00", LT_eventTime="2026-06-09T00:00:00+08:00"
    )
    assert [e["eventTime"] for e in in_window] == ["2026-06-08T10:00:00.000+08:00"]
    located = events(world, chain["d1"], EQ_bizLocation=f"https://id.gs1.org/414/{D1_GLN}")
    assert len(located) == 3
    full_form = events(world, chain["d1"], EQ_bizStep="https://ref.gs1.org/cbv/BizStep-receiving")
    assert len(full_form) == 3
    # The activation's range names every stamp without a row per stamp: MATCH_epc finds it.
    commissioning = events(world, chain["d1"], MATCH_epc=stamp(first + 9), EQ_bizStep="commissioning")
    assert commissioning[0]["quantityList"][0]["quantity"] == 10
    by_class = events(world, chain["d1"], MATCH_epcClass=f"{BASE_URL}/01/{GTIN_A}/10/LOT-1")
    assert {e["bizStep"] for e in by_class} == {"commissioning", "shipping"}

    seen: list[str] = []
    url: str | None = "/api/v1/epcis/events?perPage=2&EQ_bizStep=receiving,shipping"
    while url:
        response = world.client.get(url, headers=chain["d1"])
        assert response.status_code == 200
        seen += [e["eventID"] for e in response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
        link = response.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert len(seen) == 4
    assert len(set(seen)) == 4

    for params in ({"MATCH_epc": "not a uri"}, {"nextPageToken": "garbage"}, {"GE_eventTime": "2026-06-08T00:00:00"}):
        bad = world.client.get("/api/v1/epcis/events", headers=chain["d1"], params=params)
        assert bad.status_code == 400, (params, bad.text)


def test_who_sees_which_events(world: World, chain: dict[str, Any], settings: Any) -> None:
    assert capture(world, chain["d1"], document(receiving(stamp(chain["first"])))).status_code == 202
    everything = {e["eventID"] for e in events(world, world.ministry)}
    assert len(everything) == 3  # activation, shipping, receiving
    assert {e["eventID"] for e in events(world, world.inspector)} == everything
    assert {e["eventID"] for e in events(world, world.packer)} == everything
    assert {e["eventID"] for e in events(world, chain["d1"])} == everything
    assert events(world, chain["d2"]) == []
    assert events(world, world.other_packer) == []
    for province, sees in (("Tiền Giang", everything), ("Đắk Lắk", set())):
        officer = _org_token(world, settings, f"SO-{len(sees)}", None, "province_authority", "province", province)
        assert {e["eventID"] for e in events(world, officer)} == sees
    assert world.client.get("/api/v1/epcis/events").status_code == 401


def test_tem_records_its_own_events_with_hash_ids_and_real_locations(world: World, chain: dict[str, Any]) -> None:
    ok(
        world.client.post(
            f"/api/v1/lots/{chain['lot_id']}/stages",
            headers=world.packer,
            json={
                "stage": "receiving",
                "occurred_at": "2026-06-03T15:00:00+07:00",
                "place": "Cái Bè",
                "latitude": 10.34,
                "longitude": 105.94,
            },
        ),
        201,
    )
    ok(
        world.client.post(
            "/api/v1/revocations",
            headers=world.packer,
            json={
                "gtin": GTIN_A,
                "first_serial": chain["first"] + 9,
                "last_serial": chain["first"] + 9,
                "category": "misprinted",
                "reason": "roll torn, destroyed by Mr. Tran",
            },
        ),
        201,
    )
    own = events(world, world.ministry)
    by_step = {e["bizStep"]: e for e in own}
    assert set(by_step) == {"commissioning", "shipping", "receiving", "decommissioning"}
    for event in own:
        assert event["eventID"] == event_hash_id(event, {"tem": TEM_NAMESPACE})
        for where in ("readPoint", "bizLocation"):
            if where in event:
                assert event[where]["id"].startswith(("geo:", "https://id.gs1.org/414/"))
    assert by_step["receiving"]["readPoint"] == {"id": "geo:10.340000,105.940000"}
    assert by_step["shipping"]["destinationList"] == [
        {"type": "owning_party", "destination": f"https://id.gs1.org/414/{D1_GLN}"}
    ]
    assert "torn" not in json.dumps(by_step["decommissioning"])  # the packer's own words stay private
    assert by_step["decommissioning"]["action"] == "DELETE"

    public = world.client.get("/api/v1/public/lot-events", params={"gtin": GTIN_A, "lot": "LOT-1"})
    assert public.status_code == 200
    doc = valid(public.json())
    assert {e["bizStep"] for e in doc["epcisBody"]["eventList"]} == set(by_step)


def test_a_stage_consignee_must_be_a_distributor_and_only_for_shipping(world: World, chain: dict[str, Any]) -> None:
    url = f"/api/v1/lots/{chain['lot_id']}/stages"
    when = "2026-06-05T20:00:00+07:00"
    for body, words in (
        ({"stage": "shipping", "occurred_at": when, "consignee": "NOBODY"}, "no organisation"),
        ({"stage": "shipping", "occurred_at": when, "consignee": "BNNMT"}, "cannot receive a lot"),
        ({"stage": "packing", "occurred_at": when, "consignee": "CN-IMP-02"}, "only a shipping stage"),
        ({"stage": "packing", "occurred_at": when, "latitude": 10.0}, "both latitude and longitude"),
    ):
        response = world.client.post(url, headers=world.packer, json=body)
        assert response.status_code == 422, response.text
        assert words in response.text


def test_the_trace_page_shows_every_actors_stages_and_who_recorded_them(world: World, chain: dict[str, Any]) -> None:
    arrived = receiving(stamp(chain["first"]), when="2026-06-07T10:00:00.000+08:00")
    assert capture(world, chain["d1"], document(arrived)).status_code == 202
    words = {
        "vi": ("Nhận hàng", "Ghi nhận bởi Importer CN-IMP-01", "Ghi nhận bởi Cơ sở đóng gói A"),
        "en": ("Received", "Recorded by Importer CN-IMP-01", "Recorded by Cơ sở đóng gói A"),
        "zh": ("收货", "记录方：Importer CN-IMP-01", "记录方：Cơ sở đóng gói A"),
    }
    for lang, (step, importer, packer) in words.items():
        page = world.client.get(f"/01/{GTIN_A}/10/LOT-1?lang={lang}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert step in text
        assert importer in text
        assert packer in text
        assert text.index(packer) < text.index(importer)  # shipped by the packer, then received in China


def test_records_made_before_events_were_kept_get_theirs_on_upgrade(
    world: World, chain: dict[str, Any], env: dict[str, str], settings: Any
) -> None:
    from click.testing import CliRunner
    from sqlalchemy import delete

    from epcis.models import EpcisEvent, EventObject, LotCustody, PortalOutbox
    from tem.cli import main
    from tem.core.db import Database

    before = {e["eventID"] for e in events(world, world.ministry)}
    db = Database(settings.effective_database_url)
    with db.session() as session:  # a database as it was before migration 0012 filled these tables
        for table in (PortalOutbox, LotCustody, EventObject, EpcisEvent):
            session.execute(delete(table))
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "recorded 2 EPCIS events of earlier stages, activations and revocations" in result.stderr
    assert {e["eventID"] for e in events(world, world.ministry)} == before  # the same ids: each is its hash
    with db.session() as session:
        assert len(session.scalars(select(PortalOutbox)).all()) == 2  # queued for the national portal too
    again = CliRunner().invoke(main, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert "recorded" not in again.stderr
    db.dispose()
