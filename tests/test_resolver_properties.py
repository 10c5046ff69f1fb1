"""Bad input and safety (issue 4, section 7), property-based: mutated stamp URIs, junk paths, queries and
headers on every public resolver route. None may give a 500, a redirect to a host other than the configured
base, or a page that carries the input unescaped. Oversized requests are refused early, and forged-scan
bursts are limited and counted per network."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from crypto import GtinError, ParsedStamp, StampFormatError, normalize_gtin, parse_stamp_path
from resolver.hotpath import MAX_HEADER_BYTES, MAX_TARGET, Request
from tests.conftest import BASE_URL, World
from tests.helpers import GTIN_A, ok, order, setup_packer
from tests.resolver_helpers import flush, issue_and_activate, runtime, scan_token_of, scans

FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run and both backends
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

FUZZ_MORE = hypothesis_settings(FUZZ, max_examples=300)  # the page with the most inputs

BASE = urlsplit(BASE_URL)

# Each payload, if it ever reached a page unescaped, would leave one of the DANGEROUS markers in it. (The
# pages' own markup has none of them: their one inline script is not "<script>x" or "<script>alert".)
PAYLOADS = (
    "<script>x</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    '" autofocus onfocus="alert(1)',
    "' autofocus onfocus='alert(1)",
    "javascript:alert(1)",
    "</title><script>alert(1)</script>",
)
DANGEROUS = (
    "<script>x",
    "<script>alert",
    "<img src=x",
    "<svg onload",
    '" autofocus',
    "' autofocus",
    'href="javascript:',
    "</title><script",
)


def assert_safe(response: Any, allowed: set[int]) -> None:
    """The invariants every answer keeps, whatever the input."""
    status = response.status_code
    assert status < 500, response.text[:500]
    assert status in allowed, (status, response.text[:300])
    for name, value in response.headers.items():
        assert "\r" not in value
        assert "\n" not in value, name
    if 300 <= status < 400 and "location" in response.headers:
        # Browsers read a backslash as a slash, so "/\evil.example" would leave the site.
        target = urlsplit(urljoin(BASE_URL + "/", response.headers["location"].replace("\\", "/")))
        assert (target.scheme, target.netloc) == (BASE.scheme, BASE.netloc), response.headers["location"]
    if response.headers.get("content-type", "").startswith("text/html"):
        page = response.text.lower()
        for marker in DANGEROUS:
            assert marker not in page, marker


@dataclass
class _Answer:
    status_code: int
    headers: dict[str, str]
    text: str = ""


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if not p.startswith("javascript:")])
def test_the_oracle_sees_an_unescaped_payload(payload: str) -> None:
    """assert_safe itself: it flags each payload reflected raw, and passes it escaped."""
    html_type = {"content-type": "text/html; charset=utf-8"}
    with pytest.raises(AssertionError):
        assert_safe(_Answer(200, html_type, f'<p>{payload}</p><a href="/x?q={payload}">'), {200})
    assert_safe(_Answer(200, html_type, f"<p>{_escaped(payload)}</p>"), {200})


@pytest.mark.parametrize(
    "location", ["http://evil.example/x", "//evil.example/x", "/\\evil.example/x", "https://127.0.0.1:8000/"]
)
def test_the_oracle_sees_a_foreign_redirect(location: str) -> None:
    with pytest.raises(AssertionError):
        assert_safe(_Answer(307, {"location": location}), {307})
    assert_safe(_Answer(307, {"location": f"{BASE_URL}/01/x"}), {307})
    assert_safe(_Answer(307, {"location": "/01/x"}), {307})


# ---- strategies -----------------------------------------------------------------------------------------

LATIN1 = st.characters(min_codepoint=0, max_codepoint=255)
UNICODE = st.characters(exclude_categories=("Cs",))
JUNK = st.one_of(
    st.text(LATIN1, max_size=24),
    st.text(UNICODE, max_size=12),
    st.sampled_from(PAYLOADS),
    st.sampled_from(["\x00", "%00", "%", "%zz", "..", "/", "//evil.example", "\\evil.example", "&", "=", "?", "+"]),
    st.builds(lambda ch, n: ch * n, st.sampled_from("A9%<é/"), st.integers(min_value=50, max_value=2500)),
)


# Characters that have broken web apps before: NUL (PostgreSQL refuses it in text), non-ASCII (byte/str
# confusions, hmac.compare_digest), a line separator, markup, and URL syntax.
SPECIALS = ("\x00", "\x00", "é", "中", "\ufffd", "\u2028", "🙂", "<script>x</script>", '"', "%", "/", "\\")


def mutated(value: str, alphabet: str) -> st.SearchStrategy[str]:
    """The value itself, or with one character flipped, inserted or dropped, recased, doubled or junked, or
    (most often) with one of the SPECIALS slipped in anywhere."""
    positions = st.integers(min_value=0, max_value=max(len(value) - 1, 0))
    flip = st.tuples(positions, st.sampled_from(alphabet)).map(lambda p: value[: p[0]] + p[1] + value[p[0] + 1 :])
    insert = st.tuples(positions, st.one_of(st.sampled_from(alphabet), LATIN1, UNICODE)).map(
        lambda p: value[: p[0]] + p[1] + value[p[0] :]
    )
    drop = positions.map(lambda i: value[:i] + value[i + 1 :])
    special = st.tuples(st.integers(min_value=0, max_value=len(value)), st.sampled_from(SPECIALS)).map(
        lambda p: value[: p[0]] + p[1] + value[p[0] :]
    )
    return st.one_of(
        st.just(value),
        flip,
        insert,
        drop,
        st.sampled_from([value.lower(), value + value, " " + value, value + "\n"]),
        JUNK,
        JUNK.map(lambda junk: value + junk),
        special,
        special,
        special,
    )


def mutated_part(value: str, separator: str, alphabet: str) -> st.SearchStrategy[str]:
    """The whole value mutated, or just one of its parts (a scan token is id.verdict.mac)."""
    parts = value.split(separator)

    def one_part(i: int) -> st.SearchStrategy[str]:
        return mutated(parts[i], alphabet).map(lambda m: separator.join([*parts[:i], m, *parts[i + 1 :]]))

    return st.one_of(mutated(value, alphabet), st.integers(min_value=0, max_value=len(parts) - 1).flatmap(one_part))


def changing(data: st.DataObject, names: Sequence[str]) -> set[str]:
    """Which inputs to break in this example: none, one or two, the rest stay genuine so that the deep
    paths (a valid stamp, a known lot, a real scan token) are reached with the broken part."""
    count = data.draw(st.sampled_from([0, 1, 1, 1, 1, 1, 2, 2, 2, 2]))
    chosen = set(data.draw(st.lists(st.sampled_from(list(names)), min_size=count, max_size=count, unique=True)))
    event(f"broken: {' + '.join(sorted(chosen)) or 'nothing'}")
    return chosen


def _percent(text: str, encoding: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode(encoding, errors="replace"))


def _wire_safe(text: str) -> str:
    """What can travel in a request line: printable ASCII; the rest is percent-encoded as UTF-8."""
    return "".join(ch if "!" <= ch <= "~" and ch != "#" else _percent(ch, "utf-8") for ch in text)


@st.composite
def encoded(draw: st.DrawFn, text: str, broken: bool = True) -> str:
    """One URI component as a client might send it: raw or percent-encoded as a browser would, or (when
    `broken`) partly encoded, encoded as latin-1 bytes that are not UTF-8, or encoded twice."""
    modes = ["raw", "raw", "all", "one", "latin1", "twice"] if broken else ["raw", "all"]
    mode = draw(st.sampled_from(modes))
    if mode == "all":
        return quote(text, safe="")
    if mode == "twice":
        return quote(quote(text, safe=""), safe="")
    if mode == "latin1":
        return _percent(text, "latin-1")
    if mode == "one" and text:
        i = draw(st.integers(min_value=0, max_value=len(text) - 1))
        return _wire_safe(text[:i]) + _percent(text[i], "utf-8") + _wire_safe(text[i + 1 :])
    return _wire_safe(text)


@st.composite
def query_string(
    draw: st.DrawFn, params: Sequence[tuple[str, st.SearchStrategy[str], bool]], broken: bool = True
) -> str:
    """The given (name, values, broken) parameters; a broken one may be left out or duplicated. When the
    query itself is `broken`: extra junk parameters, in any order."""
    chosen: list[tuple[str, str, bool]] = []
    for name, values, param_broken in params:
        for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2])) if param_broken else 1):
            chosen.append((name, draw(values), param_broken))
    if broken:
        extra_names = st.one_of(
            st.sampled_from(["17", "10", "linkType", "lang", "K", "%6B", "s ", "serial", "scan", "", "=", "<b>"]),
            JUNK,
        )
        chosen += [(k, v, True) for k, v in draw(st.lists(st.tuples(extra_names, JUNK), min_size=1, max_size=3))]
        chosen = draw(st.permutations(chosen))
    parts = []
    for name, value, param_broken in chosen:
        key = draw(encoded(name, param_broken))
        bare = param_broken and not value and draw(st.booleans())
        parts.append(key if bare else f"{key}={draw(encoded(value, param_broken))}")
    return "&".join(parts)


ACCEPT_LANGUAGE = st.one_of(
    st.sampled_from(["vi", "zh-CN,zh;q=0.9", "en;q=nan, vi;q=inf", "*", ";q=", ",,,,", "zh;q=1e999"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    st.sampled_from(PAYLOADS),
    st.builds(lambda n: "vi;q=0.1," * n, st.integers(min_value=1, max_value=1500)),
)
HEADER_BYTES = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def headers(draw: st.DrawFn) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    if draw(st.booleans()):
        chosen["Accept-Language"] = draw(ACCEPT_LANGUAGE)
    if draw(st.booleans()):
        chosen["Accept"] = draw(st.sampled_from(["application/linkset+json", "text/html", "*/*", "<x>"]))
    if draw(st.booleans()):
        cookie = draw(st.one_of(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=50), JUNK))
        chosen["Cookie"] = _wire_safe(f"tem_d={cookie}")
    for name in draw(st.lists(st.sampled_from(["User-Agent", "cf-ipcountry", "cf-ipcity", "X-Junk"]), max_size=2)):
        chosen[name] = draw(HEADER_BYTES)
    return chosen


# ---- fixtures -------------------------------------------------------------------------------------------


@dataclass
class Genuine:
    """A genuine, activated stamp (serial 1 on LOT-1) and what its scan led to."""

    uri: str
    stamp: ParsedStamp
    trace_path: str
    token: str


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def genuine(world: World) -> Genuine:
    stamps = issue_and_activate(world)
    uri = stamps.uris[0]
    redirect = world.client.get(path_of(uri), follow_redirects=False)
    assert redirect.status_code == 307
    location = urlsplit(redirect.headers["location"])
    parts = urlsplit(uri)
    return Genuine(uri, parse_stamp_path(parts.path, parts.query), location.path, scan_token_of(redirect))


def sent_stamp(response: Any) -> ParsedStamp | None:
    """What the server was asked to resolve, parsed the way the resolver parses it."""
    raw = response.request.url.raw_path.decode("latin-1")
    path, _, query = raw.partition("?")
    try:
        return parse_stamp_path(path, query)
    except StampFormatError:
        return None


def same_stamp(a: ParsedStamp | None, b: ParsedStamp) -> bool:
    return a is not None and (a.gtin, a.serial, a.kid, a.signature) == (b.gtin, b.serial, b.kid, b.signature)


VERDICT = re.compile(r'data-verdict="(genuine|suspect|counterfeit)"')
SCAN_STATUSES = {200, 204, 307, 400, 404, 405, 414, 422, 429, 431}


# ---- the scan route -------------------------------------------------------------------------------------


LINK_TYPES = st.sampled_from(
    ["linkset", "all", "gs1:pip", "gs1:traceability", "gs1:xyz", "https://evil.example/x", "//evil.example"]
)
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@FUZZ
@given(data=st.data())
def test_mutated_stamp_uris_are_answered_safely(world: World, genuine: Genuine, data: st.DataObject) -> None:
    stamp = genuine.stamp
    broken = changing(data, ["gtin", "serial", "kid", "sig", "lot", "query", "headers", "method"])

    def part(name: str, value: str, alphabet: str) -> str:
        return data.draw(mutated(value, alphabet), name) if name in broken else value

    gtin = part("gtin", stamp.gtin, "0123456789")
    serial = part("serial", str(stamp.serial), "0123456789")
    kid = part("kid", stamp.kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    sig = part("sig", stamp.sig_b32, B32)
    lot = data.draw(st.one_of(st.just("LOT-1"), JUNK), "lot") if "lot" in broken else None
    path = f"/01/{data.draw(encoded(gtin, 'gtin' in broken))}"
    if lot is not None:
        path += f"/10/{data.draw(encoded(lot))}"
    path += f"/21/{data.draw(encoded(serial, 'serial' in broken))}"
    params = [("k", st.just(kid), "kid" in broken), ("s", st.just(sig), "sig" in broken)]
    if "query" in broken:
        params += [("linkType", LINK_TYPES, True), ("17", JUNK, True)]
    query = data.draw(query_string(params, "query" in broken), "query")
    method = data.draw(st.sampled_from(["HEAD", "OPTIONS", "POST", "PUT"]), "method") if "method" in broken else "GET"
    sent_headers = data.draw(headers(), "headers") if "headers" in broken else {}
    response = world.client.request(method, f"{path}?{query}", headers=sent_headers, follow_redirects=False)
    assert_safe(response, SCAN_STATUSES)
    if not broken:
        assert response.status_code == 307  # the genuine stamp, as sent by these helpers, still resolves
    names = {part.partition("=")[0] for part in response.request.url.query.decode("latin-1").split("&")}
    unsigned = "k" not in names and "s" not in names  # as the resolver tells a stamp scan from a GS1 request
    if unsigned and response.status_code == 307:
        # A GS1 resolution of an unsigned URI: the stamp's or its product's links, and never a scan's verdict.
        assert response.headers["location"].startswith(BASE_URL + "/")
        assert not any(c.startswith("tem_scan=") for c in response.headers.get_list("set-cookie"))
    elif response.status_code in (307, 429) or 'data-verdict="genuine"' in response.text:
        # Only the genuine stamp's fields ever redirect (to the trace page or a link); a 429 is for forgeries.
        assert same_stamp(sent_stamp(response), stamp) == (response.status_code != 429)
    if response.status_code == 400 and method == "GET":
        assert 'data-verdict="unknown"' in response.text
    if response.status_code == 200 and method == "GET" and response.headers["content-type"].startswith("text/html"):
        assert 'data-verdict="unknown"' not in response.text  # never a 200 that carries an error


@FUZZ
@given(
    raw_path=st.one_of(st.binary(max_size=300).map(lambda b: b"/01/" + b), st.just(b"/01/08938604500010/21/1")),
    query=st.binary(max_size=300),
    header_list=st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=200)), max_size=6),
    address=st.one_of(st.none(), st.sampled_from(["203.0.113.7", "::1", "not-an-ip", ""]), st.text(max_size=10)),
)
def test_the_resolver_survives_any_raw_asgi_request(
    world: World, raw_path: bytes, query: bytes, header_list: list[tuple[bytes, bytes]], address: str | None
) -> None:
    """Servers differ in what they let through; the resolver itself must cope with any bytes at all."""
    status, response_headers, body = call_resolver(
        world.client, raw_path, query, header_list, (address, 1234) if address is not None else None
    )
    assert 200 <= status < 500
    assert dict(response_headers).get(b"content-length") == str(len(body)).encode()
    if status in (301, 302, 303, 307, 308):
        location = dict(response_headers)[b"location"].decode()
        assert location.startswith(BASE_URL + "/")


def call_resolver(
    client: TestClient,
    raw_path: bytes,
    query: bytes,
    header_list: Sequence[tuple[bytes, bytes]] = (),
    peer: tuple[str, int] | None = ("203.0.113.7", 40000),
    method: str = "GET",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Drive the resolver with a hand-built ASGI scope, as a server would, in the app's event loop."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:8000"), *((k.lower(), v) for k, v in header_list)],
        "client": peer,
    }
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    client.portal.call(runtime(client).resolver.handle, Request(scope), send)  # type: ignore[attr-defined]
    start, body = sent
    return start["status"], list(start["headers"]), body["body"]


# ---- the trace page -------------------------------------------------------------------------------------


@FUZZ_MORE
@given(data=st.data())
def test_the_trace_page_answers_any_path_query_and_headers_safely(
    world: World, genuine: Genuine, data: st.DataObject
) -> None:
    token = genuine.token
    broken = changing(data, ["gtin", "lot", "serial", "scan", "lang", "query", "headers"])
    gtin = (
        data.draw(st.one_of(st.just(GTIN_A[1:]), mutated(GTIN_A, "0123456789")), "gtin") if "gtin" in broken else GTIN_A
    )
    lot = data.draw(mutated("LOT-1", "LOT-1/%?&<>\"'"), "lot") if "lot" in broken else "LOT-1"
    params = [("serial", mutated("1", "0123456789-+e. ") if "serial" in broken else st.just("1"), "serial" in broken)]
    if "lang" in broken:
        params.append(("lang", st.one_of(st.sampled_from(["vi", "en", "zh", "fr", ""]), JUNK), True))
    query = data.draw(query_string(params, "query" in broken), "query")
    url = f"/01/{data.draw(encoded(gtin, 'gtin' in broken))}/10/{data.draw(encoded(lot, 'lot' in broken))}?{query}"
    sent_headers = data.draw(headers(), "headers") if "headers" in broken else {}
    # The scan's token comes in its cookie (the scan sets it); a broken one may be mangled or missing.
    scan = data.draw(mutated_part(token, ".", "0123456789abcdefgsc.;= "), "scan") if "scan" in broken else token
    sent_scan = None
    if scan and "cookie" not in {name.lower() for name in sent_headers}:
        sent_headers = {**sent_headers, "cookie": f"tem_scan={scan}".encode()}
        sent_scan = scan
    world.client.cookies.clear()
    response = world.client.get(url, headers=sent_headers, follow_redirects=False)
    event(f"status {response.status_code}")
    assert_safe(response, {200, 307, 400, 404, 414, 422, 431})
    if not broken:
        assert VERDICT.search(response.text)  # the genuine scan's page, as sent by these helpers
    if VERDICT.search(response.text):  # a verdict only for the scan the genuine token names
        assert sent_scan == token
        assert response.status_code == 200


# Inputs that broke a route before it was fixed; kept as plain examples beside the fuzzing above.
KNOWN_BAD: dict[str, tuple[Callable[[Genuine], str], set[int]]] = {
    "trace page, NUL in the lot": (lambda _: f"/01/{GTIN_A}/10/LOT-1%00", {400}),
    "trace page, NUL alone": (lambda _: f"/01/{GTIN_A}/10/%00", {400}),
    "trace page, lot longer than AI 10 allows": (lambda _: f"/01/{GTIN_A}/10/{'L' * 21}", {400}),
    "trace page, surrogate bytes in the lot": (lambda _: f"/01/{GTIN_A}/10/%ED%A0%80", {400}),
    "lot events, NUL in the lot": (lambda _: f"/api/v1/public/lot-events?gtin={GTIN_A}&lot=LOT-1%00", {404}),
    "lot events, NUL in the GTIN": (lambda _: "/api/v1/public/lot-events?gtin=%00&lot=LOT-1", {400}),
    "scan, NUL in the serial": (lambda g: path_of(g.uri).replace("/21/1?", "/21/1%00?"), {400}),
    "scan, NUL in the signature": (lambda g: path_of(g.uri) + "%00", {400}),
}


def test_a_non_ascii_scan_cookie_is_no_verdict(world: World, genuine: Genuine) -> None:
    world.client.cookies.clear()
    mangled = genuine.token[:-1] + "é"
    response = world.client.get(f"{genuine.trace_path}?serial=1", headers={"cookie": f"tem_scan={mangled}".encode()})
    assert_safe(response, {200})
    assert not VERDICT.search(response.text)
    assert 'data-checked="no"' in response.text


def test_known_bad_inputs_are_answered_safely(world: World, genuine: Genuine) -> None:
    wrong = {}
    for case, (url, statuses) in KNOWN_BAD.items():
        try:
            response = world.client.get(url(genuine), follow_redirects=False)
            assert_safe(response, statuses)
            assert not VERDICT.search(response.text)
        except Exception as exc:  # every case is tried and reported, not only the first that fails
            wrong[case] = repr(exc)[:300]
    assert wrong == {}


# ---- the phone's location report -----------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(UNICODE, max_size=30),
        st.sampled_from(PAYLOADS),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


@FUZZ
@given(data=st.data())
def test_location_reports_are_answered_safely(world: World, genuine: Genuine, data: st.DataObject) -> None:
    genuine_report: dict[str, Any] = {
        "scan": genuine.token,
        "gtin": GTIN_A,
        "serial": 1,
        "latitude": 10.5,
        "longitude": 106.25,
        "accuracy_m": 30,
    }
    broken_values: dict[str, st.SearchStrategy[Any]] = {
        "scan": st.one_of(mutated_part(genuine.token, ".", "0123456789abcdefgsc."), JSON_VALUES),
        "gtin": st.one_of(st.just(GTIN_A[1:]), mutated(GTIN_A, "0123456789"), JSON_VALUES),
        "serial": st.one_of(st.just("1"), st.integers(), st.just(10**30), JSON_VALUES),
        "latitude": st.one_of(st.floats(), JSON_VALUES),
        "longitude": st.one_of(st.floats(), JSON_VALUES),
        "accuracy_m": st.one_of(st.floats(), JSON_VALUES),
    }
    broken = changing(data, [*broken_values, "missing", "extra", "body"])
    report = {k: data.draw(broken_values[k], k) if k in broken else v for k, v in genuine_report.items()}
    if "missing" in broken:
        report.pop(data.draw(st.sampled_from(sorted(report)), "missing"))
    if "extra" in broken:
        report.update(data.draw(st.dictionaries(st.sampled_from(["extra", "<b>", "scan "]), JSON_VALUES, min_size=1)))
    # json.dumps writes NaN/Infinity literals for non-finite floats, as a sloppy client might.
    body = json.dumps(report).encode()
    content_type = "application/json"
    if "body" in broken:
        body = data.draw(
            st.one_of(
                st.binary(max_size=100),
                st.sampled_from([b"", b"{", b"[]", b"null", b'{"scan": "\\ud800"}', b"\xff\xfe{}", body[:-1]]),
            ),
            "body",
        )
        content_type = data.draw(
            st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
        )
    response = world.client.post("/scans/location", content=body, headers={"Content-Type": content_type})
    assert_safe(response, {204, 400, 404, 414, 415, 422, 431})
    if not broken:
        assert response.status_code == 204
    if response.status_code == 204:  # only for the genuine scan, and only with a real position
        assert report.get("scan") == genuine.token
        assert report["gtin"] == GTIN_A
        assert -90 <= float(report["latitude"]) <= 90
        assert -180 <= float(report["longitude"]) <= 180


def test_location_reports_only_move_their_own_scan(world: World, genuine: Genuine) -> None:
    c = world.client
    good = {"scan": genuine.token, "gtin": GTIN_A, "serial": 1, "latitude": 10.5, "longitude": 106.25}
    tampered = [
        {**good, "serial": 2},
        {**good, "gtin": GTIN_A[1:]},
        {**good, "scan": genuine.token.replace(".g.", ".s.")},
        {**good, "scan": genuine.token + "é"},
        {**good, "scan": genuine.token[:-1] + "é"},
        {**good, "scan": "é" * 26 + ".g." + "0" * 20},
    ]
    for report in tampered:
        assert c.post("/scans/location", json={**report, "accuracy_m": 20}).status_code == 404
    assert c.post("/scans/location", json={**good, "accuracy_m": 20}).status_code == 204
    flush(c)
    (row,) = scans(c)
    assert (row.latitude, row.longitude, row.location_source) == (10.5, 106.25, "device")


# ---- the lot's events and the .well-known documents ---------------------------------------------------


@FUZZ
@given(data=st.data())
def test_lot_events_answer_any_query_safely(world: World, genuine: Genuine, data: st.DataObject) -> None:
    broken = changing(data, ["gtin", "lot", "query", "headers"])
    gtins = st.one_of(st.just(GTIN_A[1:]), mutated(GTIN_A, "0123456789"))
    lots = mutated("LOT-1", "LOT-1/%?&<>\"'")
    params = [
        ("gtin", gtins if "gtin" in broken else st.just(GTIN_A), "gtin" in broken),
        ("lot", lots if "lot" in broken else st.just("LOT-1"), "lot" in broken),
    ]
    query = data.draw(query_string(params, "query" in broken), "query")
    sent_headers = data.draw(headers(), "headers") if "headers" in broken else {}
    response = world.client.get(f"/api/v1/public/lot-events?{query}", headers=sent_headers, follow_redirects=False)
    assert_safe(response, {200, 400, 404, 414, 422, 431})
    if not broken:
        assert response.status_code == 200
    if response.status_code == 200:
        sent = parse_qs(response.request.url.query.decode("latin-1"), keep_blank_values=True)
        assert sent["lot"][-1] == "LOT-1"
        assert _normalized(sent["gtin"][-1]) == GTIN_A
        assert response.json()["type"] == "EPCISDocument"


def _normalized(gtin: str) -> str | None:
    try:
        return normalize_gtin(gtin)
    except GtinError:
        return None


@FUZZ
@given(data=st.data())
def test_well_known_documents_answer_anything_safely(world: World, data: st.DataObject) -> None:
    name = data.draw(
        st.one_of(
            st.sampled_from(["gs1resolver", "tem-keys.json", "gs1resolver/", "tem-keys.json/", "", "x/../gs1resolver"]),
            mutated("tem-keys.json", "abc.-/%"),
            JUNK,
        ),
        "name",
    )
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD", "OPTIONS", "POST", "DELETE"]), "method")
    extra = data.draw(headers(), "headers")
    if data.draw(st.booleans()):
        extra["If-None-Match"] = _wire_safe(data.draw(st.one_of(st.just('"x", *'), JUNK), "etag"))
    query = data.draw(query_string([("linkType", JUNK, True)]), "query")
    response = world.client.request(
        method, f"/.well-known/{data.draw(encoded(name))}?{query}", headers=extra, follow_redirects=False
    )
    assert_safe(response, {200, 204, 304, 307, 404, 405, 414, 422, 431})


# ---- stored input from the packing house, reflected on the consumer pages --------------------------------


@pytest.mark.parametrize("code", ["<script>x</script>", '"><img/onerror=1>', "'><svg/onload=1>", "A&B'C\"D/E%F"])
def test_lot_codes_are_escaped_on_every_page_they_reach(world: World, code: str) -> None:
    """The GS1 character set for lot codes includes < > " ' & / %: each page must escape them."""
    c = world.client
    setup_packer(c, world.packer, lot=code)
    issued = order(c, world.packer, GTIN_A, 3)
    ok(
        c.post(
            "/api/v1/activations",
            headers=world.packer,
            json={"gtin": GTIN_A, "first_serial": 1, "last_serial": 2, "lot": code},
        ),
        201,
    )
    reason = f"stolen {code} <script>alert(1)</script>"
    ok(
        c.post(
            "/api/v1/revocations",
            headers=world.packer,
            json={"gtin": GTIN_A, "first_serial": 2, "last_serial": 2, "category": "stolen", "reason": reason},
        ),
        201,
    )
    uris = c.get(f"/api/v1/orders/{issued['id']}/stamps.csv", headers=world.packer).text.splitlines()[1:]
    redirect = c.get(path_of(uris[0]), follow_redirects=False)
    assert_safe(redirect, {307})
    trace = c.get(redirect.headers["location"])
    assert_safe(trace, {200})
    assert 'data-verdict="genuine"' in trace.text
    assert code not in trace.text
    assert _escaped(code) in trace.text
    revoked = c.get(path_of(uris[1]))
    assert_safe(revoked, {200})
    assert 'data-verdict="counterfeit"' in revoked.text
    assert "Reported stolen or lost" in revoked.text
    assert _escaped(reason) not in revoked.text  # the packing house's note never reaches a consumer
    assert "<script>alert(1)" not in revoked.text
    for link_type in ("linkset", "gs1:traceability"):
        linked = c.get(f"{path_of(uris[0])}&linkType={link_type}", follow_redirects=False)
        assert_safe(linked, {200, 307})
    events = c.get("/api/v1/public/lot-events", params={"gtin": GTIN_A, "lot": code})
    assert events.status_code == 200
    assert events.headers["content-type"].startswith("application/ld+json")


