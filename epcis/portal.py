"""The national traceability portal, as Tem assumes it: an EPCIS 2.0 capture interface (docs/national-portal.md).

The portal's own API is not public, so this adapter speaks the standard one: an `EPCISDocument` is POSTed to
`{TEM_PORTAL_URL}/capture` as `application/ld+json` with `Authorization: Bearer {TEM_PORTAL_TOKEN}`, and the answer
is sorted into one of three outcomes: delivered (2xx), retry later (408, 429, 5xx, a timeout, no connection) or
rejected for good (any other 4xx, with a short reason). The outbox (`epcis.outbox`) only knows `PortalAdapter`, so
another mapping (a different body or endpoint, should the portal publish one) is a new class here and nothing else.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx
import orjson

from epcis.store import document
from tem.core.time import utcnow

#: Characters of the portal's problem `detail` (or `title`) kept in a rejection's reason.
REASON_CHARS = 160
#: Statuses that mean "not now" rather than "never": a timeout, too many requests, and every 5xx.
RETRYABLE_STATUSES = frozenset({408, 429})


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # try the same events again later
    REJECTED = "rejected"  # the portal refused the document for good


@dataclass(frozen=True, slots=True)
class PortalAnswer:
    outcome: Outcome
    reason: str = ""  # short, for people: "HTTP 400: eventTime is in the future"; never the token
    retry_after: float | None = None  # seconds, when the portal said (Retry-After)
    status: int | None = None  # the HTTP status, None when no answer came


class PortalAdapter(Protocol):
    """Sends one batch of stored events (each with its `eventID`) to the portal and says how it went."""

    def send(self, events: Sequence[Mapping[str, Any]]) -> PortalAnswer: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds (`120`) or an HTTP-date; None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or utcnow())).total_seconds())


def _problem_text(content: bytes, content_type: str) -> str:
    """The start of a JSON problem's `detail` (or `title`), or "" when the body is not one."""
    if "json" not in content_type.lower() or not content:
        return ""
    try:
        problem = json.loads(content[:65536])
    except ValueError:
        return ""
    if not isinstance(problem, dict):
        return ""
    for key in ("detail", "title"):
        value = problem.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:REASON_CHARS]
    return ""


def classify(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    secret: str | None = None,
    now: dt.datetime | None = None,
) -> PortalAnswer:
    """The outcome of one HTTP answer. `secret` (the token) is blanked out of the reason, should a portal echo it."""
    if 200 <= status < 300:
        return PortalAnswer(Outcome.DELIVERED, status=status)
    if status in RETRYABLE_STATUSES or status >= 500:
        return PortalAnswer(
            Outcome.RETRY,
            f"HTTP {status}",
            retry_after=parse_retry_after(headers.get("retry-after"), now),
            status=status,
        )
    detail = _problem_text(content, headers.get("content-type", ""))
    if secret:
        detail = detail.replace(secret, "***")
    reason = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    return PortalAnswer(Outcome.REJECTED, reason, status=status)


class EpcisCapture:
    """`PortalAdapter` for an EPCIS 2.0 capture interface: one `EPCISDocument` per batch to `{base}/capture`."""

    def __init__(self, base_url: str, token: str | None, timeout: float, client: httpx.Client | None = None) -> None:
        self.url = base_url.rstrip("/") + "/capture"
        self._token = token
        self._own = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def __repr__(self) -> str:  # never the token
        return f"EpcisCapture({self.url!r})"

    def body(self, events: Sequence[Mapping[str, Any]]) -> bytes:
        return orjson.dumps(document(events, utcnow()))

    def send(self, events: Sequence[Mapping[str, Any]]) -> PortalAnswer:
        headers = {"Content-Type": "application/ld+json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._client.post(self.url, content=self.body(events), headers=headers)
        except httpx.HTTPError as exc:  # timeouts, refused or dropped connections: the portal may be back soon
            return PortalAnswer(Outcome.RETRY, type(exc).__name__)
        return classify(response.status_code, response.headers, response.content, secret=self._token)

    def close(self) -> None:
        if self._own:
            self._client.close()
