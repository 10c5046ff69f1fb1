"""Where a scan happened: trusted edge headers, a MaxMind-format IP database, or the phone's GPS."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from resolver.scans import LocationSource, Place

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
    cleaned = "".join(ch for ch in text if ch.isprintable())[:size].strip()
    return cleaned or None


class Locator:
    def __init__(
        self,
        trust_edge_headers: bool = False,
        edge: EdgeHeaders | None = None,
        ip_database: Path | None = None,
        edge_accuracy_km: float = MOBILE_ACCURACY_KM,
    ) -> None:
        self._trust_edge = trust_edge_headers
        self._edge = edge or EdgeHeaders()
        self._edge_accuracy = edge_accuracy_km
        self._reader: Any = None
        if ip_database is not None:
            self._reader = maxminddb.open_database(str(ip_database))

    def locate(self, headers: Mapping[str, str], ip: str | None) -> Place | None:
        if self._trust_edge:
            place = self._from_edge(headers)
            if place is not None:
                return place
        if self._reader is not None and ip:
            return self._from_database(ip)
        return None

    def _from_edge(self, headers: Mapping[str, str]) -> Place | None:
        country = _clean(headers.get(self._edge.country), 2)
        if country is not None:
            country = country.upper()
            if not country.isalpha() or country in {"XX", "T1"}:  # Cloudflare's unknown and Tor markers
                country = None
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
            record = self._reader.get(ipaddress.ip_address(ip).compressed)
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
