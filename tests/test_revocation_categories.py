"""A revocation's category is what consumers are told; the packing house's own reason (its note) stays with the
packing house, the ministry, inspectors and the audit log, and never reaches a consumer page, a public API or a
finding's explanation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from detection.engine import default_config
from detection.engine import rules as engine_rules
from detection.engine.model import Scan, StampState
from detection.ports import RANGE_CATEGORIES, RevocationCategory
from detection.replay import Replayer
from identity.principal import operator
from issuer import schemas, service
from issuer.models import AuditEvent
from resolver.i18n import LANGUAGES, MESSAGES, revoked_line
from resolver.ranges import RangeIndex, RevokedRange
from tem.cli import main
from tem.core.db import Database
from tem.core.settings import Settings
from tem.migrate import alembic_config
from tests.conftest import World
from tests.helpers import GTIN_A, ok
from tests.resolver_helpers import flush, issue_and_activate, runtime, stamp_alerts

NOTE = "roll damaged in transit, destroyed; driver Nguyễn Văn X blamed"
ACCEPT = {"vi": "vi-VN,vi;q=0.9", "en": "en-US,en;q=0.9", "zh": "zh-CN,zh;q=0.9"}
ALLOWED = "withdrawn, stolen, recalled, misprinted, other"

# The label each category shows a consumer, in each language.
LABELS = {
    "withdrawn": {
        "vi": "Đã được cơ sở đóng gói thu hồi",
        "en": "Withdrawn by the packing house",
        "zh": "已由包装厂撤回",
    },
    "stolen": {"vi": "Đã được báo mất hoặc bị đánh cắp", "en": "Reported stolen or lost", "zh": "已报告被盗或遗失"},
    "recalled": {
        "vi": "Bị thu hồi vì lý do an toàn hoặc chất lượng",
        "en": "Recalled for safety or quality",
        "zh": "因安全或质量原因被召回",
    },
    "misprinted": {"vi": "Tem bị in lỗi", "en": "Printed in error", "zh": "标签印制有误"},
    "other": {"vi": "Khác", "en": "Other", "zh": "其他"},
    "key_withdrawn": {
        "vi": "Khóa ký của tem đã bị thu hồi",
        "en": "The key that signed it was withdrawn",
        "zh": "签发此标签的密钥已被撤回",
    },
}


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def revoke(world: World, serial: int, category: str | None, note: str = NOTE, **extra: Any) -> Any:
    body: dict[str, Any] = {"gtin": GTIN_A, "first_serial": serial, "last_serial": serial, "reason": note, **extra}
    if category is not None:
        body["category"] = category
    return world.client.post("/api/v1/revocations", headers=world.packer, json=body)


def audit_events(world: World, action: str) -> list[AuditEvent]:
    state: Any = world.client.app.state.tem  # type: ignore[attr-defined]
    with state.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_every_category_has_words_in_each_language_and_the_engine_uses_the_same() -> None:
    assert {c.value for c in RevocationCategory} == set(LABELS)
    assert [c.value for c in RANGE_CATEGORIES] == ALLOWED.split(", ")
    scan = Scan("s1", 0.0, GTIN_A, "1", True, "CN", None, None, None, "d")
    for category, words in LABELS.items():
        assert MESSAGES[f"revocation_{category}"] == words
        for lang in LANGUAGES:
            assert words[lang] in revoked_line(category, lang)
        explained = engine_rules.revoked(scan, category)
        assert explained.explanation_en == f"This stamp is revoked. Reason: {words['en']}."
        assert explained.explanation_vi == f"Tem này đã bị thu hồi. Lý do: {words['vi']}."


def test_free_text_given_as_a_category_is_never_echoed() -> None:
    """A caller that still passes the old free-text reason gets "other", not its words, on every side."""
    scan = Scan("s1", 0.0, GTIN_A, "1", True, "CN", None, None, None, "d")
    explained = engine_rules.revoked(scan, NOTE)
    assert NOTE not in explained.explanation_en
    assert NOTE not in explained.explanation_vi
    assert explained.explanation_en == "This stamp is revoked. Reason: Other."
    for lang in LANGUAGES:
        assert revoked_line(NOTE, lang) == revoked_line("other", lang)
        assert NOTE not in revoked_line(NOTE, lang)


def test_the_registry_lookup_carries_the_category_and_keeps_the_note_apart() -> None:
    index = RangeIndex(
        revoked=[
            (GTIN_A, RevokedRange(1, 10, RevocationCategory.STOLEN, "truck 51C robbed")),
            (GTIN_A, RevokedRange(5, 20, RevocationCategory.RECALLED, "cadmium")),
        ],
        revoked_kids=["K1"],
    )
    first = index.lookup(GTIN_A, 7, "K0")
    assert (first.state, first.category, first.note) == (
        StampState.REVOKED,
        RevocationCategory.STOLEN,
        "truck 51C robbed",
    )
    later = index.lookup(GTIN_A, 15, "K0")
    assert (later.category, later.note) == (RevocationCategory.RECALLED, "cadmium")
    key = index.lookup(GTIN_A, 30, "K1")
    assert (key.state, key.category, key.note) == (StampState.KEY_REVOKED, RevocationCategory.KEY_WITHDRAWN, None)
    assert index.lookup(GTIN_A, 30, "K0").category is None


@pytest.mark.parametrize("category", [c.value for c in RANGE_CATEGORIES])
def test_revoke_with_each_category_and_the_consumer_sees_its_label_never_the_note(world: World, category: str) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    created = ok(revoke(world, 3, category), 201)
    assert [(r["category"], r["reason"]) for r in created] == [(category, NOTE)]
    for lang in LANGUAGES:
        page = c.get(path_of(stamps.uris[2]), headers={"Accept-Language": ACCEPT[lang]}, follow_redirects=False)
        assert page.status_code == 200
        assert 'data-verdict="counterfeit"' in page.text
        assert LABELS[category][lang] in page.text
        assert revoked_line(category, lang) in page.text
        assert NOTE not in page.text
        assert "Nguy" not in page.text
        # The lot's trace page for that serial says nothing of the note either.
        trace = c.get(f"/01/{GTIN_A}/10/LOT-1?serial=3", headers={"Accept-Language": ACCEPT[lang]})
        assert trace.status_code == 200
        assert "Nguy" not in trace.text


def test_the_note_stays_with_the_packer_the_ministry_inspectors_and_the_audit_log(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    ok(revoke(world, 3, "withdrawn"), 201)
    for who in (world.packer, world.ministry):
        listed = ok(c.get("/api/v1/revocations", headers=who))
        assert [(r["first_serial"], r["category"], r["reason"]) for r in listed] == [(3, "withdrawn", NOTE)]
    (event,) = audit_events(world, "stamps.revoked")
    assert event.details["category"] == "withdrawn"
    assert event.details["reason"] == NOTE
    verified = ok(c.get(f"/api/v1/stamps/verify?uri={quote(stamps.uris[2])}", headers=world.inspector))
    assert verified["state"] == "revoked"
    assert f"(withdrawn): {NOTE}" in verified["reason"]


def test_a_distributor_verifying_a_revoked_stamp_gets_the_category_not_the_note(
    world: World, settings: Settings
) -> None:
    """Distributors are traders, not officials: like a consumer, they are told the category only."""
    db = Database(settings.effective_database_url)
    with db.session() as session:
        admin = operator("test")
        service.create_organisation(
            session,
            settings,
            admin,
            schemas.OrganisationCreate(kind="distributor", name="Importer", code="CN-IMP-01", province="Hà Nội"),  # type: ignore[arg-type]
        )
        _row, token = service.create_token(
            session,
            admin,
            schemas.TokenCreate(organisation="CN-IMP-01", role="distributor", name="importer"),  # type: ignore[arg-type]
        )
    db.dispose()
    stamps = issue_and_activate(world)
    ok(revoke(world, 3, "stolen"), 201)
    distributor = {"Authorization": f"Bearer {token}"}
    verified = ok(world.client.get("/api/v1/stamps/verify", params={"uri": stamps.uris[2]}, headers=distributor))
    assert verified["state"] == "revoked"
    assert verified["reason"].startswith("the stamp has been revoked (stolen)")
    assert "Reported stolen or lost" in verified["reason"]
    assert "Nguy" not in verified["reason"]
    assert "driver" not in verified["reason"]


def test_the_note_is_in_no_public_api_and_no_finding_explanation(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    ok(revoke(world, 3, "recalled"), 201)
    revoked = c.get(path_of(stamps.uris[2]), follow_redirects=False)
    assert 'data-verdict="counterfeit"' in revoked.text
    flush(c)
    (alert,) = [a for a in stamp_alerts(c) if a.type == "revoked"]
    assert alert.explanation_en == "This stamp is revoked. Reason: Recalled for safety or quality."
    assert alert.explanation_vi == "Tem này đã bị thu hồi. Lý do: Bị thu hồi vì lý do an toàn hoặc chất lượng."
    public = [
        c.get(f"{path_of(stamps.uris[2])}&linkType=linkset", follow_redirects=False),
        c.get(path_of(stamps.uris[2]), headers={"Accept": "application/linkset+json"}, follow_redirects=False),
        c.get(f"/01/{GTIN_A}/10/LOT-1", headers={"Accept": "application/linkset+json"}),
        c.get(f"/01/{GTIN_A}/10/LOT-1/21/3?linkType=linkset", follow_redirects=False),
        c.get("/api/v1/public/lot-events", params={"gtin": GTIN_A, "lot": "LOT-1"}),
        c.get(f"/01/{GTIN_A}"),
    ]
    for response in public:
        assert response.status_code < 500
        assert "Nguy" not in response.text
        assert "driver" not in response.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "a category is required"),
        ({"category": "lost"}, "the value given is not a revocation category"),
        ({"category": "key_withdrawn"}, "the value given is not a revocation category"),
        ({"category": "Withdrawn"}, "the value given is not a revocation category"),
        ({"category": None}, "a category is required"),
    ],
)
def test_a_missing_or_unknown_category_is_refused_naming_the_allowed_values(
    world: World, body: dict[str, Any], says: str
) -> None:
    issue_and_activate(world)
    payload = {"gtin": GTIN_A, "first_serial": 3, "last_serial": 3, "reason": NOTE, **body}
    refused = world.client.post("/api/v1/revocations", headers=world.packer, json=payload)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == "category"
    assert says in error["message"]
    assert ALLOWED in error["message"]
    if body.get("category"):
        assert f"'{body['category']}'" not in refused.text  # what was sent is never echoed back
    assert ok(world.client.get("/api/v1/revocations", headers=world.packer)) == []


def test_a_whole_lot_is_revoked_with_its_category(world: World) -> None:
    stamps = issue_and_activate(world)
    banned = ok(
        world.client.post(
            "/api/v1/revocations",
            headers=world.ministry,
            json={"lot": "LOT-1", "category": "recalled", "reason": "GACC notice 2026/114: cadmium"},
        ),
        201,
    )
    assert [(r["lot"], r["category"]) for r in banned] == [("LOT-1", "recalled")]
    page = world.client.get(path_of(stamps.uris[0]), headers={"Accept-Language": ACCEPT["zh"]}, follow_redirects=False)
    assert "因安全或质量原因被召回" in page.text
    assert "GACC" not in page.text


def test_the_openapi_schema_lists_the_categories(world: World) -> None:
    schema = world.client.get("/openapi.json").json()["components"]["schemas"]["RevocationCreate"]
    assert "category" in schema["required"]
    assert schema["properties"]["category"]["enum"] == ALLOWED.split(", ")


def test_a_revoked_key_shows_its_category(world: World, env: dict[str, str]) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    kid = urlsplit(stamps.uris[0]).query.split("k=")[1].split("&")[0]
    result = CliRunner().invoke(main, ["keys", "revoke", kid, "--reason", "HSM password on a sticky note"], env=env)
    assert result.exit_code == 0, result.output
    assert "category key_withdrawn" in result.output
    runtime(c).registry.dirty = True  # the key was revoked outside this process's API
    for lang in LANGUAGES:
        page = c.get(path_of(stamps.uris[0]), headers={"Accept-Language": ACCEPT[lang]}, follow_redirects=False)
        assert 'data-verdict="counterfeit"' in page.text
        assert LABELS["key_withdrawn"][lang] in page.text
        assert "sticky" not in page.text
    (event,) = audit_events(world, "key.revoked")
    assert event.details == {"category": "key_withdrawn", "reason": "HSM password on a sticky note"}
    flush(c)
    (alert,) = [a for a in stamp_alerts(c) if a.type == "revoked"]
    assert alert.explanation_en == "This stamp is revoked. Reason: The key that signed it was withdrawn."


# ---- tem replay ---------------------------------------------------------------------------------------------

ACTIVATE = {
    "ts": "2026-06-01T08:00:00Z",
    "type": "activate",
    "gtin": "08935000000014",
    "first": "1",
    "last": "100",
    "lot": "TG2606A",
    "origin": {"lat": 10.36, "lon": 106.36, "country": "VN"},
    "markets": ["CN"],
    "shelf_life_days": 21,
}


def _scan(serial: str, kid: str | None = None) -> dict[str, Any]:
    event = {
        "ts": "2026-06-05T08:00:00Z",
        "type": "scan",
        "id": f"s{serial}",
        "gtin": "08935000000014",
        "serial": serial,
        "sig_valid": True,
        "country": "CN",
        "device": "d-1",
    }
    return {**event, "kid": kid} if kid else event


def _revoke(first: str, last: str, **extra: Any) -> dict[str, Any]:
    return {
        "ts": "2026-06-03T00:00:00Z",
        "type": "revoke",
        "gtin": "08935000000014",
        "first": first,
        "last": last,
        **extra,
    }


def test_replay_explains_a_revocation_by_its_category() -> None:
    replayer = Replayer(default_config())
    events = [
        ACTIVATE,
        _revoke("1", "9", category="stolen", reason=NOTE),
        _revoke("10", "19", reason=NOTE),  # no category: other
        {"ts": "2026-06-03T00:00:00Z", "type": "revoke", "kid": "K9"},
    ]
    for line, event in enumerate(events, 1):
        replayer.handle(event, line)
    explained = {}
    for serial, kid in (("5", None), ("15", None), ("50", "K9")):
        _ts, result = replayer.handle(_scan(serial, kid), 10)
        assert result is not None
        (finding,) = [f for f in result.findings if f.type.value == "revoked"]
        assert NOTE not in finding.explanation_en
        assert NOTE not in finding.explanation_vi
        explained[serial] = finding.explanation_en
    assert explained == {
        "5": "This stamp is revoked. Reason: Reported stolen or lost.",
        "15": "This stamp is revoked. Reason: Other.",
        "50": "This stamp is revoked. Reason: The key that signed it was withdrawn.",
    }


def test_replay_refuses_an_unknown_category_naming_the_allowed_ones(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = [ACTIVATE, _revoke("1", "9", category="recalled"), _revoke("10", "19", category="lost"), _scan("5")]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    result = CliRunner().invoke(main, ["replay", str(events)], env={"TEM_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert f"line 3: 'category' must be one of {ALLOWED}, not 'lost'" in result.stderr
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(e) + "\n" for e in [lines[0], lines[1], lines[3]]), encoding="utf-8")
    replayed = CliRunner().invoke(main, ["replay", str(good)], env={"TEM_HOME": str(tmp_path)})
    assert replayed.exit_code == 0, replayed.output
    assert [json.loads(line)["type"] for line in replayed.stdout.splitlines()] == ["revoked"]


# ---- the migration ------------------------------------------------------------------------------------------


def test_revocations_made_before_categories_become_other(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path}/old.sqlite3"
    config = alembic_config(url)
    command.upgrade(config, "0007")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, kind, name, code, province, created_at) "
                "VALUES (1, 'packing_house', 'A', 'VN-TGPH-0001', 'Tiền Giang', '2026-06-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO revocations (organisation_id, gtin, first_serial, last_serial, reason, created_by, "
                "created_at) VALUES (1, :gtin, 1, 5, :note, 'token:1', '2026-06-01 00:00:00')"
            ),
            {"gtin": GTIN_A, "note": NOTE},
        )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT category, reason FROM revocations")).one() == ("other", NOTE)
    with pytest.raises(Exception, match="NOT NULL"), engine.begin() as conn:  # no default: a category is chosen
        conn.execute(
            text(
                "INSERT INTO revocations (organisation_id, gtin, first_serial, last_serial, reason, created_by, "
                "created_at) VALUES (1, :gtin, 6, 9, 'x', 'token:1', '2026-06-01 00:00:00')"
            ),
            {"gtin": GTIN_A},
        )
    command.downgrade(config, "0007")
    engine.dispose()
