"""Recording and judging a scan, written once for everyone who scans: the hot path's consumer scans, an
inspector's or distributor's check (`inspector`), and a scratch-off PIN entry (the trace page). Also what
ties a scan to its trace page: the scan token and the device cookie."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

from detection.engine import StampMemory, stamp_verdict
from detection.engine.model import Place, Role, Verdict
from detection.online import Detector, Judgement, judge_pin, network_of, record_and_judge
from detection.ports import Lookup
from detection.scans import ScanEvent, new_scan_id, now_millis
from resolver.location import LOOPBACK, Network, from_proxy
from resolver.store import ScanStore
from tem.core import metrics

DEVICE_COOKIE = "tem_d"
# The verdict of the scan that led to a trace page, for that page only; short-lived, so a link shared later
# shows "not checked" rather than someone else's verdict.
SCAN_COOKIE = "tem_scan"
SCAN_COOKIE_SECONDS = 900
VERDICT_LETTER = {Verdict.GENUINE: "g", Verdict.SUSPECT: "s", Verdict.COUNTERFEIT: "c", Verdict.UNKNOWN: "u"}
LETTER_VERDICT = {v: k for k, v in VERDICT_LETTER.items()}


@dataclass(frozen=True, slots=True)
class ResolverConfig:
    base: str  # as configured, e.g. http://127.0.0.1:8000
    link_key: bytes
    ip_salt: bytes
    forged_burst_limit: int = 30
    forged_window_seconds: int = 60
    verify_cache_size: int = 200_000
    secure_cookies: bool = False
    client_ip_header: str | None = None
    trusted_proxies: tuple[Network, ...] = LOOPBACK  # the only peers whose client_ip_header counts


def scan_token(key: bytes, scan_id: str, gtin: str, serial: int, verdict: Verdict) -> str:
    """What the trace page link carries: the scan id, the verdict, and a MAC so neither can be forged.
    It is not bound to the device: phones whose scanner drops cookies must still see their verdict."""
    letter = VERDICT_LETTER[verdict]
    message = f"{scan_id}|{gtin}|{serial}|{letter}".encode()
    mac = hmac.digest(key, message, "sha256").hex()[:20]  # hmac.new(...).hexdigest(), in one C call
    return f"{scan_id}.{letter}.{mac}"


def read_scan_token(key: bytes, token: str, gtin: str, serial: int) -> tuple[str, Verdict] | None:
    if not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[1] not in LETTER_VERDICT or len(parts[0]) != 26:
        return None
    scan_id, letter, mac = parts
    message = f"{scan_id}|{gtin}|{serial}|{letter}".encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()[:20]
    if not hmac.compare_digest(mac, expected):
        return None
    return scan_id, LETTER_VERDICT[letter]


def device_id_for(cookie: str, user_agent: str) -> str:
    ua = hashlib.blake2b(user_agent.encode(errors="replace"), digest_size=4).hexdigest()
    return f"{cookie}.{ua}"


def read_cookie(headers: Mapping[str, str], name: str, longest: int = 40) -> str | None:
    """A cookie's value when it looks like one Tem set: URL-safe characters (and the scan token's dots)."""
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and 16 <= len(value) <= longest and value.translate(_COOKIE_PUNCTUATION).isalnum():
            return value
    return None


_COOKIE_PUNCTUATION = str.maketrans("", "", "-_.")


class ScanService:
    """Records a scan and has detection judge it, saved with the stamp's memory in one round trip to the scan
    store. Built once per process (`tem.runtime`); the hot path calls it on every scan, so it stays lean."""

    __slots__ = ("config", "detector", "store")

    def __init__(self, config: ResolverConfig, store: ScanStore, detector: Detector) -> None:
        self.config = config
        self.store = store
        self.detector = detector

    def client_ip(self, headers: Mapping[str, str], peer: str | None) -> str | None:
        """The edge's client address header when it is trusted and came from a trusted proxy, else the peer's."""
        if self.config.client_ip_header and from_proxy(peer, self.config.trusted_proxies):
            forwarded = headers.get(self.config.client_ip_header)
            if forwarded:
                return forwarded.split(",")[0].strip()
        return peer

    def ip_hash(self, ip: str | None) -> str | None:
        """Addresses are never kept: a keyed hash, to count a network's scans."""
        if not ip:
            return None
        return hashlib.blake2b(ip.encode(), key=self.config.ip_salt, digest_size=16).hexdigest()

    def network(self, ip: str | None) -> str | None:
        return network_of(ip, self.config.ip_salt)

    def record(
        self,
        gtin: str,
        serial: int,
        kid: str,
        lookup: Lookup,
        role: Role,
        device_id: str,
        ip: str | None,
        place: Place | None,
    ) -> Awaitable[Judgement]:
        """Record one scan and judge it; the judgement carries the scan log entry (its `scan_id`)."""
        event = _entry(gtin, serial, kid, lookup, role, device_id, self.ip_hash(ip), place, "scan")
        return record_and_judge(self.store, self.detector, event, lookup, network_of(ip, self.config.ip_salt))

    async def verdict(self, gtin: str, serial: int, lookup: Lookup) -> Verdict:
        """The stamp's verdict as it stands, without recording anything (`stamp_verdict`)."""
        _version, memory = await self.store.load_memory(gtin, serial)  # the store's: another process may have moved
        return stamp_verdict(lookup.state, StampMemory.from_bytes(memory) if memory else StampMemory())

    async def record_pin(self, gtin: str, serial: int, lookup: Lookup, device_id: str, correct: bool) -> Judgement:
        """A PIN entry is evidence too: detection sees it as an entry of kind "pin" on the stamp."""
        event = _entry(gtin, serial, "", lookup, Role.CONSUMER, device_id, None, None, "pin")
        return await judge_pin(self.store, self.detector, event, lookup, correct)


