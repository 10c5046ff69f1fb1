"""The engine's thresholds: one TOML file of documented defaults (`defaults.toml`), which a ministry file may
override key by key. This is the package's only module that reads a file; `parse_config` itself is pure.

The defaults live only in `defaults.toml`: the dataclasses below declare types and bounds, never values, so
the documented file and the running code cannot disagree.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, section and key."""


def _bounds(low: float | None = None, high: float | None = None, *, open_low: bool = False) -> Any:
    return field(metadata={"low": low, "high": high, "open_low": open_low})


@dataclass(frozen=True, slots=True)
class Roles:
    consumer_weight: float = _bounds(0, 10)
    distributor_weight: float = _bounds(0, 10)
    inspector_weight: float = _bounds(0, 10)


@dataclass(frozen=True, slots=True)
class Duplicate:
    info_devices: float = _bounds(0, open_low=True)
    warning_devices: float = _bounds(0, open_low=True)
    session_minutes: float = _bounds(0)
    same_place_km: float = _bounds(0)
    consumption_days: float = _bounds(0)
    same_fruit_weight: float = _bounds(0, 1)
    exact_devices: int = _bounds(1, 64)
    max_sightings: int = _bounds(1, 16)


@dataclass(frozen=True, slots=True)
class Travel:
    warning_kmh: float = _bounds(0, open_low=True)
    critical_kmh: float = _bounds(0, open_low=True)
    warning_radius_factor: float = _bounds(0)
    critical_radius_factor: float = _bounds(0)
    critical_min_km: float = _bounds(0)
    min_hours: float = _bounds(0, open_low=True)
    default_accuracy_km: float = _bounds(0)


@dataclass(frozen=True, slots=True)
class OffRoute:
    waypoint_radius_km: float = _bounds(0)
    radius_factor: float = _bounds(0)
    learn_serials: int = _bounds(1)
    learn_radius_km: float = _bounds(0, open_low=True)
    max_candidate_places: int = _bounds(1, 64)
    abroad_sightings: int = _bounds(1)
    precise_km: float = _bounds(0)
    truck_kmh: float = _bounds(0, open_low=True)
    min_border_hours: float = _bounds(0)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    shelf_life_factor: float = _bounds(1)
    shelf_life_grace_days: float = _bounds(0)
    reuse_gap_days: float = _bounds(0, open_low=True)
    market_days: float = _bounds(0)


@dataclass(frozen=True, slots=True)
class Pin:
    max_wrong: int = _bounds(1)


@dataclass(frozen=True, slots=True)
class Forged:
    burst_count: int = _bounds(2)
    burst_window_minutes: float = _bounds(0, open_low=True)
    max_networks: int = _bounds(1)


@dataclass(frozen=True, slots=True)
class Escalation:
    lot_min_scanned: int = _bounds(1)
    lot_min_flagged: int = _bounds(1)
    lot_info_share: float = _bounds(0, 1, open_low=True)
    lot_warning_share: float = _bounds(0, 1, open_low=True)
    house_min_scanned: int = _bounds(1)
    house_warning_share: float = _bounds(0, 1, open_low=True)
    house_not_activated: int = _bounds(1)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    roles: Roles
    duplicate: Duplicate
    travel: Travel
    off_route: OffRoute
    lifecycle: Lifecycle
    pin: Pin
    forged: Forged
    escalation: Escalation


_SECTION_TYPES: dict[str, type[Any]] = {
    "roles": Roles,
    "duplicate": Duplicate,
    "travel": Travel,
    "off_route": OffRoute,
    "lifecycle": Lifecycle,
    "pin": Pin,
    "forged": Forged,
    "escalation": Escalation,
}


def _defaults_text() -> str:
    return resources.files("detection.engine").joinpath("defaults.toml").read_text(encoding="utf-8")


def default_config() -> EngineConfig:
    return parse_config(_defaults_text(), source="defaults.toml", base=None)


def load_config(path: Path | None = None) -> EngineConfig:
    """The defaults, overridden by the keys of `path` when given."""
    if path is None:
        return default_config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    return parse_config(text, source=str(path), base=_defaults_text())


def parse_config(text: str, source: str = "<config>", base: str | None = None) -> EngineConfig:
    """Parse and validate a config; with `base`, `text` only overrides the keys it sets."""
    data = _toml(text, source)
    if base is not None:
        merged = _toml(base, "defaults.toml")
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        data = merged
    version = data.pop("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{source}: version {version!r} is not supported (this engine reads {SCHEMA_VERSION})")
    for name in data:
        if name not in _SECTION_TYPES:
            raise ConfigError(f"{source}: unknown section [{name}] (known: {', '.join(_SECTION_TYPES)})")
    sections = {name: _section(source, name, kind, data.get(name)) for name, kind in _SECTION_TYPES.items()}
    config = EngineConfig(**sections)
    _check_relations(config, source)
    return config


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def _section(source: str, name: str, kind: type[Any], values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: section [{name}] is missing or is not a table")
    known = {f.name: f for f in dataclasses.fields(kind)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{source}: [{name}] unknown key {key!r} (known: {', '.join(known)})")
    out: dict[str, Any] = {}
    for key, spec in known.items():
        if key not in values:
            raise ConfigError(f"{source}: [{name}] {key} is missing")
        out[key] = _value(f"{source}: [{name}] {key}", spec, values[key])
    return kind(**out)


def _value(where: str, spec: dataclasses.Field[Any], raw: Any) -> float | int:
    wants_int = spec.type in ("int", int)  # a string under postponed annotations, the type when compiled
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"{where} must be a number, not {type(raw).__name__} {raw!r}")
    if wants_int and not isinstance(raw, int):
        raise ConfigError(f"{where} must be a whole number, not {raw!r}")
    value: float | int = int(raw) if wants_int else float(raw)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be finite, not {raw!r}")
    low, high, open_low = spec.metadata["low"], spec.metadata["high"], spec.metadata["open_low"]
    if low is not None and (value <= low if open_low else value < low):
        raise ConfigError(f"{where} must be {'>' if open_low else '≥'} {low}, not {raw!r}")
    if high is not None and value > high:
        raise ConfigError(f"{where} must be ≤ {high}, not {raw!r}")
    return value


def _check_relations(config: EngineConfig, source: str) -> None:
    pairs = [
        (
            "[duplicate] warning_devices",
            config.duplicate.warning_devices,
            "info_devices",
            config.duplicate.info_devices,
        ),
        ("[travel] critical_kmh", config.travel.critical_kmh, "warning_kmh", config.travel.warning_kmh),
        (
            "[travel] critical_radius_factor",
            config.travel.critical_radius_factor,
            "warning_radius_factor",
            config.travel.warning_radius_factor,
        ),
        (
            "[escalation] lot_warning_share",
            config.escalation.lot_warning_share,
            "lot_info_share",
            config.escalation.lot_info_share,
        ),
    ]
    for name, value, other, other_value in pairs:
        if value < other_value:
            raise ConfigError(f"{source}: {name} ({value}) must be ≥ {other} ({other_value})")
