"""The detection engine: pure rules over a stamp's compact memory, its lot's route and a new scan.

The resolver calls it online and `tem replay` calls it offline; both run the same code. Nothing in
this package does I/O except `config.load_config`, which reads the TOML file of thresholds.
"""

from resolver.engine.config import ConfigError, EngineConfig, default_config, load_config, parse_config
from resolver.engine.engine import (
    Aggregates,
    Alert,
    Engine,
    HouseState,
    LotPlaces,
    LotState,
    ScanResult,
    StampOutcome,
    assess,
    assess_pin,
    assess_stamp,
    assess_stamp_pin,
    refine_place,
    stamp_alerts,
    verdict_for,
)
from resolver.engine.model import (
    Finding,
    FindingType,
    LotRoute,
    PinEvent,
    Role,
    Scan,
    Scope,
    Severity,
    Sighting,
    StampMemory,
    Waypoint,
)

__all__ = [
    "Aggregates",
    "Alert",
    "ConfigError",
    "Engine",
    "EngineConfig",
    "Finding",
    "FindingType",
    "HouseState",
    "LotPlaces",
    "LotRoute",
    "LotState",
    "PinEvent",
    "Role",
    "Scan",
    "ScanResult",
    "Scope",
    "Severity",
    "Sighting",
    "StampMemory",
    "StampOutcome",
    "Waypoint",
    "assess",
    "assess_pin",
    "assess_stamp",
    "assess_stamp_pin",
    "default_config",
    "load_config",
    "parse_config",
    "refine_place",
    "stamp_alerts",
    "verdict_for",
]