def consumer_scan_counts() -> dict[Verdict, metrics.BufferedCounter]:
    """tem_scans_total's children for the hot path's consumer scans, bound once, each counted in memory and
    flushed into its child (`metrics.flush_buffered`): a scan's count takes no lock."""
    return {
        v: metrics.buffered(metrics.SCANS.labels(verdict=v.value, role=Role.CONSUMER.value, kind="scan"))
        for v in Verdict
    }


class CountingScanService(ScanService):
    """`ScanService` that also counts each answered scan and PIN entry by verdict and role (`tem_scans_total`).
    A subclass, so that with metrics off (`TEM_METRICS=false`) the scan path runs exactly the code above."""

    __slots__ = ("_pins", "_scans")

    def __init__(self, config: ResolverConfig, store: ScanStore, detector: Detector) -> None:
        super().__init__(config, store, detector)
        # Every child bound now: a scan costs two dict lookups and an inc.
        self._scans = {
            role: {v: metrics.SCANS.labels(verdict=v.value, role=role.value, kind="scan") for v in Verdict}
            for role in Role
        }
        self._pins = {v: metrics.SCANS.labels(verdict=v.value, role=Role.CONSUMER.value, kind="pin") for v in Verdict}

    async def record(
        self,
        gtin: str,
        serial: int,
        kid: str,
        lookup: Lookup,
        role: Role,
        device_id: str,
        ip: str | None,
        place: Place | None,
    ) -> Judgement:
        judgement = await super().record(gtin, serial, kid, lookup, role, device_id, ip, place)
        self._scans[role][judgement.verdict].inc()
        return judgement

    async def record_pin(self, gtin: str, serial: int, lookup: Lookup, device_id: str, correct: bool) -> Judgement:
        judgement = await super().record_pin(gtin, serial, lookup, device_id, correct)
        self._pins[judgement.verdict].inc()
        return judgement


def _entry(
    gtin: str,
    serial: int,
    kid: str,
    lookup: Lookup,
    role: Role,
    device_id: str,
    ip_hash: str | None,
    place: Place | None,
    kind: str,
) -> ScanEvent:
    """A new scan log entry, its verdict left for detection."""
    now = now_millis()
    return ScanEvent(
        scan_id=new_scan_id(now),
        at=now,
        gtin=gtin,
        serial=serial,
        kid=kid,
        state=lookup.state.value,
        verdict=Verdict.UNKNOWN,
        role=role,
        device_id=device_id,
        ip_hash=ip_hash,
        place=place,
        lot_id=lookup.lot.lot_id if lookup.lot else None,
        kind=kind,
    )
