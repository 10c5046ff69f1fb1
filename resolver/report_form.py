"""The "Report a fake" form that the verdict page and the trace page show on a suspect or counterfeit verdict,
and the token that ties it to the page it came from. `reports` receives and checks what it posts.

The token is a MAC (the scan-link key) over the stamp, the verdict the page showed, the device cookie and the
time the page was made. The device cookie is HttpOnly and SameSite=Lax, so a browser sends it with the form's
own POST but never with a POST from another site: a page elsewhere can neither read a token nor make one that
holds. A token is only made after the stamp's signature was checked (the scan) or its scan token was (the trace
page), so a forged code never gets a form.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import ClassVar

from crypto import ParsedStamp
from detection.engine.model import Verdict
from resolver.scanning import VERDICT_LETTER

REPORT_ACTION = "/reports"
#: The form's script (an external file, so a Content-Security-Policy without 'unsafe-inline' allows it).
REPORT_SCRIPT = "/reports/form.js"
#: What a report may hold; the page says so and `reports` refuses more.
MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PLACE_CHARS = 200
MAX_CONTACT_CHARS = 100
#: How long a page's form may be sent: time to take a photo and write where the fruit was bought.
FORM_SECONDS = 3600
#: A token made this far ahead of the checking machine's clock still holds (several machines, one secret).
CLOCK_SKEW_SECONDS = 60
REPORTABLE = frozenset({Verdict.SUSPECT, Verdict.COUNTERFEIT})


@dataclass(frozen=True, slots=True)
class ReportForm:
    """What a page puts in its form: the hidden fields, in order, and the page's language."""

    fields: tuple[tuple[str, str], ...]
    lang: str
    action: ClassVar[str] = REPORT_ACTION
    script: ClassVar[str] = REPORT_SCRIPT
    max_photo_bytes: ClassVar[int] = MAX_PHOTO_BYTES
    max_place_chars: ClassVar[int] = MAX_PLACE_CHARS
    max_contact_chars: ClassVar[int] = MAX_CONTACT_CHARS


def form_token(key: bytes, gtin: str, serial: int, verdict: Verdict, device: str, issued: int) -> str:
    message = f"tem-report-form|{gtin}|{serial}|{VERDICT_LETTER[verdict]}|{device}|{issued}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def token_holds(
    key: bytes, token: str, gtin: str, serial: int, verdict: Verdict, device: str, issued: int, now: float
) -> bool:
    """The token was made by this site for this stamp, verdict and device, and not too long ago."""
    if not token.isascii() or not -CLOCK_SKEW_SECONDS <= now - issued <= FORM_SECONDS:
        return False
    return hmac.compare_digest(token, form_token(key, gtin, serial, verdict, device, issued))


def stamp_form(key: bytes, stamp: ParsedStamp, verdict: Verdict, device: str, lang: str) -> ReportForm | None:
    """The verdict page's form: it carries the stamp's signed path and query (`/01/…/21/…?k=…&s=…`), whose
    signature `reports` checks again. None for a verdict that is not suspect or counterfeit."""
    if verdict not in REPORTABLE:
        return None
    issued = int(time.time())
    token = form_token(key, stamp.gtin, stamp.serial, verdict, device, issued)
    path = f"/01/{stamp.gtin}/21/{stamp.serial}?k={stamp.kid}&s={stamp.sig_b32}"
    return ReportForm((("stamp", path), ("verdict", verdict.value), ("issued", str(issued)), ("token", token)), lang)


def scan_form(
    key: bytes, scan: str, gtin: str, serial: int, verdict: Verdict, device: str, lang: str
) -> ReportForm | None:
    """The trace page's form: it carries the scan token of the scan that led there (the page has no signature)."""
    if verdict not in REPORTABLE:
        return None
    issued = int(time.time())
    token = form_token(key, gtin, serial, verdict, device, issued)
    fields = (
        ("scan", scan),
        ("gtin", gtin),
        ("serial", str(serial)),
        ("verdict", verdict.value),
        ("issued", str(issued)),
        ("token", token),
    )
    return ReportForm(fields, lang)
