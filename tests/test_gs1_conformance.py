"""Tem as a GS1 conformant resolver (GS1 Conformant Resolver 1.2, Digital Link 1.6), criterion by criterion.

Each test is named after the standard's statement it checks. The requests are the ones GS1's resolver test
suite sends: it takes a stamp's URI, strips its query string (so the signature too), and probes the rest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, GTIN_B
from tests.resolver_helpers import Stamps, flush, issue_and_activate

SHARED = Path(__file__).resolve().parent / "data" / "gs1"
LINKSET = "application/linkset+json"
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"'
TRACE = f"{BASE_URL}/01/{GTIN_A}/10/LOT-1?serial=1"  # the stamp's default link: its lot's trace page
PRODUCT = f"{BASE_URL}/products/{GTIN_A}"
LINK = re.compile(r'<([^>]*)>([^,]*(?:"[^"]*"[^,]*)*)')


def signed(stamps: Stamps, n: int = 1) -> str:
    parts = urlsplit(stamps.uris[n - 1])
    return f"{parts.path}?{parts.query}"


def unsigned(n: int = 1) -> str:
    return f"/01/{GTIN_A}/21/{n}"


def header_links(value: str) -> list[dict[str, str]]:
    """A Link header's links, each as its target and attributes, as the GS1 test suite reads them."""
    found = []
    for href, params in LINK.findall(value):
        attributes = dict(re.findall(r';\s*([a-z]+)="([^"]*)"', params))
        found.append({"href": href, **attributes})
    return found


@pytest.fixture
def stamps(world: World) -> Stamps:
    return issue_and_activate(world)


def test_shall_support_get_head_and_options_with_cors(world: World, stamps: Stamps) -> None:
    for path in (signed(stamps), unsigned(), f"/01/{GTIN_A}", f"/01/{GTIN_A}/10/LOT-1"):
        options = world.client.options(path)
        assert options.status_code == 204, path
        assert {"GET", "HEAD", "OPTIONS"} <= set(
            options.headers["access-control-allow-methods"].replace(",", " ").split()
        )
        assert options.headers["access-control-allow-origin"] == "*"
        get = world.client.get(path, follow_redirects=False)
        head = world.client.head(path, follow_redirects=False)
        assert get.headers["access-control-allow-origin"] == "*", path
        assert (head.status_code, head.content) == (get.status_code, b""), path


def test_head_answers_as_get_does_and_is_no_scan(world: World, stamps: Stamps) -> None:
    head = world.client.head(signed(stamps), follow_redirects=False)
    assert flush(world.client) == 0  # a HEAD is not a person checking a fruit
    get = world.client.get(signed(stamps), follow_redirects=False)
    assert head.status_code == get.status_code == 307
    assert head.headers["location"] == get.headers["location"] == TRACE
    assert head.headers["link"] == get.headers["link"]
    assert flush(world.client) == 1


def test_shall_report_syntax_errors_with_400_and_never_an_error_with_200(world: World, stamps: Stamps) -> None:
    for path in (
        unsigned() + "/foo",  # what GS1's test suite sends
        f"/01/{GTIN_A[:-1]}9/21/1",  # a wrong check digit
        f"/01/{GTIN_A}/21/01",  # a serial Tem never issues: leading zero
        f"/01/{GTIN_A}/33/1",
        f"/01/{GTIN_A}/10/{'L' * 21}",  # longer than AI 10 allows
    ):
        response = world.client.get(path, follow_redirects=False)
        assert response.status_code == 400, path
    assert world.client.get(f"/01/{GTIN_B}/21/1", follow_redirects=False).status_code == 404  # well-formed, unknown


