"""The security headers of every answer: pages, scans' verdict pages, /docs, JSON and errors alike.

One ASGI middleware (`SecurityHeaders`, outermost in `tem.app`, and around the scan hot path in `tem.asgi`) adds
to each response what it does not already carry:

- `Content-Security-Policy`: an area's own policy when its routes set one (the inspector app's camera, the
  report form's script), else `DEFAULT_CSP` for pages and `API_CSP` for everything else. Never
  `'unsafe-inline'`: in an HTML answer each inline `<script>` and `<style>` block is allowed by its own
  `'sha256-…'` hash, computed from the body sent, and an area policy's `'unsafe-inline'` is replaced by those
  hashes. Inline `style=` attributes are therefore refused by browsers: pages keep their styles in blocks or
  stylesheets.
- `frame-ancestors 'none'` in every policy, and `X-Frame-Options: DENY`;
- `X-Content-Type-Options: nosniff`;
- `Referrer-Policy: same-origin` (not `no-referrer`: Chromium would then send `Origin: null` with a same-origin
  form's POST, which the forms' origin checks refuse);
- `Strict-Transport-Security` when the request came over HTTPS or `TEM_PUBLIC_BASE_URL` is https.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
HSTS = b"max-age=31536000; includeSubDomains"
STATIC: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
MAX_HTML_BYTES = 4 * 1024 * 1024  # a page this large is sent on as it comes, with a policy of no inline code

_BLOCK = re.compile(rb"<(script|style)(\s[^>]*)?>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_SRC = re.compile(rb"\ssrc\s*=", re.IGNORECASE)
_DATA_TYPE = re.compile(rb"\stype\s*=\s*[\"']?application/(ld\+)?json", re.IGNORECASE)


def inline_hashes(html: bytes) -> tuple[list[str], list[str]]:
    """The CSP hash sources of the inline scripts and style blocks of a page, each once, in order."""
    scripts: list[str] = []
    styles: list[str] = []
    for match in _BLOCK.finditer(html):
        kind, attributes, content = match.group(1).lower(), match.group(2) or b"", match.group(3)
        if kind == b"script" and (_SRC.search(attributes) or _DATA_TYPE.search(attributes)):
            continue  # an external script, or data that is never run
        source = "'sha256-" + base64.b64encode(hashlib.sha256(content).digest()).decode() + "'"
        found = scripts if kind == b"script" else styles
        if source not in found:
            found.append(source)
    return scripts, styles


def hardened(policy: str, scripts: list[str], styles: list[str]) -> str:
    """The policy with `'unsafe-inline'` replaced by the page's own hashes, and `frame-ancestors 'none'`."""
    directives: list[str] = []
    seen: set[str] = set()
    for directive in (d.strip() for d in policy.split(";")):
        if not directive:
            continue
        name, *sources = directive.split()
        seen.add(name.lower())
        if name.lower() in ("script-src", "style-src", "default-src"):
            hashes = scripts if name.lower() == "script-src" else styles if name.lower() == "style-src" else []
            sources = [s for s in sources if s.lower() not in ("'unsafe-inline'", "'unsafe-eval'")]
            sources += [h for h in hashes if h not in sources]
            if not sources:
                sources = ["'none'"]
            elif len(sources) > 1 and "'none'" in sources:
                sources.remove("'none'")
        directives.append(" ".join([name, *sources]))
    for name, hashes in (("script-src", scripts), ("style-src", styles)):
        if hashes and name not in seen:  # default-src governs them otherwise: allow this page's blocks too
            default = next((d.split()[1:] for d in directives if d.lower().startswith("default-src ")), ["'self'"])
            directives.append(" ".join([name, *[s for s in default if s != "'none'"], *hashes]))
    if "frame-ancestors" not in seen:
        directives.append("frame-ancestors 'none'")
    return "; ".join(directives)


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response."""

    def __init__(self, app: ASGIApp, *, https_base: bool = False) -> None:
        self.app = app
        self.https_base = https_base

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self.send_for(scope, send))

    def send_for(self, scope: MutableMapping[str, Any], send: Send) -> Send:
        """`send` with the headers added: for the scan hot path, which runs ahead of the app."""
        hsts = self.https_base or scope.get("scheme") == "https"
        held: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def secured(message: Message) -> None:
            nonlocal held, size
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in STATIC if name not in names]
                if hsts and b"strict-transport-security" not in names:
                    headers.append((b"strict-transport-security", HSTS))
                message = {**message, "headers": headers}
                if _is_html(headers):
                    held = message  # the policy waits for the body: its inline blocks' hashes
                    return
                await send(_with_policy(message, [], []))
                return
            if held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if message.get("more_body", False) and size <= MAX_HTML_BYTES:
                    return
                body = b"".join(chunks)
                scripts, styles = inline_hashes(body) if size <= MAX_HTML_BYTES else ([], [])
                start, held = held, None
                chunks.clear()
                await send(_with_policy(start, scripts, styles))
                await send({**message, "body": body})
                return
            await send(message)

        return secured


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"content-type" and value.lower().startswith(b"text/html") for name, value in headers)


def _with_policy(message: Message, scripts: list[str], styles: list[str]) -> Message:
    headers: list[tuple[bytes, bytes]] = message["headers"]
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"content-security-policy":
            headers[index] = (name, hardened(value.decode("latin-1"), scripts, styles).encode("latin-1"))
            return message
    policy = DEFAULT_CSP if _is_html(headers) else API_CSP
    headers.append((b"content-security-policy", hardened(policy, scripts, styles).encode("latin-1")))
    return message