def _escaped(text: str) -> str:
    """Jinja2's autoescape (markupsafe) spelling."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")
    )


# ---- oversized requests ---------------------------------------------------------------------------------

ROUTES: dict[str, Callable[[Genuine], tuple[str, str]]] = {
    "scan": lambda g: ("GET", path_of(g.uri)),
    "trace page": lambda g: ("GET", f"{g.trace_path}?serial=1"),
    "lot events": lambda _: ("GET", f"/api/v1/public/lot-events?gtin={GTIN_A}&lot=LOT-1"),
    "location report": lambda _: ("POST", "/scans/location"),
    "gs1resolver": lambda _: ("GET", "/.well-known/gs1resolver"),
    "keyset": lambda _: ("GET", "/.well-known/tem-keys.json"),
}


def _request(client: TestClient, method: str, url: str, **extra: Any) -> Any:
    return client.request(method, url, follow_redirects=False, json={} if method == "POST" else None, **extra)


def _uri_refusals(client: TestClient, genuine: Genuine, routes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """For each route: (status for a URI just over the limit, status for one just under it)."""
    answers = {}
    for route in routes:
        method, url = ROUTES[route](genuine)
        joiner = "&" if "?" in url else "?"
        over = _request(client, method, f"{url}{joiner}pad={'A' * MAX_TARGET}").status_code
        under = _request(client, method, f"{url}{joiner}pad={'A' * (MAX_TARGET - len(url) - 10)}").status_code
        answers[route] = (over, under)
    return answers


def _header_refusals(client: TestClient, genuine: Genuine, routes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """For each route: (status with headers just over the limit, with half of it); padding is never echoed."""
    answers = {}
    for route in routes:
        method, url = ROUTES[route](genuine)
        big = _request(
            client, method, url, headers={f"x-pad-{i}": "B" * 1000 for i in range(MAX_HEADER_BYTES // 1000 + 2)}
        )
        assert "B" * 100 not in big.text
        ordinary = _request(client, method, url, headers={"x-pad": "B" * (MAX_HEADER_BYTES // 2)})
        answers[route] = (big.status_code, ordinary.status_code)
    return answers


GUARDED = [route for route in ROUTES if route != "keyset"]


def test_oversized_uris_are_refused_early(world: World, genuine: Genuine) -> None:
    answers = _uri_refusals(world.client, genuine, GUARDED)
    assert {route: over for route, (over, _) in answers.items()} == dict.fromkeys(GUARDED, 414)
    assert not {route for route, (_, under) in answers.items() if under in (414, 431)}


def test_oversized_headers_are_refused_early(world: World, genuine: Genuine) -> None:
    answers = _header_refusals(world.client, genuine, GUARDED)
    assert {route: big for route, (big, _) in answers.items()} == dict.fromkeys(GUARDED, 431)
    assert not {route for route, (_, ordinary) in answers.items() if ordinary in (414, 431)}


def test_the_keyset_refuses_oversized_uris(world: World, genuine: Genuine) -> None:
    assert _uri_refusals(world.client, genuine, ["keyset"])["keyset"][0] == 414


def test_the_keyset_refuses_oversized_headers(world: World, genuine: Genuine) -> None:
    assert _header_refusals(world.client, genuine, ["keyset"])["keyset"][0] == 431


# ---- redirects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/.well-known/gs1resolver/"), ("GET", "/api/v1/public/lot-events/?gtin=1"), ("POST", "/scans/location/")],
)
def test_a_spoofed_host_header_never_becomes_a_redirect_target(world: World, method: str, path: str) -> None:
    response = world.client.request(method, path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert_safe(response, {200, 204, 400, 404, 405, 422})


def test_redirects_of_a_genuine_scan_ignore_the_host_header(world: World, genuine: Genuine) -> None:
    for extra in ("", "&linkType=gs1:pip", "&linkType=gs1:traceability", "&linkType=gs1:verificationService"):
        response = world.client.get(
            path_of(genuine.uri) + extra,
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
            follow_redirects=False,
        )
        assert response.status_code == 307
        assert_safe(response, {307})
        assert "evil" not in response.headers["link"]


# ---- forged-scan bursts ---------------------------------------------------------------------------------

LIMIT = 3


def _forged(genuine: Genuine) -> tuple[bytes, bytes]:
    """Serial 2 with serial 1's signature: well-formed, signed by no one."""
    path = urlsplit(genuine.uri).path.replace("/21/1", "/21/2")
    return path.encode(), urlsplit(genuine.uri).query.encode()


