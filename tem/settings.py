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

    order_approval: OrderApproval = OrderApproval.AUTO
    max_order_quantity: int = 5_000_000

    # The official code formats are not published, so they are patterns the ministry can set.
    packing_house_code_pattern: str = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
    growing_area_code_pattern: str = r"^[A-Z0-9][A-Z0-9-]{2,31}$"

    keyset_max_age_seconds: int = 300
    log_level: str = "INFO"

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
