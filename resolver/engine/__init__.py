"""The detection engine: pure rules over a stamp's compact memory, its lot's route and a new scan.

The resolver calls it online and `tem replay` calls it offline; both run the same code. Nothing in
this package does I/O except `config.load_config`, which reads the TOML file of thresholds.
"""

from resolver.engine.config import ConfigError, EngineConfig, default_config, load_config, parse_config
from resolver.engine.engine import Alert, Engine, HouseState, LotState, ScanResult, assess, assess_pin, verdict_for
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
    "Alert",
    "ConfigError",
    "Engine",
    "EngineConfig",
    "Finding",
    "FindingType",
    "HouseState",
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
    "Waypoint",
    "assess",
    "assess_pin",
    "default_config",
    "load_config",
    "parse_config",
    "verdict_for",
]
