"""A fake national portal for tests and benchmarks: an EPCIS 2.0 capture interface on 127.0.0.1.

`FakePortal` is a threaded HTTP server on a free port. `POST /capture` checks the bearer token (401), validates
the document against the EPCIS 2.0 JSON schema (400 with a problem's `detail`), and records the eventIDs of every
document it accepts (202). It can also misbehave, on purpose and reproducibly (seeded):

- `fail_rate`: that share of requests answer 503;
- `slow_rate` and `slow_seconds`: that share of requests answer late (longer than the client's timeout: a timeout);
- `throttle(n, retry_after)`: the next `n` requests answer 429 with that `Retry-After` (seconds or an HTTP-date);
- `reject`: a document holding any of these eventIDs answers 400 (problem details);
- `down_for(seconds)`, or `down_after` requests: stop listening (open connections are dropped), then listen again
  on the same port.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.protocols import Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = (
    ROOT.parent / "shared" / "gs1" / "epcis-2.0-json-schema.json",
    ROOT / "epcis" / "schema" / "epcis-2.0-json-schema.json",
)


def validators() -> list[Validator]:
    """One validator per distinct copy of the EPCIS 2.0 JSON schema found (the shared one and Tem's own)."""
    found: dict[str, Validator] = {}
    for path in SCHEMAS:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if text in found:
            continue
        schema = json.loads(text)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        found[text] = cls(schema)
    assert found, "no EPCIS 2.0 JSON schema found"
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Request:
    at: float  # time.monotonic() when it arrived
    status: int
    event_ids: tuple[str, ...]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    portal: FakePortal


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        content = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/problem+json" if status >= 400 else "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_POST(self) -> None:
        portal = self.server.portal
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if portal.is_down:  # gone: drop the connection without a word
            self.close_connection = True
            return
        status, body, headers = portal.handle(self.path, dict(self.headers.items()), raw)
        if status == 0:
            self.close_connection = True
            return
        self._answer(status, body, headers)


class FakePortal:
    def __init__(
        self,
        token: str = "portal-secret-token",  # noqa: S107  (a test double's token)
        *,
        seed: int = 1,
        validate: bool = True,
        fail_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 0.0,
        echo_token: bool = False,
    ) -> None:
        self.token = token
        self.validate = validate
        self.fail_rate = fail_rate
        self.slow_rate = slow_rate
        self.slow_seconds = slow_seconds
        self.echo_token = echo_token  # a careless portal that quotes the Authorization header in its 400s
        self.reject: set[str] = set()
        self.down_after: int | None = None  # go down when this many requests have arrived
        self.down_seconds = 1.0
        self._random = random.Random(seed)
        self._validators = validators() if validate else []
        self._lock = threading.Lock()
        self._throttled = 0
        self._retry_after = "1"
        self._down = threading.Event()
        self.requests: list[Request] = []
        self.received: list[str] = []  # eventIDs of accepted documents, in order, duplicates kept
        self.bad_tokens = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.portal = self
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_down(self) -> bool:
        return self._down.is_set()

    @property
    def accepted(self) -> Counter[str]:
        with self._lock:
            return Counter(self.received)

    def start(self) -> FakePortal:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever() that was never started otherwise
            self._server.shutdown()
        self._server.server_close()

    def throttle(self, requests: int, retry_after: str = "1") -> None:
        with self._lock:
            self._throttled = requests
            self._retry_after = retry_after

    def down_for(self, seconds: float) -> None:
        """Stop listening now, and listen again on the same port after `seconds` (in the background)."""
        if self._down.is_set():
            return
        self._down.set()
        threading.Thread(target=self._outage, args=(seconds,), daemon=True).start()

    def _outage(self, seconds: float) -> None:
        self._server.shutdown()
        self._server.server_close()
        time.sleep(seconds)
        for _ in range(100):
            try:
                self._server = _Server(("127.0.0.1", self.port), _Handler)
                break
            except OSError:
                time.sleep(0.05)
        self._server.portal = self
        self._down.clear()
        self.start()

    def handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """(status, problem or None, headers) for one request; status 0 drops the connection."""
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            count = len(self.requests) + 1
            if self.down_after is not None and count >= self.down_after:
                self.down_after = None
                self.down_for(self.down_seconds)
                return 0, None, {}
            roll, slow_roll = self._random.random(), self._random.random()
            throttled = self._throttled > 0
            if throttled:
                self._throttled -= 1
        document, problem = self._read(path, lowered, raw)
        if problem is not None:
            return self._log(problem[0], (), problem[1])
        events = document.get("epcisBody", {}).get("eventList", [])
        ids = tuple(str(event.get("eventID")) for event in events)
        if slow_roll < self.slow_rate and self.slow_seconds:
            time.sleep(self.slow_seconds)
        if throttled:
            return self._log(429, ids, {"title": "too many requests"}, {"Retry-After": self._retry_after})
        if roll < self.fail_rate:
            return self._log(503, ids, {"title": "service unavailable"})
        refused = [event_id for event_id in ids if event_id in self.reject]
        if refused:
            detail = f"event {refused[0]} is refused"
            if self.echo_token:
                detail += f" (request had {lowered.get('authorization')})"
            return self._log(400, ids, {"type": "about:blank", "title": "Bad Request", "detail": detail})
        return self._log(202, ids, None, {"Location": f"/capture/{count}"})

    def _read(
        self, path: str, lowered: dict[str, str], raw: bytes
    ) -> tuple[dict[str, Any], tuple[int, dict[str, Any]] | None]:
        """The document, or the status and problem that refuse it (path, token, media type, JSON, schema)."""
        if path != "/capture":
            return {}, (404, {"title": "not found"})
        if lowered.get("authorization") != f"Bearer {self.token}":
            with self._lock:
                self.bad_tokens += 1
            return {}, (401, {"title": "unauthorized"})
        if not lowered.get("content-type", "").startswith("application/ld+json"):
            return {}, (415, {"title": "unsupported media type"})
        try:
            document = json.loads(raw)
        except ValueError:
            return {}, (400, {"title": "bad request", "detail": "the body is not JSON"})
        for validator in self._validators:
            error = jsonschema.exceptions.best_match(validator.iter_errors(document))
            if error is not None:
                return {}, (400, {"title": "invalid EPCIS document", "detail": error.message[:300]})
        return document, None

    def _log(
        self, status: int, ids: tuple[str, ...], body: dict[str, Any] | None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        with self._lock:
            self.requests.append(Request(time.monotonic(), status, ids))
            if 200 <= status < 300:
                self.received.extend(ids)
        return status, body, headers or {}


@contextmanager
def fake_portal(**options: Any) -> Iterator[FakePortal]:
    portal = FakePortal(**options).start()
    try:
        yield portal
    finally:
        if not portal.is_down:
            portal.stop()
