"""How Tem's processes log: one JSON object per line (`TEM_LOG_FORMAT=json`, the default, for log shippers) or
plain text, with IP addresses masked in either.

Tem never stores a client's address, and its own log calls name hashed networks, never addresses. The mask is
the second line of defence: an address inside a library's message (a redis-py or database error, uvicorn's
start-up line) is written as `[ip]`. Secrets are kept out at the source: settings hide them from their repr,
tokens and keys are never passed to a log call.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

# IPv4 dotted quads, and IPv6 written with at least two groups and a `::` or seven colons (so times such as
# 12:30:05 are left alone).
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
_IPV6 = (
    r"(?<![\w:.])(?:"
    r"(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
    r"|(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{0,4}::(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{0,4}"
    r")(?![\w:])"
)
# IPv4 first: an IPv4-mapped IPv6 address (::ffff:1.2.3.4) then loses its IPv4 part before the IPv6 pass.
_V4 = re.compile(_IPV4)
_V6 = re.compile(_IPV6)

# The attributes every LogRecord has: anything else was passed in `extra=` and is a field of its own.
# uvicorn's `color_message` (its message again, with terminal colour codes) is left out too.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def mask_addresses(text: str) -> str:
    return _V6.sub("[ip]", _V4.sub("[ip]", text))


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_addresses(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_addresses(str(value))


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., <extra fields>, "exception": ...}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_addresses(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = _masked(value)
        if record.exc_info:
            entry["exception"] = mask_addresses(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = mask_addresses(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return mask_addresses(super().format(record))


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure(kind: str, level: str = "WARNING") -> None:
    """One handler on the root logger, to stderr; uvicorn's loggers go through it too (`uvicorn_log_config`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_log_config(kind: str, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging, formatted as Tem's (uvicorn otherwise installs its own text handlers)."""
    factory = "tem.core.logs.JsonFormatter" if kind == "json" else "tem.core.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"tem": {"()": factory}},
        "handlers": {"tem": {"class": "logging.StreamHandler", "formatter": "tem", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["tem"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        },
        "root": {"handlers": ["tem"], "level": level},
    }
