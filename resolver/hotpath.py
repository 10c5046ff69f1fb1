"""The scan hot path: a lean ASGI handler in front of the web app.

Per scan: parse, verify the signature (cached), look the serial up in memory, one round trip to the
scan store, then a 307 to the trace page or a verdict page. No ORM objects, no framework routing.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qsl

from crypto import (
    ParsedStamp,
    PublicKey,
    StampFormatError,
    format_stamp_uri,
    parse_item_path,
    parse_stamp_path,
    verify_stamp,
)
from detection.engine import FindingType, Severity, rules
from detection.engine.model import Role, StampState, Verdict
from detection.ports import Lookup
from detection.scans import ScanEvent, new_scan_id, now_millis
from resolver import linkset as links
from resolver.i18n import choose_language, finding_lines, revoked_line, t
from resolver.location import Locator, peer_of
from resolver.pages import render
from resolver.registry import RegistryCache
from resolver.report_form import ReportForm, stamp_form
from resolver.scanning import (
    DEVICE_COOKIE,
    SCAN_COOKIE,
    SCAN_COOKIE_SECONDS,
    ResolverConfig,
    ScanService,
    device_id_for,
    read_cookie,
    scan_token,
)
from resolver.store.base import StoreUnavailable
from resolver.store.spool import OutageLog
from tem.core.metrics import FORGED_SCANS

log = logging.getLogger("tem.resolver")
_UNAVAILABLE = OutageLog(log, "scan_store_unavailable")

Scope = MutableMapping[str, Any]


class Counting(Protocol):
    """A counter bound to its labels: `tem.core.metrics.BufferedCounter`, flushed into prometheus-client's."""

    def inc(self, amount: float = 1) -> None: ...


Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_TARGET = 2048
MAX_HEADER_BYTES = 16_384
CORS = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"link, location")]
# Every answer about an item depends on Accept: a redirect, or its linkset when one is asked for.
VARY = (b"vary", b"accept")


class Verified:
    """A request target (path and query) already parsed and checked: its stamp, whether the signature
    holds, and what a scan's answer takes from the stamp alone. Made per request from a cache entry."""

    __slots__ = ("link", "ok", "plain", "stamp")

    def __init__(self, stamp: ParsedStamp, ok: bool, plain: bool, link: tuple[bytes, bytes] | None = None) -> None:
        self.stamp = stamp
        self.ok = ok
        self.plain = plain  # the query holds nothing but k and s
        self.link = link  # the Link header, made on first use and then kept in the cache entry


# A cache entry holds atomic values only (gtin, serial, kid, signature, lot, the extras as a flat tuple of
# strings, ok, plain, the Link header's value): CPython stops tracking such tuples, so a full garbage
# collection no longer walks the 200,000 entries of a warm cache and stalls scans for tens of milliseconds.
Entry = tuple[str, int, str, bytes, str | None, tuple[str, ...], bool, bool, bytes | None]


def stamp_of(entry: Entry) -> ParsedStamp:
    flat = entry[5]
    extras = tuple(zip(flat[::2], flat[1::2], strict=True)) if flat else ()
    return ParsedStamp(entry[0], entry[1], entry[2], entry[3], entry[4], extras)


