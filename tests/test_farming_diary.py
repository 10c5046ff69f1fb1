"""The farming diary through the API: entries, corrections, who may read and write, and the gates it sets on
activation (pre-harvest intervals, banned ingredients, the phytosanitary certificate), in vi, en and zh."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from issuer.activation_gates import load, normalise
from portal.endpoints import csrf_token
from tem.core.settings import Settings
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, ok, order, setup_packer
from tests.test_trace_page import path_of

AREA = "VN-TGOR-0123"
HARVEST = "2026-06-02"


def _lot(world: World, harvest: str = HARVEST, code: str = "LOT-1", **kwargs: Any) -> dict[str, Any]:
    return setup_packer(
        world.client, world.packer, lot=code, lot_extra={"harvest_dates": [harvest], "packing_date": harvest}, **kwargs
    )


def _diary(world: World, who: dict[str, str] | None = None, area: str = AREA, **entry: Any) -> Any:
    return world.client.post(f"/api/v1/growing-areas/{area}/diary", headers=who or world.packer, json=entry)


def _spray(world: World, date: str, product: str, ingredients: list[str], **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = ok(
        _diary(world, date=date, kind="spray", product=product, active_ingredients=ingredients, **more), 201
    )
    return body


def _activate(client: TestClient, headers: dict[str, str], lot: str = "LOT-1", **extra: str) -> Any:
    made = order(client, headers, GTIN_A, 5)
    body = {"gtin": GTIN_A, "first_serial": made["first_serial"], "last_serial": made["last_serial"], "lot": lot}
    return client.post("/api/v1/activations", headers={**headers, **extra}, json=body)


def test_a_spray_inside_its_interval_blocks_activation_naming_the_entry_and_the_first_safe_date(world: World) -> None:
    _lot(world)
    spray = _spray(world, "2026-05-30", "Abatin 5.4EC", ["Abamectin"], phi_days=7, dose=0.5, unit="l/ha")
    refused = _activate(world.client, world.packer)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "phi_not_passed"
    assert f"diary entry {spray['id']} (2026-05-30, Abatin 5.4EC)" in error["message"]
    assert "the first safe harvest date is 2026-06-06" in error["message"]
    assert ok(world.client.get("/api/v1/activations", headers=world.packer)) == []


def test_the_same_spray_before_a_lot_harvested_30_days_later_lets_it_activate(world: World) -> None:
    _lot(world, harvest="2026-07-02")
    _spray(world, "2026-05-30", "Abatin 5.4EC", ["abamectin"], phi_days=7)
    ok(_activate(world.client, world.packer), 201)


def test_without_phi_days_a_spray_takes_the_longest_default_of_its_ingredients(world: World) -> None:
    _lot(world)
    # abamectin 7 days, imidacloprid 14 days in the shipped file: the spray counts 14 days.
    spray = _spray(world, "2026-05-22", "Mix", ["abamectin", "Imidacloprid"])
    assert spray["phi_days"] is None
    assert spray["effective_phi_days"] == 14
    error = _activate(world.client, world.packer).json()["error"]
    assert "first safe harvest date is 2026-06-05" in error["message"]


@pytest.mark.parametrize("written", ["paraquat", "Paraquat Dichloride", "  paraquat-dichloride "])
def test_a_paraquat_spray_blocks_activation_naming_the_ingredient_and_its_legal_source(
    world: World, written: str
) -> None:
    _lot(world)
    spray = _spray(world, "2026-01-10", "Gramoxone", [written])
    assert spray["banned_ingredients"] == [written.strip()]
    refused = _activate(world.client, world.packer)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "banned_ingredient"
    assert f"diary entry {spray['id']} (2026-01-10, Gramoxone)" in error["message"]
    assert "banned in Vietnam (Decision 278/QĐ-BNN-BVTV" in error["message"]


def test_a_banned_ingredient_more_than_12_months_before_harvest_does_not_block(world: World) -> None:
    _lot(world)
    _spray(world, "2025-05-01", "Gramoxone", ["paraquat"], phi_days=7)
    ok(_activate(world.client, world.packer), 201)


def test_a_correction_supersedes_an_entry_which_is_kept_and_listed(world: World) -> None:
    _lot(world)
    wrong = _spray(world, "2026-05-30", "Abatin 5.4EC", ["abamectin"], phi_days=7)
    assert _activate(world.client, world.packer).status_code == 409
    fixed = _spray(world, "2026-05-20", "Abatin 5.4EC", ["abamectin"], phi_days=7, corrects=wrong["id"])
    assert fixed["corrects"] == wrong["id"]
    listed = ok(world.client.get(f"/api/v1/growing-areas/{AREA}/diary", headers=world.packer))
    assert [(e["id"], e["superseded_by"]) for e in listed] == [(fixed["id"], None), (wrong["id"], fixed["id"])]
    ok(_activate(world.client, world.packer), 201)
    # One correction per entry: a second one corrects the correction instead.
    again = _diary(world, date="2026-05-19", kind="spray", product="x", corrects=wrong["id"])
    assert again.status_code == 409
    elsewhere = _diary(world, date="2026-05-19", kind="pruning", corrects=999_999)
    assert elsewhere.status_code == 404


def test_entries_cannot_be_changed_or_deleted_and_every_entry_is_audited(world: World, settings: Settings) -> None:
    _lot(world)
    entry = ok(_diary(world, date="2026-05-01", kind="fertiliser", product="NPK 20-20-15", dose=2, unit="kg/tree"), 201)
    path = f"/api/v1/growing-areas/{AREA}/diary"
    for method in ("PUT", "PATCH", "DELETE"):
        assert world.client.request(method, f"{path}/{entry['id']}", headers=world.packer).status_code in (404, 405)
        assert world.client.request(method, path, headers=world.packer).status_code == 405
    assert _diary(world, date="2026-05-01", kind="fertiliser", phi_days=3).status_code == 422  # PHI: sprays only
    assert _diary(world, date="2026-05-01", kind="weeding").status_code == 422
    from sqlalchemy import select

    from issuer.models import AuditEvent
    from tem.core.db import Database

    db = Database(settings.effective_database_url)
    with db.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "diary.entry_recorded")).all()
    db.dispose()
    assert [(e.subject, e.details["entry"]) for e in events] == [(f"growing_area:{AREA}", entry["id"])]
    assert events[0].details["pesticides_version"] == load().version


def test_who_may_read_and_write_the_diary(world: World, settings: Settings) -> None:
    from tests.test_growing_area_register import province_token

    _lot(world)
    _spray(world, "2026-05-01", "Abatin", ["abamectin"])
    path = f"/api/v1/growing-areas/{AREA}/diary"
    assert len(ok(world.client.get(path, headers=world.ministry))) == 1
    assert len(ok(world.client.get(path, headers=world.inspector))) == 1
    assert world.client.get(path, headers=world.other_packer).status_code == 404
    assert _diary(world, world.other_packer, date="2026-05-01", kind="pruning").status_code == 404
    assert _diary(world, world.ministry, date="2026-05-01", kind="pruning").status_code == 403
    assert _diary(world, world.inspector, date="2026-05-01", kind="pruning").status_code == 403
    assert world.client.get(path).status_code == 401
    assert len(ok(world.client.get(path, headers=world.packer))) == 1
    own_province = province_token(settings, "SO-TG", "Tiền Giang")  # the area's province
    assert len(ok(world.client.get(path, headers=own_province))) == 1
    other_province = province_token(settings, "SO-DL", "Đắk Lắk")
    assert world.client.get(path, headers=other_province).status_code == 404
    assert _diary(world, own_province, date="2026-05-01", kind="pruning").status_code == 403


def test_a_replaced_pesticide_file_changes_the_outcome(world: World, settings: Settings, tmp_path: Path) -> None:
    _lot(world)
    _spray(world, "2026-05-20", "Novel", ["Examplecide"])  # unknown to the shipped file: no interval, not banned
    ok(_activate(world.client, world.packer), 201)
    rules = tmp_path / "pesticides.toml"
    rules.write_text(
        'version = "test-1"\n'
        '[[banned]]\nname = "examplecide"\nsynonyms = []\nsource = "Test Circular 1/2026"\n'
        '[[phi]]\nname = "abamectin"\nsynonyms = []\ndays = 30\nnote = "test"\n',
        encoding="utf-8",
    )
    replaced = settings.model_copy(update={"pesticide_file": rules})
    from tem.app import create_app

    with TestClient(create_app(replaced), base_url=BASE_URL) as client:
        body = {"gtin": GTIN_A, "first_serial": 0, "last_serial": 0, "lot": "LOT-1"}
        made = order(client, world.packer, GTIN_A, 5)
        body |= {"first_serial": made["first_serial"], "last_serial": made["last_serial"]}
        refused = client.post("/api/v1/activations", headers=world.packer, json=body)
        assert refused.status_code == 409
        assert "Examplecide, which is banned in Vietnam (Test Circular 1/2026)" in refused.json()["error"]["message"]


def test_require_phyto_refuses_an_export_lot_without_a_certificate_and_accepts_it_with_one(
    world: World, settings: Settings
) -> None:
    lot = _lot(world, phyto=False)["lot"]
    refused = _activate(world.client, world.packer)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "phyto_missing"
    assert "lot LOT-1 is for export (CN)" in refused.json()["error"]["message"]
    from tem.app import create_app

    with TestClient(create_app(settings.model_copy(update={"require_phyto": False})), base_url=BASE_URL) as client:
        ok(_activate(client, world.packer), 201)
    certificate = {"kind": "phytosanitary", "number": "KDTV-1", "issued_on": "2026-06-02"}
    ok(world.client.post(f"/api/v1/lots/{lot['id']}/documents", headers=world.packer, json=certificate), 201)
    ok(_activate(world.client, world.packer), 201)


def test_a_home_market_lot_needs_no_certificate(world: World) -> None:
    setup_packer(world.client, world.packer, lot_extra={"destination_markets": ["VN"]}, phyto=False)
    ok(_activate(world.client, world.packer), 201)


@pytest.mark.parametrize(
    ("accept", "words"),
    [
        (None, "is a spray whose 7-day pre-harvest interval has not passed"),
        ("en-GB,en;q=0.9", "the first safe harvest date is 2026-06-06"),
        ("vi-VN,vi;q=0.9", "thời gian cách ly 7 ngày, chưa hết vào ngày thu hoạch 2026-06-02"),
        ("zh-CN,zh;q=0.9", "安全间隔期至采收日 2026-06-02 尚未届满；最早安全采收日期为 2026-06-06"),
    ],
)
def test_refusals_answer_in_the_language_asked_for(world: World, accept: str | None, words: str) -> None:
    _lot(world)
    _spray(world, "2026-05-30", "Abatin", ["abamectin"], phi_days=7)
    extra = {"Accept-Language": accept} if accept else {}
    error = _activate(world.client, world.packer, **extra).json()["error"]
    assert words in error["message"]
    assert (error["code"], error["field"]) == ("phi_not_passed", "lot")


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("vi", "giấy chứng nhận kiểm dịch thực vật"),
        ("en", "has no phytosanitary certificate attached"),
        ("zh", "尚未附植物检疫证书"),
    ],
)
def test_refusals_in_the_portal_are_in_the_packers_language(world: World, lang: str, words: str) -> None:
    _lot(world, phyto=False)
    made = order(world.client, world.packer, GTIN_A, 5)
    token = world.packer["Authorization"].removeprefix("Bearer ")
    assert world.client.post(f"/portal/login?lang={lang}", data={"token": token}, follow_redirects=False).is_redirect
    csrf = csrf_token(world.client.cookies["tem_inspect"])
    form = {"csrf": csrf, "first": str(made["first_serial"]), "last": str(made["last_serial"]), "lot": "LOT-1"}
    refused = world.client.post(f"/portal/activations?lang={lang}", data=form)
    assert refused.status_code == 409
    assert words in refused.text


def test_ingredient_names_match_ignoring_case_hyphens_and_spaces() -> None:
    pesticides = load()
    assert normalise("  Paraquat-Dichloride ") == "paraquat dichloride"
    assert pesticides.banned_in(["PARAQUAT  dichloride"]) is not None
    assert pesticides.banned_in(["2,4-D"]) is not None
    assert pesticides.banned_in(["chlorpyrifos-methyl"]) is None  # not chlorpyrifos (ethyl)
    assert pesticides.default_phi(["Emamectin Benzoate"]) == 7
    assert all(b.source for b in pesticides.banned.values())


@pytest.fixture
def traced(world: World) -> str:
    """A lot with three sprays in its season, all intervals respected, activated and scanned: its trace page."""
    _lot(world)
    for day in ("2026-04-01", "2026-04-20", "2026-05-12"):
        _spray(world, day, "Abatin", ["abamectin"], phi_days=7)
    ok(_diary(world, date="2026-05-14", kind="irrigation"), 201)
    made = order(world.client, world.packer, GTIN_A, 5)
    body = {"gtin": GTIN_A, "first_serial": made["first_serial"], "last_serial": made["last_serial"], "lot": "LOT-1"}
    ok(world.client.post("/api/v1/activations", headers=world.packer, json=body), 201)
    uris = world.client.get(f"/api/v1/orders/{made['id']}/stamps.csv", headers=world.packer).text.splitlines()[1:]
    redirect = world.client.get(path_of(uris[0]), follow_redirects=False)
    assert redirect.status_code == 307, redirect.text
    return path_of(redirect.headers["location"])


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("vi", "3 lần phun thuốc trong vụ này, lần cuối ngày 12/05/2026; đều đúng thời gian cách ly"),
        ("en", "3 sprays this season, last on 12 May 2026; all intervals respected"),
        ("zh", "本季喷药 3 次，最后一次 2026年5月12日；均遵守安全间隔期"),
    ],
)
def test_the_trace_page_summarises_each_areas_diary(world: World, traced: str, lang: str, words: str) -> None:
    separator = "&" if "?" in traced else "?"
    page = world.client.get(f"{traced}{separator}lang={lang}")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert words in text, text[:4000]


def test_evidence_files_are_stored_with_their_hash(world: World) -> None:
    _lot(world)
    image = b"\x89PNG\r\n\x1a\n" + b"sentinel-2 scene" * 100
    path = f"/api/v1/growing-areas/{AREA}/evidence"
    files = {"file": ("../scene 2026-05.png", image, "image/png")}
    made = ok(
        world.client.post(
            path, headers=world.packer, files=files, data={"kind": "imagery", "captured_on": "2026-05-01"}
        ),
        201,
    )
    assert made["sha256"] == hashlib.sha256(image).hexdigest()
    assert (made["size"], made["content_type"], made["filename"]) == (len(image), "image/png", "scene 2026-05.png")
    assert [e["sha256"] for e in ok(world.client.get(path, headers=world.ministry))] == [made["sha256"]]
    assert world.client.get(path, headers=world.other_packer).status_code == 404
    bad = world.client.post(path, headers=world.packer, files={"file": ("x.exe", b"MZ...", "image/png")}, data={})
    assert bad.status_code == 422
    odd = world.client.post(
        path, headers=world.packer, files={"file": ("x.png", image, "image/png")}, data={"kind": "x"}
    )
    assert odd.status_code == 422
    assert world.client.post(path, headers=world.ministry, files=files, data={"kind": "imagery"}).status_code == 403


def test_a_harvest_event_carries_the_lots_growing_areas_and_their_status(world: World) -> None:
    import jsonschema

    from tests.test_epcis_chain import SCHEMA

    lot = _lot(world)["lot"]
    harvest = {"stage": "harvest", "occurred_at": "2026-06-02T06:00:00+07:00", "place": "Cái Bè", "country": "VN"}
    ok(world.client.post(f"/api/v1/lots/{lot['id']}/stages", headers=world.packer, json=harvest), 201)
    doc = ok(world.client.get("/api/v1/epcis/events", headers=world.packer, params={"EQ_bizStep": "commissioning"}))
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(doc)
    [event] = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["ilmd"]["tem:growingAreas"] == [{"code": AREA, "status": "active"}]
    assert event["ilmd"]["tem:harvestDates"] == [HARVEST]
