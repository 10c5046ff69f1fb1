"""`tem replay EVENTS.jsonl [--config FILE] [--skip-bad] > ALERTS.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tem.cli import main

DATA = Path(__file__).resolve().parent / "data"


def replay(tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["replay", *args], input=stdin, env={"TEM_HOME": str(tmp_path)})


def test_a_small_log_gives_exactly_the_expected_alert_lines(tmp_path: Path) -> None:
    result = replay(tmp_path, str(DATA / "replay_small.jsonl"))
    assert result.exit_code == 0, result.output
    expected = (DATA / "replay_small.expected.jsonl").read_text(encoding="utf-8")
    assert result.stdout == expected
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(list(line)[:6] == ["ts", "type", "gtin", "serial", "severity", "evidence"] for line in lines)
    assert "replayed 16 lines" in result.stderr


def test_lot_and_packing_house_alerts_name_their_lots(tmp_path: Path) -> None:
    """Evidence is line numbers; a person acting on a lot alert needs the lot's code."""
    nanning = {"lat": 22.82, "lon": 108.32, "country": "CN"}
    events: list[dict[str, object]] = [
        {
            "ts": "2026-06-01T08:00:00Z",
            "type": "activate",
            "gtin": "08935000000014",
            "first": "1",
            "last": "400",
            "lot": "TG2606A",
            "origin": {"lat": 10.36, "lon": 106.36, "country": "VN"},
            "markets": [{"name": "Nanning", **nanning}],
            "shelf_life_days": 21,
            "packing_house": "PH-TG-001",
            "gates": [{"name": "Hữu Nghị", "lat": 21.9, "lon": 106.68, "country": "VN"}],
        }
    ]

    def scan(minute: int, serial: int, place: dict[str, object], device: str) -> dict[str, object]:
        return {"ts": f"2026-06-08T{minute // 60:02d}:{minute % 60:02d}:00Z", "type": "scan", "gtin": "08935000000014",
                "serial": str(serial), "sig_valid": True, "accuracy_km": 5, "device": device, **place}  # fmt: skip

    events += [scan(serial, serial, nanning, f"d{serial}") for serial in range(1, 81)]  # sold where declared
    # A fifth of its scanned stamps back in Vietnam a week after the lot crossed the border for export (a far
    # place in China is only a note: online orders go anywhere), in places too scattered to be a turned-back lot.
    home = [(21.03, 105.85), (16.05, 108.20), (10.78, 106.70), (12.24, 109.19)]  # Hà Nội, Đà Nẵng, HCMC, Nha Trang
    for serial in range(81, 101):
        lat, lon = home[serial % 4]
        events.append(scan(serial, serial, {"lat": lat, "lon": lon, "country": "VN"}, f"x{serial}"))
    events.append({"ts": "2026-06-08T02:00:00Z", "type": "issue", "gtin": "08935000000014", "first": "500",
                   "last": "599", "packing_house": "PH-TG-001"})  # fmt: skip
    events += [scan(121 + i, 500 + i, nanning, f"s{i}") for i in range(5)]  # its stolen roll, never activated
    result = replay(tmp_path, "-", stdin="".join(json.dumps(e) + "\n" for e in events))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    lot = [line for line in lines if line["type"] == "lot_escalation"]
    assert lot
    assert {line["lot"] for line in lot} == {"TG2606A"}
    house = [line for line in lines if line["type"] == "packing_house_escalation"]
    assert house
    assert house[0]["packing_house"] == "PH-TG-001"
    assert house[0]["lots"] == ["TG2606A"]


def test_an_alert_is_written_again_when_its_severity_rises(tmp_path: Path) -> None:
    result = replay(tmp_path, str(DATA / "replay_small.jsonl"))
    duplicate = [json.loads(line) for line in result.stdout.splitlines() if '"duplicate"' in line]
    on_1234 = [(d["severity"], d["ts"]) for d in duplicate if d["serial"] == "1234"]
    assert on_1234 == [("info", "2026-06-06T08:00:00Z"), ("warning", "2026-06-12T08:00:00Z")]