@pytest.fixture
def limited(world: World, genuine: Genuine) -> Genuine:
    resolver = runtime(world.client).resolver
    resolver.config = replace(resolver.config, forged_burst_limit=LIMIT)
    return genuine


def _burst(client: TestClient, genuine: Genuine, peer: str, count: int, **headers: str) -> list[int]:
    path, query = _forged(genuine)
    header_list = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return [call_resolver(client, path, query, header_list, (peer, 5000))[0] for _ in range(count)]


def test_forged_bursts_are_limited_per_network_and_counted(
    world: World, limited: Genuine, caplog: pytest.LogCaptureFixture
) -> None:
    c = world.client
    flush(c)  # the genuine scan the fixture made
    caplog.set_level(logging.WARNING, logger="tem.resolver")
    assert _burst(c, limited, "203.0.113.7", LIMIT + 2) == [200] * LIMIT + [429, 429]
    assert _burst(c, limited, "203.0.113.200", 1) == [429]  # same /24
    assert _burst(c, limited, "203.0.114.7", LIMIT) == [200] * LIMIT  # the next /24 is not affected
    assert _burst(c, limited, "2001:db8:1:2::1", LIMIT + 1) == [200] * LIMIT + [429]
    assert _burst(c, limited, "2001:db8:1:ffff::9", 1) == [429]  # same /48
    assert _burst(c, limited, "2001:db8:2::1", 1) == [200]
    # A blocked network still gets its genuine scans through.
    path, query = urlsplit(limited.uri).path.encode(), urlsplit(limited.uri).query.encode()
    assert call_resolver(c, path, query, (), ("203.0.113.7", 5000))[0] == 307
    # Counted: one warning per network that went over, however long the burst goes on.
    bursts = [r for r in caplog.records if r.getMessage().startswith("forged_scan_burst")]
    assert len(bursts) == 2
    assert all(f"count={LIMIT + 1}" in r.getMessage() for r in bursts)
    assert not any("203.0.113" in r.getMessage() or "2001:db8" in r.getMessage() for r in caplog.records)
    # None of it reached the scan log.
    assert flush(c) == 1


