"""Detection's one table: the lot and packing-house aggregates the worker keeps."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from tem.core.db import Base, UtcDateTime


class DetectionAggregate(Base):
    """A lot's or packing house's detection aggregate (scanned and flagged stamps, learned resale places),
    kept by the worker; `state` is the engine's own JSON form."""

    __tablename__ = "detection_aggregates"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