def test_stdin_and_a_file_give_the_same_alerts(tmp_path: Path) -> None:
    text = (DATA / "replay_small.jsonl").read_text(encoding="utf-8")
    assert replay(tmp_path, "-", stdin=text).stdout == replay(tmp_path, str(DATA / "replay_small.jsonl")).stdout


BAD_LINES = [
    ("not json at all", "not JSON"),
    ('{"ts": "2026-06-05T08:00:00Z", "type": "teleport"}', "unknown type 'teleport'"),
    ('{"ts": "yesterday", "type": "scan"}', "'ts' is not an ISO 8601 time"),
    ('{"ts": "2026-06-05T08:00:00", "type": "scan"}', "needs a time zone"),
    ('{"ts": "2026-06-05T08:00:00Z", "type": "scan", "gtin": "x", "serial": "1"}', "'gtin' must be"),
    (
        '{"ts": "2026-06-05T08:00:00Z", "type": "scan", "gtin": "08935000000014", "serial": "1", "country": "CN",'
        ' "role": "king"}',
        "'role' must be one of",
    ),
    (
        '{"ts": "2026-06-05T08:00:00Z", "type": "scan", "gtin": "08935000000014", "serial": "1", "country": "CN",'
        ' "lat": 95, "lon": 10}',
        "'lat' must be a number within ±90",
    ),
    ('{"ts": "2026-06-05T08:00:00Z", "type": "revoke", "gtin": "08935000000014", "first": "9", "last": "3"}', "after"),
    ("[1, 2]", "not a JSON object"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_a_bad_line_stops_the_run_with_its_line_number(tmp_path: Path, bad: str, message: str) -> None:
    lines = (DATA / "replay_small.jsonl").read_text(encoding="utf-8").splitlines()
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([*lines[:5], bad, *lines[5:]]) + "\n", encoding="utf-8")
    result = replay(tmp_path, str(events))
    assert result.exit_code == 2
    assert "line 6:" in result.stderr
    assert message in result.stderr
    assert "--skip-bad" in result.stderr
    # Alerts before the bad line were already streamed out; none after it.
    assert all(json.loads(line)["ts"] < "2026-06-06T08:00:00Z" for line in result.stdout.splitlines())


def test_skip_bad_reports_each_bad_line_and_carries_on(tmp_path: Path) -> None:
    lines = (DATA / "replay_small.jsonl").read_text(encoding="utf-8").splitlines()
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([lines[0], "garbage", *lines[1:], '{"type": "scan"}']) + "\n", encoding="utf-8")
    result = replay(tmp_path, str(events), "--skip-bad")
    assert result.exit_code == 0
    assert result.stdout == (DATA / "replay_small.expected.jsonl").read_text(encoding="utf-8")
    assert "line 2: not JSON" in result.stderr
    assert "line 18: 'ts' must be" in result.stderr
    assert "2 skipped" in result.stderr


def test_a_missing_events_file(tmp_path: Path) -> None:
    result = replay(tmp_path, str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_overlapping_activations_are_a_bad_line(tmp_path: Path) -> None:
    first = (DATA / "replay_small.jsonl").read_text(encoding="utf-8").splitlines()[0]
    events = tmp_path / "events.jsonl"
    events.write_text(f"{first}\n{first}\n", encoding="utf-8")
    result = replay(tmp_path, str(events))
    assert result.exit_code == 2
    assert "line 2: range 1000–6999 overlaps" in result.stderr


def test_a_config_file_changes_what_is_found(tmp_path: Path) -> None:
    config = tmp_path / "strict.toml"
    config.write_text("[duplicate]\nwarning_devices = 1.5\n", encoding="utf-8")
    result = replay(tmp_path, str(DATA / "replay_small.jsonl"), "--config", str(config))
    assert result.exit_code == 0
    first = json.loads(result.stdout.splitlines()[0])
    assert (first["type"], first["serial"], first["severity"]) == ("duplicate", "1234", "warning")