def test_an_unsigned_uri_redirects_to_the_default_link_and_exposes_every_link(world: World, stamps: Stamps) -> None:
    response = world.client.get(unsigned(), follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == TRACE
    assert response.headers["vary"].lower() == "accept"
    exposed = header_links(response.headers["link"])
    assert all(link["href"].startswith("http") and link["rel"] and link["title"] for link in exposed)
    assert any(link["rel"] == "linkset" for link in exposed)
    defaults = [link for link in exposed if link["rel"] == "https://gs1.org/voc/defaultLink"]
    assert [link["href"] for link in defaults] == [response.headers["location"]]
    assert "tem_scan" not in response.headers.get("set-cookie", "")
    assert flush(world.client) == 0  # not a consumer scan of the stamp


def test_each_exposed_link_type_redirects_to_its_target(world: World, stamps: Stamps) -> None:
    exposed = header_links(world.client.get(unsigned(), follow_redirects=False).headers["link"])
    for link in exposed:
        if link["rel"] == "linkset":
            continue
        response = world.client.get(unsigned(), params={"linkType": link["rel"]}, follow_redirects=False)
        assert response.status_code == 307, link
        assert response.headers["location"] == link["href"]
    short = world.client.get(unsigned(), params={"linkType": "gs1:traceability"}, follow_redirects=False)
    assert urlsplit(short.headers["location"]).path == "/api/v1/public/lot-events"


def test_an_unknown_link_type_is_a_404(world: World, stamps: Stamps) -> None:
    for path in (unsigned(), signed(stamps), f"/01/{GTIN_A}", f"/01/{GTIN_A}/10/LOT-1"):
        sep = "&" if "?" in path else "?"
        response = world.client.get(f"{path}{sep}linkType=gs1:recipeInfo", follow_redirects=False)
        assert response.status_code == 404, path


def test_the_query_string_is_passed_on(world: World, stamps: Stamps) -> None:
    response = world.client.get(unsigned() + "?foo=bar", follow_redirects=False)
    assert response.status_code == 307
    assert "?foo=bar" in response.headers["location"]  # as GS1's test suite looks for it
    assert urlsplit(response.headers["location"]).query == "foo=bar&serial=1"
    walked = world.client.get(f"/01/{GTIN_A}?foo=bar&linkType=gs1:pip", follow_redirects=False)
    assert walked.headers["location"] == f"{PRODUCT}?foo=bar"


@pytest.mark.parametrize("how", ["linkType=linkset", "linkType=all", "accept"])
def test_the_linkset_covers_every_level_up_to_the_gtin_and_is_valid(world: World, stamps: Stamps, how: str) -> None:
    schema = json.loads((SHARED / "gs1-linkset-schema.json").read_text())
    if how == "accept":
        response = world.client.get(unsigned(), headers={"Accept": LINKSET})
    else:
        response = world.client.get(f"{unsigned()}?{how}")
    assert response.status_code == 200
    assert response.headers["content-type"] == LINKSET
    assert CONTEXT_REL in response.headers["link"]
    doc = response.json()
    jsonschema.validate(doc, schema)
    anchors = [entry["anchor"] for entry in doc["linkset"]]
    assert anchors == [f"{BASE_URL}/01/{GTIN_A}/21/1", f"{BASE_URL}/01/{GTIN_A}/10/LOT-1", f"{BASE_URL}/01/{GTIN_A}"]
    for entry in doc["linkset"]:
        (default,) = entry["https://gs1.org/voc/defaultLink"]
        assert default["title"]
    assert doc["linkset"][0]["https://gs1.org/voc/defaultLink"][0]["href"] == TRACE
    # Without the signature, there is nothing to verify: no verification service is offered.
    assert "https://gs1.org/voc/verificationService" not in doc["linkset"][0]


def test_link_lists_are_served_as_json_and_json_ld_by_content_negotiation(world: World, stamps: Stamps) -> None:
    plain = world.client.get(f"{unsigned()}?linkType=all", headers={"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json"
    assert "linkset" in plain.json()
    assert plain.headers["vary"].lower() == "accept"
    linked = world.client.get(f"{unsigned()}?linkType=all", headers={"Accept": "application/ld+json"})
    assert linked.headers["content-type"] == "application/ld+json"
    assert linked.json()["@context"] == "https://ref.gs1.org/standards/resolver/linkset-context"


def test_a_stamp_scan_redirects_to_exactly_the_linksets_default_link(world: World, stamps: Stamps) -> None:
    linkset = world.client.get(f"{signed(stamps)}&linkType=linkset").json()
    default = linkset["linkset"][0]["https://gs1.org/voc/defaultLink"][0]["href"]
    scan = world.client.get(signed(stamps), follow_redirects=False)
    assert scan.status_code == 307
    assert scan.headers["location"] == default == TRACE
    assert "https://gs1.org/voc/verificationService" in linkset["linkset"][0]
    page = world.client.get(scan.headers["location"])  # the scan's verdict comes with its cookie
    assert 'data-verdict="genuine"' in page.text


def test_an_unsigned_uri_lands_on_a_page_that_says_authenticity_was_not_checked(world: World, stamps: Stamps) -> None:
    world.client.cookies.clear()
    page = world.client.get(unsigned(), headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'data-verdict="unknown"' in page.text  # the page's word: nothing was checked
    assert "Authenticity was not checked" in page.text
    assert "scan the QR code printed on the stamp" in page.text
    zh = world.client.get(unsigned(), headers={"Accept-Language": "zh"})
    assert "本页面未验证真伪" in zh.text
    assert flush(world.client) == 0


def test_a_trailing_slash_is_tolerated(world: World, stamps: Stamps) -> None:
    for path in (unsigned(), f"/01/{GTIN_A}", f"/01/{GTIN_A}/10/LOT-1"):
        without = world.client.get(path, follow_redirects=False)
        with_slash = world.client.get(path + "/", follow_redirects=False)
        assert (with_slash.status_code, with_slash.headers.get("location")) == (
            without.status_code,
            without.headers.get("location"),
        ), path
    path, query = signed(stamps).split("?")
    slashed = world.client.get(f"{path}/?{query}", follow_redirects=False)
    assert (slashed.status_code, slashed.headers["location"]) == (307, TRACE)


def test_walk_up_from_the_gtin_and_from_what_the_resolver_does_not_know(world: World, stamps: Stamps) -> None:
    gtin = world.client.get(f"/01/{GTIN_A}", follow_redirects=False)
    assert (gtin.status_code, gtin.headers["location"]) == (307, PRODUCT)
    product_links = world.client.get(f"/01/{GTIN_A}?linkType=linkset").json()
    (entry,) = product_links["linkset"]
    assert entry["anchor"] == f"{BASE_URL}/01/{GTIN_A}"
    assert entry["https://gs1.org/voc/defaultLink"][0]["href"] == PRODUCT
    for path in (f"/01/{GTIN_A}/10/NOPE", f"/01/{GTIN_A}/21/15", f"/01/{GTIN_A}/21/999999", f"/01/{GTIN_A}/22/2A"):
        walked = world.client.get(path, follow_redirects=False)  # unknown lot, a serial not on a lot, a CPV
        assert (walked.status_code, walked.headers["location"]) == (307, PRODUCT), path
    page = world.client.get(PRODUCT, headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    assert "Cơ sở đóng gói A" in page.text
    assert world.client.get(f"/01/{GTIN_B}", follow_redirects=False).status_code == 404
    assert world.client.get(f"/products/{GTIN_B}").status_code == 404


def test_the_lot_resolves_its_own_links(world: World, stamps: Stamps) -> None:
    lot = f"/01/{GTIN_A}/10/LOT-1"
    linkset = world.client.get(f"{lot}?linkType=linkset")
    assert [e["anchor"] for e in linkset.json()["linkset"]] == [f"{BASE_URL}{lot}", f"{BASE_URL}/01/{GTIN_A}"]
    assert CONTEXT_REL in linkset.headers["link"]
    events = world.client.get(f"{lot}?linkType=gs1:traceability", follow_redirects=False)
    assert urlsplit(events.headers["location"]).path == "/api/v1/public/lot-events"
    page = world.client.get(lot)
    assert page.status_code == 200
    assert any(link["rel"] == "linkset" for link in header_links(page.headers["link"]))


def test_the_resolver_description_file(world: World) -> None:
    doc = world.client.get("/.well-known/gs1resolver").json()
    assert doc["resolverRoot"] == BASE_URL
    assert doc["supportedPrimaryKeys"] == ["01"]
    assert doc["jsonLdContextLocation"] == "https://ref.gs1.org/standards/resolver/linkset-context"
    assert doc["supportedLinkType"][0]["prefix"] == "gs1:"
