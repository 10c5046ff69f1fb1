"""Where a scan is: a real MaxMind-format database, trusted edge headers, junk headers, and the in-process
scan-log worker that writes located scans to the database."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import maxminddb
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mmdb_writer import MmdbF64, MmdbU16, MMDBWriter
from netaddr import IPSet

from detection.engine.model import LocationSource
from resolver.hotpath import Request
from resolver.location import MOBILE_ACCURACY_KM, Locator
from tem.core.settings import Settings
from tests.conftest import BASE_URL, REDIS_URL, World
from tests.resolver_helpers import flush, issue_and_activate, runtime, scans

CLIENT_IP = "203.0.113.7"  # TEST-NET-3, inside the city record below
NANNING = {"country": "CN", "region": "Guangxi", "city": "Nanning", "latitude": 22.8167, "longitude": 108.3167}
NANNING_RADIUS_KM = 50
COUNTRY_ONLY_NETWORK = "198.51.100.0/24"  # TEST-NET-2: a country record without a location


def write_city_database(path: Path) -> Path:
    """A tiny GeoIP2-City-shaped database: one IPv4 and one IPv6 network in Nanning, one country-only
    network in Vietnam. IPv4 networks live in the IPv6 tree's ::/96, as in MaxMind's own files."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description="Tem test city database",
    )
    writer.insert_network(
        IPSet(["203.0.113.0/24", "2001:db8::/32"]),
        {
            "country": {"iso_code": "CN", "names": {"en": "China"}},
            "subdivisions": [{"iso_code": "GX", "names": {"en": "Guangxi"}}],
            "city": {"names": {"en": "Nanning", "zh-CN": "南宁"}},
            "location": {
                "latitude": MmdbF64(22.8167),
                "longitude": MmdbF64(108.3167),
                "accuracy_radius": MmdbU16(NANNING_RADIUS_KM),
                "time_zone": "Asia/Shanghai",
            },
        },
    )
    writer.insert_network(IPSet([COUNTRY_ONLY_NETWORK]), {"country": {"iso_code": "VN", "names": {"en": "Vietnam"}}})
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The conftest settings plus the database file; tests parametrize further overrides indirectly."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    database = write_city_database(tmp_path / "city.mmdb")
    return settings.model_copy(update={"geoip_database": database, **overrides})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from tem.app import create_app

    with TestClient(create_app(settings), base_url=BASE_URL, client=(CLIENT_IP, 5555)) as test_client:
        yield test_client


# The edge's headers count only from a trusted proxy (TEM_TRUSTED_PROXIES): here the test client's peer is one.
PROXY = {"trust_edge_headers": True, "trusted_proxies": [ipaddress.ip_network("203.0.113.0/24")]}
trusted = pytest.mark.parametrize("settings", [PROXY], indirect=True)


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def location_of(row: Any) -> dict[str, Any]:
    return {
        "country": row.country,
        "region": row.region,
        "city": row.city,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "accuracy_km": row.accuracy_km,
        "source": row.location_source,
    }


# A lot sold in Vietnam as well as China. These tests are about where a scan is placed; a scan in Vietnam of a
# lot sent only abroad is detection's business (it is suspect), so the lot here is sold at home too.
SOLD_AT_HOME: dict[str, Any] = {"destination_markets": ["CN", "VN"]}


def scan_as(client: TestClient, uri: str, address: str | None, headers: Mapping[str, str | bytes] | None = None) -> int:
    """Drive the resolver with a hand-built ASGI scope, so the client address can be anything."""
    path = path_of(uri)
    raw_path, _, query = path.partition("?")
    encoded = [
        (name.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode("latin-1"))
        for name, value in (headers or {}).items()
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8000"), *encoded],
        "client": (address, 40000) if address is not None else None,
    }
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    client.portal.call(runtime(client).resolver.handle, Request(scope), send)  # type: ignore[attr-defined]
    status: int = sent[0]["status"]
    return status


def test_the_database_file_is_readable_by_maxminddb(tmp_path: Path) -> None:
    """The fixture itself: the file is a MaxMind DB that the official reader accepts."""
    path = write_city_database(tmp_path / "city.mmdb")
    with maxminddb.open_database(str(path)) as reader:
        assert reader.metadata().database_type == "GeoIP2-City"
        assert reader.get(CLIENT_IP)["location"]["accuracy_radius"] == NANNING_RADIUS_KM  # type: ignore[index,call-overload]
        assert reader.get("192.0.2.1") is None