def test_an_untrusted_forwarding_header_cannot_dodge_the_limit(world: World, limited: Genuine) -> None:
    codes = [_burst(world.client, limited, "203.0.113.7", 1, cf_connecting_ip=f"198.51.{i}.1")[0] for i in range(5)]
    assert codes == [200] * LIMIT + [429, 429]


def test_a_trusted_edge_counts_each_visitors_network(world: World, limited: Genuine) -> None:
    resolver = runtime(world.client).resolver
    edge = "192.0.2.1"  # every request comes from the edge; the header names the visitor
    trusted = (ipaddress.ip_network("192.0.2.0/24"),)  # TEM_TRUSTED_PROXIES names the edge's addresses
    resolver.config = resolver.scans.config = replace(
        resolver.config, client_ip_header="cf-connecting-ip", trusted_proxies=trusted
    )
    assert _burst(world.client, limited, edge, LIMIT + 1, cf_connecting_ip="203.0.113.7") == [200] * LIMIT + [429]
    assert _burst(world.client, limited, edge, 1, cf_connecting_ip="198.51.100.7") == [200]


def test_an_edge_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(world: World, limited: Genuine) -> None:
    resolver = runtime(world.client).resolver
    resolver.config = resolver.scans.config = replace(resolver.config, client_ip_header="cf-connecting-ip")
    stranger = "192.0.2.1"  # not in TEM_TRUSTED_PROXIES (loopback by default): its header names nobody
    codes = [_burst(world.client, limited, stranger, 1, cf_connecting_ip=f"198.51.{i}.7")[0] for i in range(LIMIT + 1)]
    assert codes == [200] * LIMIT + [429]


def test_ipv4_mapped_visitors_are_counted_by_their_ipv4_network(world: World, limited: Genuine) -> None:
    assert _burst(world.client, limited, "::ffff:203.0.113.7", LIMIT + 1) == [200] * LIMIT + [429]
    assert _burst(world.client, limited, "::ffff:198.51.100.7", 1) == [200]
