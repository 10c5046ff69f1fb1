"""The thresholds file: documented defaults, partial overrides, and clear errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from detection.engine import ConfigError, default_config, load_config, parse_config
from detection.engine.config import _defaults_text
from tem.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "detection.md"


def test_the_defaults_load_and_every_key_is_documented() -> None:
    config = default_config()
    assert config.duplicate.warning_devices >= config.duplicate.info_devices
    documented = DOC.read_text(encoding="utf-8")
    for section in dataclasses.fields(config):
        for key in dataclasses.fields(getattr(config, section.name)):
            assert f"`{section.name}.{key.name}`" in documented, f"{section.name}.{key.name} is not in {DOC.name}"


def test_a_file_overrides_only_the_keys_it_sets(tmp_path: Path) -> None:
    path = tmp_path / "season.toml"
    path.write_text("[travel]\ncritical_kmh = 1200\n\n[pin]\nmax_wrong = 3\n", encoding="utf-8")
    config = load_config(path)
    assert config.travel.critical_kmh == 1200.0
    assert config.pin.max_wrong == 3
    assert config.travel.warning_kmh == default_config().travel.warning_kmh


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[travel]\ncritical_kmh = 'fast'\n", r"\[travel\] critical_kmh must be a number, not str 'fast'"),
        ("[travel]\ncritical_kmh = -5\n", r"\[travel\] critical_kmh must be > 0"),
        ("[pin]\nmax_wrong = 2.5\n", r"\[pin\] max_wrong must be a whole number"),
        ("[pin]\nmax_tries = 3\n", r"\[pin\] unknown key 'max_tries'"),
        ("[pins]\nmax_wrong = 3\n", r"unknown section \[pins\]"),
        ("[travel]\nwarning_kmh = 2000\n", r"critical_kmh \(1000.0\) must be ≥ warning_kmh \(2000.0\)"),
        ("[escalation]\nlot_warning_share = 1.5\n", r"lot_warning_share must be ≤ 1"),
        ("[duplicate]\nsame_fruit_weight = true\n", r"must be a number, not bool"),
        ("version = 2\n", r"version 2 is not supported"),
        ("[travel\n", r"not valid TOML"),
        ("travel = 3\n", r"section \[travel\] is missing or is not a table"),
    ],
)
def test_bad_files_say_what_is_wrong_and_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)


def test_a_missing_key_in_a_complete_file_is_an_error() -> None:
    text = re.sub(r"^min_hours = .*$", "", _defaults_text(), flags=re.MULTILINE)
    with pytest.raises(ConfigError, match=r"\[travel\] min_hours is missing"):
        parse_config(text, source="full.toml")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_replay_refuses_a_bad_config_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[travel]\ncritical_kmh = 0\n", encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["replay", str(events), "--config", str(config)], env={"TEM_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert "critical_kmh must be > 0" in result.stderr
