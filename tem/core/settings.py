"""The one settings object. Nothing else reads the environment."""

from __future__ import annotations

import ipaddress
import json
import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OrderApproval(StrEnum):
    AUTO = "auto"
    REQUIRED = "required"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _default_metrics_allow() -> list[Network]:
    return [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


SECRETS_FROM_FILES = ("pin_key", "secret_key", "webhook_secret", "portal_token")


class Settings(BaseSettings):
    # hide_input_in_errors: a bad setting's message must not echo a secret or a token inside a URL.
    model_config = SettingsConfigDict(env_prefix="TEM_", extra="ignore", hide_input_in_errors=True)

    home: Path = Path("./var")
    database_url: str | None = None
    #: The table owner's URL, for `tem db upgrade` only. When set (PostgreSQL), the migrations run as this role and
    #: then grant TEM_DATABASE_URL's role what the application needs, with no UPDATE, DELETE or TRUNCATE on the audit
    #: log (docs/deploy.md).
    migration_database_url: str | None = Field(default=None, repr=False)
    redis_url: str | None = None
    # TEM_REDIS_URL names one node of a Redis Cluster (redis://host:port/0); the client finds the rest.
    redis_cluster: bool = False
    public_base_url: str = "http://127.0.0.1:8000"

    # Key-encryption key: base64 of 32 bytes, or a file holding that text.
    kek: str | None = Field(default=None, repr=False)
    kek_file: Path | None = None

    # Scratch-off PIN key: base64 of 32 random bytes, kept apart from the signing keys (crypto/pin.py).
    pin_key: str | None = Field(default=None, repr=False)
    # Or read it from this file (likewise secret_key_file, webhook_secret_file); kept out of repr like the secret.
    pin_key_file: Path | None = Field(default=None, repr=False)
    # Folder of label templates (*.toml); unset means the templates/labels/ shipped with Tem.
    label_templates: Path | None = None

    order_approval: OrderApproval = OrderApproval.AUTO
    max_order_quantity: int = 5_000_000

    # The official code formats are not published, so they are patterns the ministry can set.
    packing_house_code_pattern: str = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
    growing_area_code_pattern: str = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
    # Banned pesticides and default PHIs (TOML like issuer/data/pesticides.toml); unset: the file shipped with Tem.
    pesticide_file: Path | None = None
    require_phyto: bool = True  # activating an export lot (markets other than VN) needs a phytosanitary certificate

    keyset_max_age_seconds: int = 300
    log_level: str = "INFO"
    # One JSON object per line (for log shippers), or plain text for a person at a terminal.
    log_format: Literal["json", "text"] = "json"

    # /metrics (Prometheus text format, docs/operations.md). Off: no counting on the scan path and /metrics
    # answers 404 (the benchmark's comparison switch, and a switch for an incident).
    metrics: bool = True
    # Who may read /metrics: the socket peer's address (never a forwarded header) must be in one of these
    # networks. TEM_METRICS_ALLOW is a JSON list or comma-separated CIDR networks.
    metrics_allow: Annotated[list[Network], NoDecode] = Field(default_factory=_default_metrics_allow)
    # Set by `tem serve --workers N` for its worker processes (prometheus-client's own variable): each process
    # writes its figures to files there, and /metrics sums them.
    prometheus_multiproc_dir: Path | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")

    # Keys the resolver derives its cookie MACs and IP-hash salt from. Unset: a random secret kept in
    # TEM_HOME (fine for one machine; several machines must share TEM_SECRET_KEY).
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path | None = Field(default=None, repr=False)
    redis_prefix: str = "tem"
    scan_spool: bool = True  # scans Redis refuses wait in TEM_HOME/spool (resolver/store/spool.py)

    # Where a scan is: trusted edge headers (Cloudflare's by default) and/or a MaxMind-format database.
    trust_edge_headers: bool = False
    edge_country_header: str = "cf-ipcountry"
    edge_latitude_header: str = "cf-iplatitude"
    edge_longitude_header: str = "cf-iplongitude"
    edge_region_header: str = "cf-region-code"
    edge_city_header: str = "cf-ipcity"
    edge_client_ip_header: str = "cf-connecting-ip"
    # The only peers whose client-address and edge headers count (TEM_TRUSTED_PROXIES: CIDR networks, as above).
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(["127.0.0.1/32", "::1/128"], validate_default=True)
    geoip_database: Path | None = None

    forged_burst_limit: int = 30  # forged scans per network per window before answering 429
    forged_window_seconds: int = 60
    # Consumers' reports of a fake (reports/): taken per network per hour, per stamp per day, and in all per day
    # (Vietnam time), before answering 429.
    report_network_limit: int = Field(default=5, ge=1)
    report_stamp_limit: int = Field(default=20, ge=1)
    report_daily_limit: int = Field(default=2000, ge=1)
    scan_places_kept: int = 10
    verify_cache_size: int = 200_000
    registry_poll_seconds: float = 1.0
    # Detection thresholds (detection/engine/defaults.toml documents each); a file only needs what it changes.
    # Checked when the app or a command starts (tem.app, tem.cli): the kernel knows no detection.
    detection_config: Path | None = None
    # Off: scans are answered from the signature and the registry alone and logged unjudged (a switch for an
    # incident, e.g. a rule change that misjudges genuine fruit at the height of a season).
    online_detection: bool = True
    run_worker_in_process: bool | None = None  # default: yes for the embedded default, no with Redis
    # `tem worker` lowers its own CPU priority by this much (nice): on a host it shares with `tem serve`,
    # Redis or PostgreSQL, the scan log can wait a moment, a scan should not. 0 leaves it as started.
    worker_nice: int = Field(default=10, ge=0, le=19)
    # How long an inspector app login lasts (the session cookie's expiry).
    inspect_session_hours: float = Field(default=12.0, gt=0, le=720)

    # Alert webhooks (docs/alerts.md): where to POST, the HMAC key that signs each body, and retries.
    # TEM_WEBHOOK_URLS is a JSON list (["https://a/x","https://b/y"]) or comma-separated URLs.
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_secret: str | None = Field(default=None, repr=False)
    webhook_secret_file: Path | None = Field(default=None, repr=False)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_backoff_seconds: float = Field(default=2.0, gt=0)  # doubles per failed attempt
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_poll_seconds: float = Field(default=2.0, gt=0)

    # The national traceability portal (docs/national-portal.md): EPCIS documents are POSTed to
    # {portal_url}/capture with this bearer token. Unset: events wait in the outbox.
    portal_url: str | None = None
    portal_token: str | None = Field(default=None, repr=False)
    portal_token_file: Path | None = Field(default=None, repr=False)
    portal_batch: int = Field(default=100, ge=1, le=10_000)  # events per document
    portal_backoff_seconds: float = Field(default=2.0, gt=0)  # doubles per failed attempt
    portal_backoff_max_seconds: float = Field(default=900.0, gt=0)
    portal_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    portal_poll_seconds: float = Field(default=2.0, gt=0)

    @field_validator("packing_house_code_pattern", "growing_area_code_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("metrics_allow", "trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("TEM_METRICS_ALLOW is not a valid JSON list") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError("TEM_METRICS_ALLOW must be a list of CIDR networks, e.g. 127.0.0.0/8,10.0.0.0/8")
        networks: list[Network] = []
        for item in value:
            if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
                networks.append(item)
                continue
            try:
                networks.append(ipaddress.ip_network(str(item).strip()))
            except ValueError:
                raise ValueError(
                    f"TEM_METRICS_ALLOW: {str(item)[:60]!r} is not a CIDR network such as 10.0.0.0/8 or fd00::/8 "
                    "(and its host bits must be zero)"
                ) from None
        return networks

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        urls = [url.strip() for url in value]
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # Never echo the URL: its path or query may carry the receiver's token.
                raise ValueError("every webhook URL must be an absolute http:// or https:// URL")
        return list(dict.fromkeys(urls))

    @field_validator("portal_url")
    @classmethod
    def _portal_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Never echo the URL: it may carry credentials.
            raise ValueError("TEM_PORTAL_URL must be an absolute http:// or https:// URL")
        return url

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: object) -> object:
        """TEM_PIN_KEY_FILE, TEM_SECRET_KEY_FILE and TEM_WEBHOOK_SECRET_FILE: a secret read from a file (a secret
        store's mount, a systemd credential), so it never sits in an environment file."""
        if not isinstance(data, dict):
            return data
        values = dict(data)
        for name in SECRETS_FROM_FILES:
            path = values.get(f"{name}_file")
            if not path:
                continue
            variable = f"TEM_{name.upper()}"
            if values.get(name):
                raise ValueError(f"set {variable} or {variable}_FILE, not both")
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise ValueError(f"cannot read {variable}_FILE {path}: {reason}") from None
        return values

    @model_validator(mode="after")
    def _webhooks_signed(self) -> Self:
        if self.webhook_urls and not self.webhook_secret:
            raise ValueError("TEM_WEBHOOK_URLS needs TEM_WEBHOOK_SECRET: every webhook body is signed")
        return self

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'tem.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def dev_kek_path(self) -> Path:
        return self.home / "dev-kek.b64"


def get_settings() -> Settings:
    return Settings()
