"""The scan hot path: verdicts, redirects, the durable scan log, and GS1 resolver behaviour."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from fastapi.testclient import TestClient

from crypto import ParsedStamp, PublicKey
from detection.engine.model import Role, Verdict
from detection.scans import ScanEvent
from identity.principal import operator
from issuer import keys
from resolver.hotpath import VerifyCache
from resolver.store import Outcome, Saved
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, ok
from tests.resolver_helpers import flush, issue_and_activate, runtime, scan_token_of, scans

SHARED = Path(__file__).resolve().parent / "data" / "gs1"


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def test_genuine_scan_redirects_to_the_trace_page_with_the_scan(world: World) -> None:
    stamps = issue_and_activate(world)
    response = world.client.get(path_of(stamps.uris[0]) + "&17=260701", follow_redirects=False)
    assert response.status_code == 307
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == BASE_URL  # only the configured host
    assert location.path == f"/01/{GTIN_A}/10/LOT-1"
    query = parse_qs(location.query)
    assert query["serial"] == ["1"]
    assert query["17"] == ["260701"]  # the query string is passed on
    assert "s" not in query
    assert "scan" not in query  # the scan's verdict travels in a cookie, never in a link someone could share
    assert 'rel="linkset"' in response.headers["link"]
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("tem_d=") and "HttpOnly" in c for c in cookies)
    (scan_cookie,) = [c for c in cookies if c.startswith("tem_scan=")]
    assert "HttpOnly" in scan_cookie
    assert "Max-Age=900" in scan_cookie

    page = world.client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'data-verdict="genuine"' in page.text
    assert "First check" in page.text
    assert "Cơ sở đóng gói A" in page.text
    assert "VN-TGOR-0123" in page.text


def test_repeat_checks_follow_the_anti_counterfeit_convention(world: World, client: TestClient) -> None:
    stamps = issue_and_activate(world)
    first = client.get(path_of(stamps.uris[1]), headers={"cf-ipcountry": "CN"})
    assert "First check" in first.text
    again = client.get(path_of(stamps.uris[1]))
    assert "You have checked this code 2 times" in again.text
    client.cookies.clear()  # another phone
    third = client.get(path_of(stamps.uris[1]), headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "此码已被查询3次" in third.text
    assert "谨防假冒" in third.text
    assert 'data-verdict="genuine"' in third.text


@pytest.mark.parametrize(
    ("accept", "lang", "expected"),
    [
        ("vi-VN,vi;q=0.9", None, "Hàng thật"),
        ("zh-CN", None, "正品"),
        ("fr-FR,en;q=0.5", None, "Genuine"),
        ("zh-CN", "vi", "Hàng thật"),
    ],
)
def test_trace_page_language(world: World, accept: str, lang: str | None, expected: str) -> None:
    stamps = issue_and_activate(world)
    url = path_of(stamps.uris[2]) + (f"&lang={lang}" if lang else "")
    page = world.client.get(url, headers={"Accept-Language": accept})
    assert expected in page.text


def test_states_other_than_activated_get_a_verdict_page(world: World, settings: Settings) -> None:
    c = world.client
    stamps = issue_and_activate(world, quantity=20, activate_last=10)
    not_activated = c.get(path_of(stamps.uris[14]), follow_redirects=False)
    assert not_activated.status_code == 200
    assert 'data-verdict="suspect"' in not_activated.text
    assert "never assigned to a lot" in not_activated.text

    ok(
        c.post(
            "/api/v1/revocations",
            headers=world.packer,
            json={
                "gtin": GTIN_A,
                "first_serial": 3,
                "last_serial": 3,
                "category": "stolen",
                "reason": "tag reported stolen",
            },
        ),
        201,
    )
    revoked = c.get(path_of(stamps.uris[2]), follow_redirects=False)
    assert revoked.status_code == 200
    assert 'data-verdict="counterfeit"' in revoked.text
    assert "This stamp has been revoked. Reason: Reported stolen or lost." in revoked.text
    assert "tag reported stolen" not in revoked.text  # the packing house's note is never shown to consumers

    db = Database(settings.effective_database_url)
    with db.session() as session:
        signer = runtime(c).registry  # keep the cache honest: the key is revoked outside the API
        kid = keys.list_keys(session)[0].kid
        keys.revoke(session, kid, "key leaked", operator("test"))
    db.dispose()
    signer.dirty = True
    key_revoked = c.get(path_of(stamps.uris[0]), follow_redirects=False)
    assert 'data-verdict="counterfeit"' in key_revoked.text
    assert "This stamp has been revoked. Reason: The key that signed it was withdrawn." in key_revoked.text
    assert "key leaked" not in key_revoked.text


def test_unissued_serial_with_a_valid_signature_is_suspect(world: World, settings: Settings) -> None:
    issue_and_activate(world)
    db = Database(settings.effective_database_url)
    with db.session() as session:
        signer = keys.SignerCache().active_signer(session, keys.load_kek(settings))
    db.dispose()
    response = world.client.get(path_of(signer.uri(BASE_URL, GTIN_A, 999_999)), follow_redirects=False)
    assert response.status_code == 200
    assert 'data-verdict="suspect"' in response.text
    assert "never issued" in response.text


def test_forged_stamp_is_counterfeit_and_not_recorded(world: World) -> None:
    stamps = issue_and_activate(world)
    tampered = path_of(stamps.uris[0]).replace("/21/1?", "/21/2?")
    response = world.client.get(tampered, follow_redirects=False)
    assert response.status_code == 200
    assert 'data-verdict="counterfeit"' in response.text
    assert "not valid" in response.text
    assert flush(world.client) == 0
    assert scans(world.client) == []


def test_forged_bursts_from_one_network_are_rate_limited(world: World) -> None:
    stamps = issue_and_activate(world)
    resolver = runtime(world.client).resolver
    resolver.config = replace(resolver.config, forged_burst_limit=3)
    forged = path_of(stamps.uris[0]).replace("/21/1?", "/21/3?")
    codes = [world.client.get(forged).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert world.client.get(forged).headers["retry-after"] == "60"
    # Genuine scans from the same network are not blocked.
    assert world.client.get(path_of(stamps.uris[0]), follow_redirects=False).status_code == 307


@pytest.mark.parametrize(
    "path",
    [
        "/01/08938604500010/21/01?k=AB12&s=AAAA",
        "/01/08938604500013/21/1?k=AB12&s=AAAA",
        "/01/08938604500010/21/1?k=ab&s=" + "A" * 103,
        "/01/08938604500010/21/1?k=AB12&k=AB13&s=" + "A" * 103,
        "/01/08938604500010/21/" + "9" * 25 + "?k=AB12&s=AAAA",
        "/01/0893860450001%00/21/1?k=AB12&s=AAAA",
    ],
)
def test_malformed_stamps_get_a_400_page_in_the_scanners_language(world: World, path: str) -> None:
    response = world.client.get(path, headers={"Accept-Language": "vi"}, follow_redirects=False)
    assert response.status_code == 400
    assert "không phải là một mã tem hợp lệ" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_oversized_uri_is_refused_early(world: World) -> None:
    response = world.client.get("/01/08938604500010/21/1?k=AB12&s=" + "A" * 3000)
    assert response.status_code == 414


def test_scan_log_is_durable_idempotent_and_private(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    c.get(path_of(stamps.uris[0]), follow_redirects=False)
    c.get(path_of(stamps.uris[14]), follow_redirects=False)
    assert flush(c) == 2
    rows = scans(c)
    assert [(r.serial, r.verdict, r.state, r.role) for r in rows] == [
        (1, "genuine", "activated", "consumer"),
        (15, "suspect", "not_activated", "consumer"),
    ]
    assert rows[0].lot_id == stamps.lot_id
    assert rows[0].ip_hash
    assert "testclient" not in rows[0].ip_hash
    assert rows[0].device_id == rows[1].device_id  # same phone: the cookie came back
    # Replaying the same scans writes nothing new.
    writer = runtime(c).writer
    replay = ScanEvent(
        rows[0].id,
        rows[0].at.timestamp(),
        GTIN_A,
        1,
        rows[0].kid,
        "activated",
        Verdict.GENUINE,
        Role.CONSUMER,
        rows[0].device_id,
        rows[0].ip_hash,
        None,
        rows[0].lot_id,
    )
    writer.write([replay, replay])
    assert len(scans(c)) == 2


def test_edge_location_only_when_trusted(world: World, client: TestClient) -> None:
    stamps = issue_and_activate(world)
    headers = {"cf-ipcountry": "CN", "cf-iplatitude": "22.8", "cf-iplongitude": "108.3", "cf-ipcity": "Nanning"}
    client.get(path_of(stamps.uris[0]), headers=headers, follow_redirects=False)
    flush(client)
    assert scans(client)[0].country is None
    resolver = runtime(client).resolver
    resolver.locator._trust_edge = True  # as TEM_TRUST_EDGE_HEADERS=1 would set it
    client.get(path_of(stamps.uris[1]), headers=headers, follow_redirects=False)
    flush(client)
    row = scans(client)[1]
    assert (row.country, row.city, row.latitude, row.accuracy_km, row.location_source) == (
        "CN",
        "Nanning",
        22.8,
        200.0,
        "edge",
    )


def test_the_phone_can_add_its_gps_position(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    redirect = c.get(path_of(stamps.uris[0]), follow_redirects=False)
    token = scan_token_of(redirect)
    report = {"scan": token, "gtin": GTIN_A, "serial": 1, "latitude": 22.82, "longitude": 108.32, "accuracy_m": 35}
    assert c.post("/scans/location", json=report).status_code == 204
    forged = {**report, "scan": token[:-1] + ("0" if token[-1] != "0" else "1")}
    assert c.post("/scans/location", json=forged).status_code == 404
    assert c.post("/scans/location", json={**report, "latitude": 123}).status_code == 422
    flush(c)
    row = scans(c)[0]
    assert (row.latitude, row.longitude, row.accuracy_km, row.location_source) == (22.82, 108.32, 0.035, "device")


def test_registry_changes_reach_the_resolver(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world, quantity=20, activate_last=10)
    assert c.get(path_of(stamps.uris[11]), follow_redirects=False).status_code == 200  # not activated yet
    ok(
        c.post(
            "/api/v1/activations",
            headers=world.packer,
            json={"gtin": GTIN_A, "first_serial": 11, "last_serial": 20, "lot": "LOT-1"},
        ),
        201,
    )
    assert c.get(path_of(stamps.uris[11]), follow_redirects=False).status_code == 307


def test_head_and_options(world: World) -> None:
    stamps = issue_and_activate(world)
    head = world.client.head(path_of(stamps.uris[0]))
    assert head.status_code == 200
    assert head.content == b""
    options = world.client.options(path_of(stamps.uris[0]))
    assert options.status_code == 204
    assert "GET" in options.headers["allow"]
    assert options.headers["access-control-allow-origin"] == "*"
    assert flush(world.client) == 0  # neither is a scan


def _linkset_schema() -> dict[str, object]:
    loaded: dict[str, object] = json.loads((SHARED / "gs1-linkset-schema.json").read_text())
    return loaded


@pytest.mark.parametrize("how", ["linkType=linkset", "linkType=all", "accept"])
def test_linkset_is_valid_gs1_and_has_one_default_link(world: World, how: str) -> None:
    stamps = issue_and_activate(world)
    url = path_of(stamps.uris[0])
    if how == "accept":
        response = world.client.get(url, headers={"Accept": "application/linkset+json"}, follow_redirects=False)
    else:
        response = world.client.get(f"{url}&{how}", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/linkset+json"
    assert response.headers["access-control-allow-origin"] == "*"
    doc = response.json()
    jsonschema.validate(doc, _linkset_schema())
    entry, lot_entry, product_entry = doc["linkset"]  # the stamp, then each level up to the GTIN
    assert entry["anchor"] == f"{BASE_URL}/01/{GTIN_A}/21/1"
    assert lot_entry["anchor"] == f"{BASE_URL}/01/{GTIN_A}/10/LOT-1"
    assert product_entry["anchor"] == f"{BASE_URL}/01/{GTIN_A}"
    for level in doc["linkset"]:
        assert len(level["https://gs1.org/voc/defaultLink"]) == 1
    for link_type in ("pip", "traceability", "verificationService"):
        assert f"https://gs1.org/voc/{link_type}" in entry
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in response.headers["link"]
    assert response.headers["vary"] == "accept"
    assert flush(world.client) == 0


def test_link_type_redirects_or_404(world: World) -> None:
    stamps = issue_and_activate(world)
    url = path_of(stamps.uris[0])
    pip = world.client.get(f"{url}&linkType=gs1:pip", follow_redirects=False)
    assert pip.status_code == 307
    assert urlsplit(pip.headers["location"]).path == f"/01/{GTIN_A}/10/LOT-1"
    events = world.client.get(f"{url}&linkType=gs1:traceability&foo=bar", follow_redirects=False)
    assert events.status_code == 307
    assert "foo=bar" in events.headers["location"]
    assert 'rel="linkset"' in events.headers["link"]
    assert world.client.get(f"{url}&linkType=gs1:recipeInfo", follow_redirects=False).status_code == 404
    evil = world.client.get(f"{url}&linkType=https://evil.example/x", follow_redirects=False)
    assert evil.status_code == 404


def test_lot_events_are_valid_epcis(world: World) -> None:
    issue_and_activate(world)
    response = world.client.get("/api/v1/public/lot-events", params={"gtin": GTIN_A, "lot": "LOT-1"})
    assert response.status_code == 200
    doc = response.json()
    schema = json.loads((SHARED / "epcis-2.0-json-schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["epcisBody"]["eventList"][0]["bizStep"] == "packing"
    missing = world.client.get("/api/v1/public/lot-events", params={"gtin": GTIN_A, "lot": "NOPE"})
    assert missing.status_code == 404


def test_resolver_description(client: TestClient) -> None:
    doc = client.get("/.well-known/gs1resolver").json()
    assert doc["resolverRoot"] == BASE_URL
    assert doc["supportedPrimaryKeys"] == ["01"]


def test_trace_page_is_light_self_contained_and_private(world: World) -> None:
    c = world.client
    stamps = issue_and_activate(world)
    page = c.get(path_of(stamps.uris[0]))
    assert len(page.content) < 60_000
    assert "<script src" not in page.text
    assert "http://" not in page.text.replace(BASE_URL, "")
    assert "https://" not in page.text
    assert "Hộ Nguyễn Văn An" not in page.text  # names hidden unless the lot allows them
    assert "1 households" in page.text


class _BrokenStore:
    """A scan store whose server has gone away."""

    def __getattr__(self, name: str) -> object:
        async def fail(*_args: object, **_kwargs: object) -> None:
            raise ConnectionError("the scan store is down")

        return fail

    def start_save(self, events: object, version: object, memory: object, done: Outcome[Saved]) -> None:
        done.set_exception(ConnectionError("the scan store is down"))


def test_an_unreachable_scan_store_answers_503_not_500(world: World) -> None:
    stamps = issue_and_activate(world)
    resolver = runtime(world.client).resolver
    healthy = resolver.scans.store
    resolver.scans.store = _BrokenStore()  # type: ignore[assignment]
    try:
        response = world.client.get(path_of(stamps.uris[0]), headers={"Accept-Language": "vi"}, follow_redirects=False)
        forged = world.client.get(path_of(stamps.uris[0]).replace("/21/1?", "/21/2?"), follow_redirects=False)
    finally:
        resolver.scans.store = healthy
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "quét lại" in response.text
    assert forged.status_code == 503


def test_trace_page_with_its_store_down_is_503(world: World) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    stamps = issue_and_activate(world)
    location = world.client.get(path_of(stamps.uris[0]), follow_redirects=False).headers["location"]
    resolver_runtime = runtime(world.client)
    healthy = resolver_runtime.store

    class Down:
        async def history(self, *_args: object) -> None:
            raise RedisConnectionError("down")

    resolver_runtime.store = Down()  # type: ignore[assignment]
    try:
        response = world.client.get(location)
    finally:
        resolver_runtime.store = healthy
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"


def test_verify_cache_entries_are_invisible_to_the_garbage_collector() -> None:
    """A warm cache holds 200,000 entries: a full collection must not walk them (it stalled scans)."""
    cache = VerifyCache(1000)
    keyset: dict[str, PublicKey] = {}
    assert cache.get(b"-", keyset) is None  # an empty keyset: every signature fails
    for serial in range(1, 1001):
        stamp = ParsedStamp(GTIN_A, serial, "K1", bytes(64), "LOT1", (("22", "A"), ("x", "1")))
        cache.add(f"/01/{GTIN_A}/21/{serial}".encode(), stamp, False, keyset)
    cache.keep_link(f"/01/{GTIN_A}/21/7".encode(), b"<x>")
    gc.collect()
    gc.collect()  # an entry whose flat extras sat in an older generation is untracked one collection later
    entries = list(cache._entries.values())  # what the collector would walk
    assert not any(gc.is_tracked(entry) for entry in entries)
    again = cache.get(f"/01/{GTIN_A}/21/7".encode(), keyset)
    assert again is not None
    assert again.stamp == ParsedStamp(GTIN_A, 7, "K1", bytes(64), "LOT1", (("22", "A"), ("x", "1")))
    assert (again.ok, again.plain, again.link) == (False, False, (b"link", b"<x>"))