def test_a_scan_is_located_from_the_ip_database(world: World) -> None:
    stamps = issue_and_activate(world)
    response = world.client.get(path_of(stamps.uris[0]), follow_redirects=False)
    assert response.status_code == 307
    assert flush(world.client) == 1
    (row,) = scans(world.client)
    assert location_of(row) == {**NANNING, "accuracy_km": float(NANNING_RADIUS_KM), "source": "ip_db"}
    assert CLIENT_IP not in (row.ip_hash or "")  # the address itself is never stored


def test_the_ip_database_covers_ipv6_and_ipv4_mapped_clients_only_inside_its_networks(world: World) -> None:
    stamps = issue_and_activate(world)
    c = world.client
    addresses = ["2001:db8:42::1", f"::ffff:{CLIENT_IP}", "192.0.2.10", "2001:db9::1", "testclient", None]
    for serial, address in enumerate(addresses, start=1):
        assert scan_as(c, stamps.uris[serial - 1], address) == 307
    flush(c)
    located = {row.serial: location_of(row) for row in scans(c)}
    nanning = {**NANNING, "accuracy_km": float(NANNING_RADIUS_KM), "source": "ip_db"}
    nowhere = dict.fromkeys(nanning)
    assert located == {1: nanning, 2: nanning, 3: nowhere, 4: nowhere, 5: nowhere, 6: nowhere}


def test_a_country_only_record_gets_the_mobile_accuracy(world: World) -> None:
    stamps = issue_and_activate(world, lot_extra=SOLD_AT_HOME)
    assert scan_as(world.client, stamps.uris[0], "198.51.100.20") == 307
    flush(world.client)
    (row,) = scans(world.client)
    assert location_of(row) == {
        "country": "VN",
        "region": None,
        "city": None,
        "latitude": None,
        "longitude": None,
        "accuracy_km": MOBILE_ACCURACY_KM,
        "source": "ip_db",
    }


EDGE_HANOI = {"cf-ipcountry": "VN", "cf-iplatitude": "21.0285", "cf-iplongitude": "105.8542", "cf-region-code": "HN"}


def test_edge_headers_are_ignored_unless_trusted(world: World) -> None:
    stamps = issue_and_activate(world)
    world.client.get(path_of(stamps.uris[0]), headers=EDGE_HANOI, follow_redirects=False)
    # Not trusted: a client cannot move itself, and cannot pick the address the database sees either.
    world.client.get(path_of(stamps.uris[1]), headers={"cf-connecting-ip": "198.51.100.20"}, follow_redirects=False)
    flush(world.client)
    rows = scans(world.client)
    assert [row.location_source for row in rows] == ["ip_db", "ip_db"]
    assert [row.country for row in rows] == ["CN", "CN"]


@trusted
def test_trusted_edge_headers_win_over_the_database_with_a_200_km_radius(world: World) -> None:
    stamps = issue_and_activate(world)
    c = world.client
    c.get(path_of(stamps.uris[0]), headers=EDGE_HANOI, follow_redirects=False)
    c.get(path_of(stamps.uris[1]), follow_redirects=False)  # no edge headers: the database answers
    # The edge's client address header is trusted too: the database looks up that address.
    c.get(path_of(stamps.uris[2]), headers={"cf-connecting-ip": "198.51.100.20"}, follow_redirects=False)
    flush(c)
    rows = {row.serial: location_of(row) for row in scans(c)}
    assert rows[1] == {
        "country": "VN",
        "region": "HN",
        "city": None,
        "latitude": 21.0285,
        "longitude": 105.8542,
        "accuracy_km": 200.0,
        "source": "edge",
    }
    assert rows[2] == {**NANNING, "accuracy_km": float(NANNING_RADIUS_KM), "source": "ip_db"}
    assert (rows[3]["country"], rows[3]["source"]) == ("VN", "ip_db")


DATABASE_ANSWER = {**NANNING, "accuracy_km": float(NANNING_RADIUS_KM), "source": "ip_db"}


