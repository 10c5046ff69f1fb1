"""The one settings object. Nothing else reads the environment."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OrderApproval(StrEnum):
    AUTO = "auto"
    REQUIRED = "required"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEM_", extra="ignore")

    home: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    public_base_url: str = "http://127.0.0.1:8000"

    # Key-encryption key: base64 of 32 bytes, or a file holding that text.
    kek: str | None = Field(default=None, repr=False)
    kek_file: Path | None = None

    # Scratch-off PIN key: base64 of 32 random bytes, kept apart from the signing keys (crypto/pin.py).
    pin_key: str | None = Field(default=None, repr=False)
    # Folder of label templates (*.toml); unset means the templates/labels/ shipped with Tem.
    label_templates: Path | None = None

    order_approval: OrderApproval = OrderApproval.AUTO
    max_order_quantity: int = 5_000_000

    # The official code formats are not published, so they are patterns the ministry can set.
    packing_house_code_pattern: str = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
    growing_area_code_pattern: str = r"^[A-Z0-9][A-Z0-9-]{2,31}$"

    keyset_max_age_seconds: int = 300
    log_level: str = "INFO"

    # Keys the resolver derives its cookie MACs and IP-hash salt from. Unset: a random secret kept in
    # TEM_HOME (fine for one machine; several machines must share TEM_SECRET_KEY).
    secret_key: str | None = Field(default=None, repr=False)
    redis_prefix: str = "tem"

    # Where a scan is: trusted edge headers (Cloudflare's by default) and/or a MaxMind-format database.
    trust_edge_headers: bool = False
    edge_country_header: str = "cf-ipcountry"
    edge_latitude_header: str = "cf-iplatitude"
    edge_longitude_header: str = "cf-iplongitude"
    edge_region_header: str = "cf-region-code"
    edge_city_header: str = "cf-ipcity"
    edge_client_ip_header: str = "cf-connecting-ip"
    geoip_database: Path | None = None

    forged_burst_limit: int = 30  # forged scans per network per window before answering 429
    forged_window_seconds: int = 60
    scan_places_kept: int = 10
    verify_cache_size: int = 200_000
    registry_poll_seconds: float = 1.0
    run_worker_in_process: bool | None = None  # default: yes for the embedded default, no with Redis
    # How long an inspector app login lasts (the session cookie's expiry).
    inspect_session_hours: float = Field(default=12.0, gt=0, le=720)

    @field_validator("packing_house_code_pattern", "growing_area_code_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value

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
