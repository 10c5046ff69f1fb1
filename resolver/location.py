"""Where a scan happened: trusted edge headers, a MaxMind-format IP database, or the phone's GPS."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from detection.engine.model import LocationSource, Place

log = logging.getLogger("tem.resolver")

# Mobile carriers route through distant gateways: IP locations are often ~200 km off.
MOBILE_ACCURACY_KM = 200.0


@dataclass(frozen=True, slots=True)
class EdgeHeaders:
    country: str = "cf-ipcountry"
    latitude: str = "cf-iplatitude"
    longitude: str = "cf-iplongitude"
    region: str = "cf-region-code"
    city: str = "cf-ipcity"


def _coordinate(text: str | None, limit: float) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    if value is None or not -limit <= value <= limit:
        return None
    return value


def _clean(text: str | None, size: int) -> str | None:
    if not text:
        return None
    with contextlib.suppress(UnicodeError):  # servers hand header bytes over as latin-1; the edge sends UTF-8
        text = text.encode("latin-1").decode("utf-8")
    cleaned = "".join(ch for ch in text if ch.isprintable())[:size].strip()
    return cleaned or None


def _country(text: str | None) -> str | None:
    """Exactly two ASCII letters, and not Cloudflare's unknown (XX) or Tor (T1) markers; junk is dropped,
    never cut down to something that looks like a country."""
    code = (text or "").strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha() or code in {"XX", "T1"}:
        return None
    return code


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: The scope's socket peer, kept by `tem.proxies.TrustedProxies` when it rewrites the client from X-Forwarded-For.
PEER = "tem.peer"


def peer_of(scope: Mapping[str, Any]) -> str | None:
    """The socket peer's address, never a header's: what the edge headers' trust is judged by."""
    if PEER in scope:
        peer: str | None = scope[PEER]
        return peer
    client = scope.get("client")
    return str(client[0]) if client else None


LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@functools.lru_cache(maxsize=4096)
def from_proxy(peer: str | None, proxies: tuple[Network, ...]) -> bool:
    """Whether the socket peer is one of the trusted proxies (TEM_TRUSTED_PROXIES), whose forwarded client
    address and edge headers are believed; any other peer's are ignored, so a client cannot forge them. A peer
    that is not an IP address is on this host (a Unix socket; an in-process test client) and counts as one."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:  # a Unix socket's path, a test client's name
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in proxies)


class Locator:
    def __init__(
        self,
        trust_edge_headers: bool = False,
        edge: EdgeHeaders | None = None,
        ip_database: Path | None = None,
        edge_accuracy_km: float = MOBILE_ACCURACY_KM,
        trusted_proxies: tuple[Network, ...] = LOOPBACK,
    ) -> None:
        self._trust_edge = trust_edge_headers
        self._proxies = trusted_proxies
        self._edge = edge or EdgeHeaders()
        self._edge_accuracy = edge_accuracy_km
        self._reader: Any = None
        if ip_database is not None:
            self._reader = maxminddb.open_database(str(ip_database))

    def locate(self, headers: Mapping[str, str], ip: str | None, peer: str | None = None) -> Place | None:
        """`peer` is the socket peer's address: the edge headers count only from one of the trusted proxies."""
        if self._trust_edge and from_proxy(peer, self._proxies):
            place = self._from_edge(headers)
            if place is not None:
                return place
        if self._reader is not None and ip:
            return self._from_database(ip)
        return None

    def _from_edge(self, headers: Mapping[str, str]) -> Place | None:
        country = _country(headers.get(self._edge.country))
        lat = _coordinate(headers.get(self._edge.latitude), 90)
        lon = _coordinate(headers.get(self._edge.longitude), 180)
        if country is None and (lat is None or lon is None):
            return None
        return Place(
            country=country,
            region=_clean(headers.get(self._edge.region), 80),
            city=_clean(headers.get(self._edge.city), 120),
            latitude=lat if lon is not None else None,
            longitude=lon if lat is not None else None,
            accuracy_km=self._edge_accuracy,
            source=LocationSource.EDGE,
        )

    def _from_database(self, ip: str) -> Place | None:
        try:
            address = ipaddress.ip_address(ip)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
            record = self._reader.get(address.compressed)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        location = record.get("location") or {}
        subdivisions = record.get("subdivisions") or [{}]
        country = (record.get("country") or {}).get("iso_code")
        return Place(
            country=country,
            region=_english_name(subdivisions[0]),
            city=_english_name(record.get("city")),
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            accuracy_km=float(location.get("accuracy_radius") or MOBILE_ACCURACY_KM),
            source=LocationSource.IP_DATABASE,
        )


def _english_name(node: Any) -> str | None:
    name = ((node or {}).get("names") or {}).get("en")
    return str(name) if name else None


def device_place(latitude: float, longitude: float, accuracy_m: float) -> Place:
    return Place(
        latitude=round(latitude, 5),
        longitude=round(longitude, 5),
        accuracy_km=max(accuracy_m, 1.0) / 1000,
        source=LocationSource.DEVICE,
    )