EDGE_ONLY = {**dict.fromkeys(NANNING), "accuracy_km": 200.0, "source": "edge"}
# (headers, the location the scan must get): junk is dropped and the database answers instead.
JUNK_EDGE_HEADERS: dict[str, tuple[dict[str, str | bytes], dict[str, Any]]] = {
    "unknown country": ({"cf-ipcountry": "XX"}, DATABASE_ANSWER),
    "tor": ({"cf-ipcountry": "T1"}, DATABASE_ANSWER),
    "not cut to CH": ({"cf-ipcountry": "CHINA"}, DATABASE_ANSWER),
    "one letter": ({"cf-ipcountry": "C"}, DATABASE_ANSWER),
    "non-ASCII letters": ({"cf-ipcountry": "ÇÑ".encode("latin-1")}, DATABASE_ANSWER),
    "control bytes": ({"cf-ipcountry": "\x00\x01"}, DATABASE_ANSWER),
    "lat not a number": ({"cf-iplatitude": "north", "cf-iplongitude": "108.3"}, DATABASE_ANSWER),
    "lat out of range": ({"cf-iplatitude": "91", "cf-iplongitude": "108.3"}, DATABASE_ANSWER),
    "lon out of range": ({"cf-iplatitude": "22.8", "cf-iplongitude": "-180.5"}, DATABASE_ANSWER),
    "nan and inf": ({"cf-iplatitude": "nan", "cf-iplongitude": "inf"}, DATABASE_ANSWER),
    "overflow": ({"cf-iplatitude": "1e999", "cf-iplongitude": "1e999"}, DATABASE_ANSWER),
    "lat without lon": ({"cf-iplatitude": "22.8"}, DATABASE_ANSWER),
    "good country, junk coordinates": (
        {"cf-ipcountry": "vn", "cf-iplatitude": "abc", "cf-iplongitude": "106.7"},
        {**EDGE_ONLY, "country": "VN"},
    ),
    "junk country, good coordinates": (
        {"cf-ipcountry": "XX", "cf-iplatitude": " 10.8 ", "cf-iplongitude": "106.7"},
        {**EDGE_ONLY, "latitude": 10.8, "longitude": 106.7},
    ),
    "UTF-8 city, control bytes in the region": (
        {"cf-ipcountry": "VN", "cf-ipcity": "Hà Nội".encode(), "cf-region-code": "HN\x00\x07"},
        {**EDGE_ONLY, "country": "VN", "region": "HN", "city": "Hà Nội"},
    ),
}


@pytest.mark.parametrize("settings", [{"trust_edge_headers": True}], indirect=True)
def test_forged_edge_and_client_address_headers_from_an_untrusted_peer_are_ignored(world: World) -> None:
    """The default TEM_TRUSTED_PROXIES is loopback: a peer elsewhere that sends the edge's headers itself (a
    forged place, a fresh client address for every forged scan's rate limit) is judged by its own address."""
    stamps = issue_and_activate(world)
    c = world.client
    forged = {**EDGE_HANOI, "cf-connecting-ip": "198.51.100.20"}
    assert scan_as(c, stamps.uris[0], CLIENT_IP, forged) == 307
    flush(c)
    (row,) = scans(c)
    assert location_of(row) == {**NANNING, "accuracy_km": float(NANNING_RADIUS_KM), "source": "ip_db"}
    scanning = runtime(c).resolver.scans
    assert scanning.client_ip({"cf-connecting-ip": "198.51.100.20"}, CLIENT_IP) == CLIENT_IP
    assert scanning.client_ip({"cf-connecting-ip": "198.51.100.20"}, "127.0.0.1") == "198.51.100.20"
    assert scanning.client_ip({"cf-connecting-ip": "198.51.100.20"}, "127.0.0.2") == "127.0.0.2"


@trusted
def test_junk_edge_headers_are_ignored_safely(world: World) -> None:
    """One scan per case (serial n for case n), one worker run: every row is written and as expected."""
    cases = list(JUNK_EDGE_HEADERS.items())
    stamps = issue_and_activate(world, quantity=len(cases), activate_last=len(cases), lot_extra=SOLD_AT_HOME)
    for serial, (_name, (headers, _expected)) in enumerate(cases, start=1):
        assert scan_as(world.client, stamps.uris[serial - 1], CLIENT_IP, headers) == 307
    assert flush(world.client) == len(cases)  # the worker can write whatever the headers held
    got = {row.serial: location_of(row) for row in scans(world.client)}
    wrong = {
        name: got[serial] for serial, (name, (_h, expected)) in enumerate(cases, start=1) if got[serial] != expected
    }
    assert wrong == {}