class VerifyCache:
    """Signature outcomes by exact request target, so a popular stamp is parsed and verified once, not on
    every scan; dropped whenever the keyset changes. The oldest entries make room for new ones."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._keyset: Mapping[str, PublicKey] | None = None

    def peek(self, target: bytes) -> Entry | None:
        """The entry for this target, whatever keyset it was checked under: its parsed stamp stands."""
        return self._entries.get(target)

    def get(self, target: bytes, keyset: Mapping[str, PublicKey]) -> Verified | None:
        """The entry for this target, if it was checked under this keyset."""
        if keyset is not self._keyset:
            self._entries.clear()
            self._keyset = keyset
            return None
        entry = self._entries.get(target)
        if entry is None:
            return None
        link = entry[8]
        return Verified(stamp_of(entry), entry[6], entry[7], None if link is None else (b"link", link))

    def add(self, target: bytes, stamp: ParsedStamp, plain: bool, keyset: Mapping[str, PublicKey]) -> Verified:
        result = verify_stamp(stamp, keyset)
        # A revoked key still has a valid signature; revocation is the registry's verdict.
        ok = bool(result) or result.status.value == "key_revoked"
        extras = tuple(part for pair in stamp.extras for part in pair)
        entry: Entry = (stamp.gtin, stamp.serial, stamp.kid, stamp.signature, stamp.lot, extras, ok, plain, None)
        self._entries[target] = entry
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return Verified(stamp, ok, plain)

    def keep_link(self, target: bytes, link: bytes) -> None:
        """Keeps a made Link header's value with the target's entry (if it is still cached)."""
        entry = self._entries.get(target)
        if entry is not None:
            gtin, serial, kid, signature, lot, extras, ok, plain, _ = entry
            self._entries[target] = (gtin, serial, kid, signature, lot, extras, ok, plain, link)


class Request:
    __slots__ = ("_query", "headers", "method", "path", "raw_query", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.raw_query: bytes = scope.get("query_string", b"")
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        self._query: list[tuple[str, str]] | None = None

    @property
    def query(self) -> list[tuple[str, str]]:
        """Parsed on first use: a plain scan (only k and s) never needs it."""
        if self._query is None:
            self._query = parse_qsl(self.raw_query.decode("latin-1"), keep_blank_values=True)
        return self._query

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    @property
    def lang(self) -> str:
        return choose_language(self.headers.get("accept-language"), self.param("lang"))


class Resolver:
    """Handles `/01/{gtin}[/22/..][/10/{lot}]/21/{serial}`."""

    def __init__(
        self,
        config: ResolverConfig,
        registry: RegistryCache,
        scans: ScanService,
        locator: Locator,
        counted: Mapping[Verdict, Counting] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.scans = scans
        self.locator = locator
        # tem_scans_total's consumer children by verdict, counted here rather than around the scan service's
        # call (one coroutine less per scan); None with metrics off.
        self.counted = counted
        self.verify_cache = VerifyCache(config.verify_cache_size)
        self._anchor_base = config.base.rstrip("/")
        self._base = self._anchor_base
        self._lot_paths: dict[tuple[str, str], str] = {}

    async def handle(self, request: Request, send: Send) -> None:
        """A scan the store cannot record is not answered as if it were: the person is asked to retry."""
        try:
            await self._handle(request, send)
        except (StoreUnavailable, OSError, TimeoutError) as exc:
            _UNAVAILABLE.note(type(exc).__name__, logging.ERROR)  # one line per few seconds, with a count
            await self.page(
                request, send, 503, Verdict.UNKNOWN, [t("unavailable", request.lang)], extra=[(b"retry-after", b"30")]
            )

    async def _refused(self, request: Request, send: Send) -> bool:
        """Answers what is not a GET or HEAD of a reasonable size (an OPTIONS preflight included)."""
        if request.method == "OPTIONS":
            await _send(
                send,
                204,
                [
                    (b"allow", b"GET, HEAD, OPTIONS"),
                    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                    (b"access-control-allow-headers", b"accept, accept-language"),
                    *CORS,
                ],
            )
        elif request.method not in ("GET", "HEAD"):
            await _send(send, 405, [(b"allow", b"GET, HEAD, OPTIONS")], b"method not allowed")
        elif len(request.scope.get("raw_path", b"")) + len(request.raw_query) > MAX_TARGET:
            await self.page(request, send, 414, Verdict.UNKNOWN, [t("malformed", request.lang)])
        elif sum(len(k) + len(v) for k, v in request.headers.items()) > MAX_HEADER_BYTES:
            await _send(send, 431, [], b"request headers too large")
        else:
            return False
        return True

    async def _handle(self, request: Request, send: Send) -> None:
        if await self._refused(request, send):
            return
        raw_path: bytes = request.scope.get("raw_path") or request.path.encode()
        if raw_path.endswith(b"/"):  # tolerated, as GS1 resolvers should: the same item either way
            raw_path = raw_path[:-1]
        target = raw_path + b"?" + request.raw_query
        known = self.verify_cache.peek(target)
        parsed: ParsedStamp | None = None
        if known is None:
            query = request.raw_query.decode("latin-1")
            names = {part.partition("=")[0] for part in query.split("&")}
            if "k" not in names and "s" not in names:
                await self.unsigned(request, raw_path.decode("latin-1"), send)
                return
            try:
                parsed = parse_stamp_path(raw_path.decode("latin-1"), query)
            except (StampFormatError, UnicodeDecodeError):
                await self.page(request, send, 400, Verdict.UNKNOWN, [t("malformed", request.lang)])
                return
            plain = all(not part or part.startswith(("k=", "s=")) for part in query.split("&"))
        else:
            plain = known[7]

        snapshot = await self.registry.current()
        verified = self.verify_cache.get(target, snapshot.keyset)
        if verified is None:
            if parsed is None:
                assert known is not None  # a target is parsed only when it was not cached
                parsed = stamp_of(known)
            verified = self.verify_cache.add(target, parsed, plain, snapshot.keyset)
        stamp = verified.stamp
        if not verified.ok:
            await self.forged(request, stamp, send)
            return
        lookup = snapshot.ranges.lookup(stamp.gtin, stamp.serial, stamp.kid)

        link_type = None if verified.plain else request.param("linkType")
        if links.wants_links(link_type, request.headers.get("accept", "")) or (
            link_type and link_type not in ("gs1:defaultLink", "gs1:pip")
        ):
            await self.linked(request, stamp, lookup, link_type, send)
            return
        if request.method == "HEAD":
            await self.head(request, verified, lookup, send, target)
            return
        await self.scan(request, verified, lookup, send, target)

    async def scan(self, request: Request, verified: Verified, lookup: Lookup, send: Send, target: bytes) -> None:
        stamp = verified.stamp
        cookie = read_cookie(request.headers, DEVICE_COOKIE)
        new_cookie = cookie is None
        cookie = cookie or secrets.token_urlsafe(16)
        device = device_id_for(cookie, request.headers.get("user-agent", ""))
        ip = self._client_ip(request)
        place = self.locator.locate(request.headers, ip, _peer(request))
        judgement = await self.scans.record(
            stamp.gtin, stamp.serial, stamp.kid, lookup, Role.CONSUMER, device, ip, place
        )
        event = judgement.event
        verdict = judgement.verdict
        if self.counted is not None:
            self.counted[verdict].inc()
        headers: list[tuple[bytes, bytes]] = [(b"cache-control", b"no-store")]
        secure = "; Secure" if self.config.secure_cookies else ""
        if new_cookie:
            headers.append(
                (
                    b"set-cookie",
                    f"{DEVICE_COOKIE}={cookie}; Max-Age=63072000; Path=/; HttpOnly; SameSite=Lax{secure}".encode(),
                )
            )
        trace = None
        if lookup.state is StampState.ACTIVATED and lookup.lot is not None and verdict is not Verdict.COUNTERFEIT:
            # The trace page is the linkset's default link exactly; the scan's verdict reaches it in a short-lived
            # cookie, so a shared or bookmarked link never carries a verdict.
            token = scan_token(self.config.link_key, event.scan_id, stamp.gtin, stamp.serial, verdict)
            headers.append(
                (
                    b"set-cookie",
                    f"{SCAN_COOKIE}={token}; Max-Age={SCAN_COOKIE_SECONDS}; Path=/; HttpOnly; SameSite=Lax"
                    f"{secure}".encode(),
                )
            )
            trace = self._trace_target(request, verified, lookup.lot.code)
            if verdict is Verdict.GENUINE:
                headers += [(b"location", trace.encode()), self._link(verified, lookup.lot.code, target), VARY, *CORS]
                await _send(send, 307, headers)
                return
        lines = self._state_lines(lookup, request.lang) if lookup.state is not StampState.ACTIVATED else []
        lines += finding_lines(judgement.findings, request.lang, judgement.open_alerts)
        report = stamp_form(self.config.link_key, stamp, verdict, cookie, request.lang)
        await self.page(request, send, 200, verdict, lines, stamp, headers, trace_url=trace, report=report)

    async def head(self, request: Request, verified: Verified, lookup: Lookup, send: Send, target: bytes) -> None:
        """What a GET would answer, without recording a scan: a HEAD is a client looking, not a person
        checking. Only the verdict of a recorded scan can turn the redirect into a warning page."""
        if lookup.state is StampState.ACTIVATED and lookup.lot is not None:
            location = self._trace_target(request, verified, lookup.lot.code)
            headers = [(b"cache-control", b"no-store"), (b"location", location.encode())]
            await _send(send, 307, [*headers, self._link(verified, lookup.lot.code, target), VARY, *CORS])
            return
        await self.page(request, send, 200, Verdict.UNKNOWN, [], verified.stamp)

    def _trace_target(self, request: Request, verified: Verified, lot_code: str) -> str:
        stamp = verified.stamp
        default = f"{self._base}{self._lot_path(stamp.gtin, lot_code)}?serial={stamp.serial}"
        if verified.plain:
            return default
        return links.with_query(default, links.passed_on(request.query))

    def _link(self, verified: Verified, lot_code: str, target: bytes) -> tuple[bytes, bytes]:
        """The Link header of a stamp's answers, made once per request target and kept in its cache entry."""
        if verified.link is None:
            level = self._stamp_level(verified.stamp, lot_code)
            verified.link = (b"link", links.link_header(level, self._linkset_href(verified.stamp)).encode())
            self.verify_cache.keep_link(target, verified.link[1])
        return verified.link

    def _stamp_level(self, stamp: ParsedStamp, lot_code: str) -> links.Level:
        uri = format_stamp_uri(self.config.base, stamp.gtin, stamp.serial, stamp.kid, stamp.signature)
        return links.stamp_level(self._base, stamp.gtin, stamp.serial, lot_code, uri)

    def _levels(self, gtin: str, serial: int, lot_code: str, stamp: ParsedStamp | None) -> list[links.Level]:
        """The stamp's links, then its lot's and its product's (a linkset covers each level up to the GTIN)."""
        item = (
            self._stamp_level(stamp, lot_code)
            if stamp is not None
            else links.stamp_level(self._base, gtin, serial, lot_code, None)
        )
        return [
            item,
            links.lot_level(self._base, gtin, lot_code),
            links.product_level(self._base, gtin, f"Product {gtin}"),
        ]

    def _lot_path(self, gtin: str, code: str) -> str:
        path = self._lot_paths.get((gtin, code))
        if path is None:
            if len(self._lot_paths) > 10_000:
                self._lot_paths.clear()
            path = self._lot_paths[(gtin, code)] = links.lot_path(gtin, code)
        return path

    def _state_lines(self, lookup: Lookup, lang: str) -> list[str]:
        if lookup.state is StampState.REVOKED or lookup.state is StampState.KEY_REVOKED:
            return [revoked_line(lookup.category, lang)]  # the category's label, never the packing house's note
        return [t(f"state_{lookup.state.value}", lang)]

    async def forged(self, request: Request, stamp: ParsedStamp | None, send: Send) -> None:
        """A bad signature costs one counter, per network, and nothing else."""
        FORGED_SCANS.inc()
        network = self.scans.network(self._client_ip(request)) or "unknown"
        count = await self.scans.store.count_forged(network, self.config.forged_window_seconds)
        if count > self.config.forged_burst_limit:
            if count == self.config.forged_burst_limit + 1 and stamp is not None:
                log.warning("forged_scan_burst network=%s count=%s", network, count)
                await self.scans.store.append_entry(self._burst_entry(request, stamp, network, count))
            await self.page(
                request,
                send,
                429,
                Verdict.COUNTERFEIT,
                [t("rate_limited", request.lang)],
                extra=[(b"retry-after", str(self.config.forged_window_seconds).encode())],
            )
            return
        await self.page(request, send, 200, Verdict.COUNTERFEIT, [t("state_forged", request.lang)], stamp)

    def _burst_entry(self, request: Request, stamp: ParsedStamp, network: str, count: int) -> ScanEvent:
        """The scan log entry that opens a forged-burst alert for the ministry, keyed by the hashed network."""
        now = now_millis()
        scan_id = new_scan_id(now)
        minutes = self.config.forged_window_seconds / 60
        found = rules.finding(
            FindingType.FORGED_BURST, Severity.WARNING, (scan_id,), "forged_burst", n=count, minutes=minutes
        )
        alert = {"type": found.type.value, "severity": found.severity.label, "evidence": [scan_id]}
        return ScanEvent(
            scan_id=scan_id,
            at=now,
            gtin=stamp.gtin,
            serial=stamp.serial,
            kid=stamp.kid,
            state="forged",
            verdict=Verdict.COUNTERFEIT,
            role=Role.CONSUMER,
            device_id="",
            ip_hash=network,  # the network's hash, never an address
            place=self.locator.locate(request.headers, self._client_ip(request), _peer(request)),
            lot_id=None,
            kind="forged_burst",
            findings="forged_burst:warning",
            alerts=({**alert, "en": found.explanation_en, "vi": found.explanation_vi},),
        )

    async def linked(
        self, request: Request, stamp: ParsedStamp, lookup: Lookup, link_type: str | None, send: Send
    ) -> None:
        if lookup.state is not StampState.ACTIVATED or lookup.lot is None:
            await _send(
                send,
                404,
                [(b"content-type", b"application/json"), VARY, *CORS],
                b'{"error":{"message":"this stamp has no links: it is not active on a lot"}}',
            )
            return
        levels = self._levels(stamp.gtin, stamp.serial, lookup.lot.code, stamp)
        link = (b"link", links.link_header(levels[0], self._linkset_href(stamp)).encode())
        await self.answer(request, levels, link_type, link, send)

    async def unsigned(self, request: Request, raw_path: str, send: Send) -> None:
        """A GS1 Digital Link URI without the stamp's signature, resolved as any GS1 resolver would: to the
        stamp's links or, when the stamp is not active on a lot, up to its product's. It is not a scan: nothing
        is recorded, and the page it leads to says that authenticity was not checked."""
        try:
            gtin, serial, _ = parse_item_path(raw_path)
        except (StampFormatError, UnicodeDecodeError):
            await self.page(request, send, 400, Verdict.UNKNOWN, [t("malformed", request.lang)])
            return
        snapshot = await self.registry.current()
        lookup = snapshot.ranges.lookup(gtin, serial, "")
        if lookup.state is StampState.ACTIVATED and lookup.lot is not None:
            levels = self._levels(gtin, serial, lookup.lot.code, None)
        elif snapshot.ranges.knows(gtin):
            levels = [links.product_level(self._base, gtin, f"Product {gtin}")]
        else:
            await self.page(request, send, 404, Verdict.UNKNOWN, [t("not_found", request.lang)])
            return
        link = (b"link", links.link_header(levels[0], f"{levels[0].anchor}?linkType=linkset").encode())
        await self.answer(request, levels, request.param("linkType"), link, send)

    async def answer(
        self,
        request: Request,
        levels: list[links.Level],
        link_type: str | None,
        link: tuple[bytes, bytes],
        send: Send,
    ) -> None:
        found = links.resolve(levels, link_type, request.headers.get("accept", ""), request.query)
        headers: list[tuple[bytes, bytes]] = [VARY, *CORS, link]
        if found.json_ld_context:
            headers.append((b"link", links.context_link().encode()))
        if found.media_type:
            headers.append((b"content-type", found.media_type.encode()))
        if found.location:
            headers.append((b"location", found.location.encode()))
        await _send(send, found.status, headers, found.body if request.method == "GET" else b"", len(found.body))

    def _linkset_href(self, stamp: ParsedStamp) -> str:
        return f"{self._base}/01/{stamp.gtin}/21/{stamp.serial}?k={stamp.kid}&s={stamp.sig_b32}&linkType=linkset"

    async def page(
        self,
        request: Request,
        send: Send,
        status: int,
        verdict: Verdict,
        lines: list[str],
        stamp: ParsedStamp | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
        trace_url: str | None = None,
        report: ReportForm | None = None,
    ) -> None:
        body = b""
        if request.method != "HEAD":
            # An oversized request's query is not echoed back in the language links.
            body = render(
                "pages/verdict.html",
                request.lang,
                request.path[:MAX_TARGET],
                request.query if status != 414 else [],
                verdict=verdict.value,
                lines=lines,
                stamp=stamp,
                trace_url=trace_url,
                report=report,
            ).encode()
        await _send(
            send,
            status,
            [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-language", request.lang.encode()),
                *(headers or [(b"cache-control", b"no-store")]),
                *(extra or []),
            ],
            body,
        )

    def _client_ip(self, request: Request) -> str | None:
        return self.scans.client_ip(request.headers, _peer(request))


def _peer(request: Request) -> str | None:
    """The socket peer's address (never a header's)."""
    return peer_of(request.scope)


async def _send(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"", length: int | None = None
) -> None:
    """`length` is the body a GET would have had, for a HEAD that sends none."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body) if length is None else length).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