@trusted
def test_oversized_edge_text_fits_the_scan_table(world: World) -> None:
    stamps = issue_and_activate(world, lot_extra=SOLD_AT_HOME)
    headers = {"cf-ipcountry": "VN", "cf-ipcity": "Đà Lạt " * 40, "cf-region-code": "R" * 300}
    assert scan_as(world.client, stamps.uris[0], CLIENT_IP, {k: v.encode() for k, v in headers.items()}) == 307
    assert flush(world.client) == 1
    (row,) = scans(world.client)
    assert row.city.startswith("Đà Lạt Đà Lạt")
    assert len(row.city) <= 120
    assert row.region == "R" * 80


header_text = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
numberish = st.one_of(
    header_text,
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-1000, max_value=1000).map(str),
)


@hypothesis_settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    country=st.one_of(st.none(), header_text, st.sampled_from(["CN", "vn", "XX", "T1", " cn ", "ZZZ"])),
    latitude=st.one_of(st.none(), numberish),
    longitude=st.one_of(st.none(), numberish),
    region=st.one_of(st.none(), header_text),
    city=st.one_of(st.none(), header_text, st.text(max_size=200).map(lambda s: s.encode().decode("latin-1"))),
)
def test_any_edge_header_text_gives_a_sane_place_or_none(
    country: str | None, latitude: str | None, longitude: str | None, region: str | None, city: str | None
) -> None:
    """Latin-1 text is what an ASGI server hands over for header bytes."""
    names = ("cf-ipcountry", "cf-iplatitude", "cf-iplongitude", "cf-region-code", "cf-ipcity")
    values = (country, latitude, longitude, region, city)
    headers = {name: value for name, value in zip(names, values, strict=True) if value is not None}
    place = Locator(trust_edge_headers=True).locate(headers, None, "127.0.0.1")
    assert Locator(trust_edge_headers=False).locate(headers, None, "127.0.0.1") is None
    assert Locator(trust_edge_headers=True).locate(headers, None, "203.0.113.9") is None  # not a trusted proxy
    if place is None:
        return
    assert place.source is LocationSource.EDGE
    assert place.accuracy_km == MOBILE_ACCURACY_KM
    assert place.country is not None or (place.latitude is not None and place.longitude is not None)
    if place.country is not None:
        assert len(place.country) == 2
        assert place.country.isascii()
        assert place.country.isalpha()
        assert place.country.isupper()
        assert place.country != "XX"
    assert (place.latitude is None) == (place.longitude is None)
    if place.latitude is not None and place.longitude is not None:
        assert -90 <= place.latitude <= 90
        assert -180 <= place.longitude <= 180
    for text, size in ((place.region, 80), (place.city, 120)):
        if text is not None:
            assert 0 < len(text) <= size
            assert text.isprintable()
            assert text == text.strip()


@pytest.mark.parametrize(
    "settings",
    [{"run_worker_in_process": True}, {"run_worker_in_process": None}],
    indirect=True,
    ids=["explicit", "default"],
)
def test_the_embedded_default_writes_scans_in_process(world: World, settings: Settings) -> None:
    """No flush here: the worker task the app started must write the scan on its own."""
    c = world.client
    in_process = settings.run_worker_in_process
    if in_process is None:  # the default: in-process exactly when there is no Redis
        in_process = REDIS_URL is None
        assert (runtime(c).worker is not None) == in_process
        if not in_process:
            return  # with Redis the default is a separate `tem worker`, as asserted just above
    assert runtime(c).worker is not None
    stamps = issue_and_activate(world)
    assert c.get(path_of(stamps.uris[0]), follow_redirects=False).status_code == 307
    deadline = time.monotonic() + 5
    rows = scans(c)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = scans(c)
    assert [(row.serial, row.verdict, row.location_source) for row in rows] == [(1, "genuine", "ip_db")]
